// Package memport holds in-memory implementations of the activity ports:
// the engine behind the HTTP simulators (package sim) and the fakes of the
// workflow tests. Tests run real activities against them, so idempotency and
// the ledger are exercised for real; Faults makes any operation fail on
// demand.
package memport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/domain"
)

// ErrInjected is the transient failure Faults injects.
var errInjected = errors.New("injected fault: partner unavailable")

// Faults fails named operations ("payments.refund", "carrier.label", ...).
type Faults struct {
	mu     sync.Mutex
	always map[string]bool
	next   map[string]int
	lost   map[string]int
	calls  map[string]int
}

// LoseReplies makes op's next n calls take effect and then fail, as when a
// partner times out after doing the work.
func (f *Faults) LoseReplies(op string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.lost == nil {
		f.lost = map[string]int{}
	}
	f.lost[op] = n
}

// lose reports whether op's answer, after it took effect, is lost.
func (f *Faults) lose(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.lost[op] > 0 {
		f.lost[op]--
		return fmt.Errorf("%s: took effect, answer lost: %w", op, errInjected)
	}
	return nil
}

// Always makes op fail until Clear.
func (f *Faults) Always(op string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.always == nil {
		f.always = map[string]bool{}
	}
	f.always[op] = true
}

// Next makes op fail its next n calls.
func (f *Faults) Next(op string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.next == nil {
		f.next = map[string]int{}
	}
	f.next[op] = n
}

// Clear removes every fault.
func (f *Faults) Clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.always, f.next, f.lost = nil, nil, nil
}

// Calls counts attempts of op, failed ones included.
func (f *Faults) Calls(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

func (f *Faults) check(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[op]++
	if f.always[op] {
		return fmt.Errorf("%s: %w", op, errInjected)
	}
	if f.next[op] > 0 {
		f.next[op]--
		return fmt.Errorf("%s: %w", op, errInjected)
	}
	return nil
}

// idem remembers request bodies by key: the same key with the same body
// returns the first result, with a different body it is refused, as at
// Stripe. Only successes are remembered: a refused request (an unknown SKU)
// may succeed when retried after support fixed its cause.
type idem struct {
	bodies  map[string][]byte
	results map[string]any
}

func (i *idem) lookup(key string, req any) (any, bool, error) {
	b, _ := json.Marshal(req)
	if prev, ok := i.bodies[key]; ok {
		if string(prev) != string(b) {
			return nil, false, activities.Rejected("idempotency_conflict", "key %s reused with a different request", key)
		}
		return i.results[key], true, nil
	}
	return nil, false, nil
}

func (i *idem) store(key string, req, v any) {
	if i.bodies == nil {
		i.bodies, i.results = map[string][]byte{}, map[string]any{}
	}
	b, _ := json.Marshal(req)
	i.bodies[key], i.results[key] = b, v
}

// Carrier is an in-memory carrier.
type Carrier struct {
	Faults
	mu       sync.Mutex
	idem     idem
	n        int
	Labels   []activities.LabelRequest
	Voided   []string
	Shipped  []activities.ShipRequest
	Claims   []activities.ClaimRequest
	Rejected map[string]bool // purposes refused non-retryably
	// Prefix makes tracking numbers unique across simulator restarts.
	Prefix string
}

// CreateLabel implements activities.Carrier.
func (c *Carrier) CreateLabel(_ context.Context, req activities.LabelRequest) (activities.Label, error) {
	if err := c.check("carrier.label"); err != nil {
		return activities.Label{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok, err := c.idem.lookup(req.Key, req); err != nil || ok {
		l, _ := v.(activities.Label)
		return l, err
	}
	c.n++
	tn := fmt.Sprintf("%sRT%06d", c.Prefix, c.n)
	l := activities.Label{TrackingNumber: tn, LabelURL: "https://labels.example/" + tn + ".pdf", ReturnAddress: "Returns Center, 1 Warehouse Rd"}
	c.Labels = append(c.Labels, req)
	c.idem.store(req.Key, req, l)
	return l, nil
}

// VoidLabel implements activities.Carrier.
func (c *Carrier) VoidLabel(_ context.Context, req activities.VoidLabelRequest) error {
	if err := c.check("carrier.void"); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok, err := c.idem.lookup(req.Key, req); err != nil || ok {
		return err
	}
	c.Voided = append(c.Voided, req.TrackingNumber)
	c.idem.store(req.Key, req, nil)
	return nil
}

// Ship implements activities.Carrier.
func (c *Carrier) Ship(_ context.Context, req activities.ShipRequest) (activities.Shipment, error) {
	if err := c.check("carrier.ship"); err != nil {
		return activities.Shipment{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.Rejected[req.Purpose] {
		return activities.Shipment{}, activities.Rejected("address_rejected", "carrier refuses the address")
	}
	if v, ok, err := c.idem.lookup(req.Key, req); err != nil || ok {
		s, _ := v.(activities.Shipment)
		return s, err
	}
	c.n++
	s := activities.Shipment{TrackingNumber: fmt.Sprintf("%sOB%06d", c.Prefix, c.n)}
	c.Shipped = append(c.Shipped, req)
	c.idem.store(req.Key, req, s)
	return s, nil
}

// OpenClaim implements activities.Carrier.
func (c *Carrier) OpenClaim(_ context.Context, req activities.ClaimRequest) (activities.Claim, error) {
	if err := c.check("carrier.claim"); err != nil {
		return activities.Claim{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok, err := c.idem.lookup(req.Key, req); err != nil || ok {
		cl, _ := v.(activities.Claim)
		return cl, err
	}
	c.n++
	cl := activities.Claim{ClaimID: fmt.Sprintf("%sCLM%06d", c.Prefix, c.n)}
	c.Claims = append(c.Claims, req)
	c.idem.store(req.Key, req, cl)
	return cl, nil
}

// Inventory is in-memory stock with reservations.
type Inventory struct {
	Faults
	mu       sync.Mutex
	idem     idem
	Stock    map[string]int
	Prices   map[string]domain.Money
	ETA      map[string]time.Time
	Reserved map[string]int // by reservation key RMA/line
	// backordered are the units of Reserved booked with no stock behind
	// them: releasing them gives nothing back to the shelf.
	backordered map[string]int
	Released    []string
	Commits     []string
	Moves       []activities.MoveRequest
}

// NewInventory stocks the given SKUs at the given price.
func NewInventory() *Inventory {
	return &Inventory{Stock: map[string]int{}, Prices: map[string]domain.Money{}, ETA: map[string]time.Time{}, Reserved: map[string]int{}, backordered: map[string]int{}}
}

// Reserve implements activities.Inventory.
func (inv *Inventory) Reserve(_ context.Context, req activities.ReserveRequest) (activities.Reservation, error) {
	if err := inv.check("inventory.reserve"); err != nil {
		return activities.Reservation{}, err
	}
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if v, ok, err := inv.idem.lookup(req.Key, req); err != nil || ok {
		r, _ := v.(activities.Reservation)
		return r, err
	}
	price, known := inv.Prices[req.SKU]
	if !known {
		return activities.Reservation{}, activities.Rejected("unknown_sku", "no such SKU %s", req.SKU)
	}
	r := activities.Reservation{UnitPrice: price}
	switch {
	case inv.Stock[req.SKU] >= req.Quantity:
		inv.Stock[req.SKU] -= req.Quantity
		inv.Reserved[req.RMAID+"/"+req.LineID] += req.Quantity
		r.Reserved = true
	case req.Backorder:
		r.Reserved, r.Backordered = true, true
		inv.Reserved[req.RMAID+"/"+req.LineID] += req.Quantity
		inv.backordered[req.RMAID+"/"+req.LineID] += req.Quantity
	default:
		if eta, ok := inv.ETA[req.SKU]; ok {
			r.RestockETA = &eta
		}
		for sku, n := range inv.Stock {
			if n >= req.Quantity && sku != req.SKU {
				r.Alternatives = append(r.Alternatives, sku)
			}
		}
		sort.Strings(r.Alternatives)
	}
	inv.idem.store(req.Key, req, r)
	return r, nil
}

// Release implements activities.Inventory: the reserved units go back to
// stock.
func (inv *Inventory) Release(_ context.Context, req activities.StockRequest) error {
	return inv.settle("inventory.release", req, func(k string) {
		inv.Stock[req.SKU] += inv.Reserved[k] - inv.backordered[k]
		inv.Released = append(inv.Released, k)
	})
}

// Commit implements activities.Inventory: the reserved units ship.
func (inv *Inventory) Commit(_ context.Context, req activities.StockRequest) error {
	return inv.settle("inventory.commit", req, func(k string) { inv.Commits = append(inv.Commits, k) })
}

// settle ends a reservation once per idempotency key.
func (inv *Inventory) settle(op string, req activities.StockRequest, apply func(key string)) error {
	if err := inv.check(op); err != nil {
		return err
	}
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if _, ok, err := inv.idem.lookup(req.Key, req); err != nil || ok {
		return err
	}
	k := req.RMAID + "/" + req.LineID
	apply(k)
	delete(inv.Reserved, k)
	delete(inv.backordered, k)
	inv.idem.store(req.Key, req, nil)
	return nil
}

// OpenReservations copies what is still reserved, by RMA/line.
func (inv *Inventory) OpenReservations() map[string]int {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	out := make(map[string]int, len(inv.Reserved))
	for k, n := range inv.Reserved {
		out[k] = n
	}
	return out
}

// Move implements activities.Inventory.
func (inv *Inventory) Move(_ context.Context, req activities.MoveRequest) error {
	if err := inv.check("inventory.move"); err != nil {
		return err
	}
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if _, ok, err := inv.idem.lookup(req.Key, req); err != nil || ok {
		return err
	}
	if req.To == activities.MovementRestock {
		inv.Stock[req.SKU] += req.Quantity
	}
	inv.Moves = append(inv.Moves, req)
	inv.idem.store(req.Key, req, nil)
	return nil
}

// Payments is an in-memory payment ledger. Like Stripe, it remembers
// idempotency keys for a while only (ForgetKeys ends that while); the
// ledger itself, and Find by key, last.
type Payments struct {
	Faults
	mu      sync.Mutex
	idem    idem
	Ledger  []activities.PaymentRequest
	results []activities.PaymentResult
	Decline map[string]bool // kinds refused non-retryably
}

// ForgetKeys drops every remembered idempotency key, as a provider does once
// its retention (24 h at Stripe) has passed: a request sent again with an old
// key now pays again.
func (p *Payments) ForgetKeys() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.idem = idem{}
}

// Find implements activities.Payments: the ledger entry made under key.
func (p *Payments) Find(_ context.Context, req activities.PaymentRequest) (activities.PaymentResult, bool, error) {
	key := req.Key
	if err := p.check("payments.find"); err != nil {
		return activities.PaymentResult{}, false, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.Ledger) - 1; i >= 0; i-- {
		if p.Ledger[i].Key == key {
			return p.results[i], true, nil
		}
	}
	return activities.PaymentResult{}, false, nil
}

// Execute implements activities.Payments.
func (p *Payments) Execute(_ context.Context, req activities.PaymentRequest) (activities.PaymentResult, error) {
	if err := p.check("payments." + req.Kind); err != nil {
		return activities.PaymentResult{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.Decline[req.Kind] {
		return activities.PaymentResult{}, activities.Rejected("card_declined", "the card was declined")
	}
	if v, ok, err := p.idem.lookup(req.Key, req); err != nil || ok {
		r, _ := v.(activities.PaymentResult)
		if err == nil {
			err = p.lose("payments." + req.Kind)
		}
		return r, err
	}
	res := activities.PaymentResult{ID: fmt.Sprintf("PAY%04d", len(p.Ledger)+1), Status: "succeeded", Amount: req.Amount}
	p.Ledger = append(p.Ledger, req)
	p.results = append(p.results, res)
	p.idem.store(req.Key, req, res)
	if err := p.lose("payments." + req.Kind); err != nil {
		return activities.PaymentResult{}, err
	}
	return res, nil
}

// Entries returns ledger entries of a kind, in order.
func (p *Payments) Entries(kind string) []activities.PaymentRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []activities.PaymentRequest
	for _, e := range p.Ledger {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// Notifier is an in-memory outbox.
type Notifier struct {
	Faults
	mu     sync.Mutex
	seen   map[string]bool
	Outbox []activities.Notification
}

// Notify implements activities.Notifier; the key dedupes retries.
func (n *Notifier) Notify(_ context.Context, m activities.Notification) error {
	if err := n.check("notify." + m.Template); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.seen == nil {
		n.seen = map[string]bool{}
	}
	if n.seen[m.Key] {
		return nil
	}
	n.seen[m.Key] = true
	n.Outbox = append(n.Outbox, m)
	return nil
}

// Templates lists sent templates to an audience, in order.
func (n *Notifier) Templates(to string) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, m := range n.Outbox {
		if m.To == to {
			out = append(out, m.Template)
		}
	}
	return out
}

// Store is an in-memory store: the newest publication per return, the
// audit trail, the outbox and the parcel routes with their events.
type Store struct {
	Faults
	mu           sync.Mutex
	Returns      map[string]activities.Publication
	Audit        map[string][]domain.TimelineEntry
	Outbox       []activities.Notification
	Routes       map[string]activities.Parcel
	Events       map[string][]activities.TrackingEvent // by tracking number
	Stats        []domain.BatchStats
	Publications int
}

// Publish implements activities.Store: an older Seq never overwrites a
// newer one, and a publication is applied at most once.
func (s *Store) Publish(_ context.Context, p activities.Publication) error {
	if err := s.check("store.publish"); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Returns == nil {
		s.Returns, s.Audit = map[string]activities.Publication{}, map[string][]domain.TimelineEntry{}
	}
	s.Publications++
	id := p.Return.ID
	if cur, ok := s.Returns[id]; ok && (cur.Seq > p.Seq || cur.Seq == p.Seq && cur.Epoch > p.Epoch) {
		return nil
	}
	s.Returns[id] = p
	if n := len(s.Audit[id]); p.AuditFrom > n {
		return fmt.Errorf("audit gap for %s: have %d entries, publication starts at %d", id, n, p.AuditFrom)
	} else {
		s.Audit[id] = append(s.Audit[id][:p.AuditFrom], p.Audit...)
	}
	s.Outbox = append(s.Outbox, p.Notices...)
	return nil
}

// Enqueue implements activities.Store.
func (s *Store) Enqueue(_ context.Context, ns []activities.Notification) error {
	if err := s.check("store.enqueue"); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range ns {
		if !s.hasNotice(n.Key) {
			s.Outbox = append(s.Outbox, n)
		}
	}
	return nil
}

func (s *Store) hasNotice(key string) bool {
	for _, n := range s.Outbox {
		if n.Key == key {
			return true
		}
	}
	return false
}

// RouteParcel implements activities.Store.
func (s *Store) RouteParcel(_ context.Context, p activities.Parcel) ([]activities.TrackingEvent, error) {
	if err := s.check("store.route"); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Routes == nil {
		s.Routes = map[string]activities.Parcel{}
	}
	s.Routes[p.TrackingNumber] = p
	return append([]activities.TrackingEvent(nil), s.Events[p.TrackingNumber]...), nil
}

// Record stores a carrier event as the webhook does, and reports the return
// it is routed to ("" while its parcel has no route).
func (s *Store) Record(ev activities.TrackingEvent) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Events == nil {
		s.Events = map[string][]activities.TrackingEvent{}
	}
	s.Events[ev.TrackingNumber] = append(s.Events[ev.TrackingNumber], ev)
	return s.Routes[ev.TrackingNumber].RMAID
}

// TrackingRecord implements activities.Store.
func (s *Store) TrackingRecord(_ context.Context, tracking string) ([]activities.TrackingEvent, error) {
	if err := s.check("store.tracking"); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]activities.TrackingEvent(nil), s.Events[tracking]...), nil
}

// BatchStats implements activities.Store from Stats.
func (s *Store) BatchStats(context.Context) ([]domain.BatchStats, error) {
	if err := s.check("store.batch_stats"); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]domain.BatchStats(nil), s.Stats...), nil
}

// View is the newest published view of a return.
func (s *Store) View(id string) domain.Return {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Returns[id].Return
}

// Notices lists the outbox, in order.
func (s *Store) Notices() []activities.Notification {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]activities.Notification(nil), s.Outbox...)
}

// Templates lists the outbox's templates to an audience, in order.
func (s *Store) Templates(to string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, m := range s.Outbox {
		if m.To == to {
			out = append(out, m.Template)
		}
	}
	return out
}

// CarrierSnapshot is a consistent copy of the carrier's records.
type CarrierSnapshot struct {
	Labels  []activities.LabelRequest `json:"labels"`
	Voided  []string                  `json:"voided"`
	Shipped []activities.ShipRequest  `json:"shipped"`
	Claims  []activities.ClaimRequest `json:"claims"`
}

// Snapshot copies the carrier's records under its lock.
func (c *Carrier) Snapshot() CarrierSnapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	return CarrierSnapshot{Labels: append([]activities.LabelRequest{}, c.Labels...), Voided: append([]string{}, c.Voided...),
		Shipped: append([]activities.ShipRequest{}, c.Shipped...), Claims: append([]activities.ClaimRequest{}, c.Claims...)}
}

// StockLevel is one SKU's stock.
type StockLevel struct {
	SKU       string       `json:"sku"`
	Available int          `json:"available"`
	UnitPrice domain.Money `json:"unit_price"`
}

// Levels lists stock by SKU.
func (inv *Inventory) Levels() []StockLevel {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	out := make([]StockLevel, 0, len(inv.Prices))
	for sku, p := range inv.Prices {
		out = append(out, StockLevel{SKU: sku, Available: inv.Stock[sku], UnitPrice: p})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].SKU < out[j].SKU })
	return out
}

// SetStock sets a SKU's stock and price.
func (inv *Inventory) SetStock(sku string, qty int, price domain.Money) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	inv.Stock[sku], inv.Prices[sku] = qty, price
}

// All copies the whole ledger.
func (p *Payments) All() []activities.PaymentRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]activities.PaymentRequest{}, p.Ledger...)
}

// All copies the outbox.
func (n *Notifier) All() []activities.Notification {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]activities.Notification{}, n.Outbox...)
}
