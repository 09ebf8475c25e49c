package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/activities/memport"
	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/sim"
	"github.com/rma-dev/rma/store"
	"github.com/rma-dev/rma/topology"
	"github.com/rma-dev/rma/workflows"
)

// Config bounds a run.
type Config struct {
	// Binary is the rma binary the processes run.
	Binary string
	// Dir holds the run's data and every process's log.
	Dir     string
	Returns int
	// Concurrency is how many returns are driven at once.
	Concurrency int
	// FaultRate is the share of partner calls that fail, in every way the
	// simulators can (see faults).
	FaultRate float64
	// KillEvery is how often a worker gets SIGKILL (and is restarted); 0
	// kills one worker once, a third of the way through.
	KillEvery time.Duration
	// Tools is the cluster tools directory (topology.CheckTools): the run
	// is then against a real Temporal cluster on PostgreSQL, with the UI.
	// Empty runs the dev server, `rma temporal`.
	Tools string
	// Plans, when set, limits the run to these scenarios (by name; see
	// plans), in turn.
	Plans []string
	// Check, when set, runs after the audit with the system still up, for
	// checks of its own (the UI's lists, say); its error is a problem.
	Check func(ctx context.Context, sys *topology.System, views map[string]domain.Return) error
	// Timeout bounds the whole run; returns not final by then fail it.
	Timeout time.Duration
	Out     io.Writer
}

// Result is what the audit found.
type Result struct {
	Returns, Terminal, Attention, Duplicates, Leaked, Kills, Restarts int
	Seconds                                                           int
	// Problems are the audit's other findings; any fails the run.
	Problems []string
	// Figures for docs/reliability.md.
	ByPlan          map[string]map[domain.Status]int
	Refused         map[string]int
	LedgerEntries   int
	Notices         int
	MaxEvents       int64
	MaxHistoryBytes int64
	MaxHistoryRMA   string
	// Refunds are the refund movements in the payment ledger, and
	// Refunded the returns they belong to: the audit demands one refund per
	// refunded line, never two.
	Refunds, Refunded int
	// Completed counts returns that ended completed.
	Completed int
}

// Line is the run's last line (docs/reliability.md).
func (r Result) Line() string {
	return fmt.Sprintf("chaos: %d returns, %d terminal, %d needs_attention, %d duplicate money movements, %d leaked reservations, %d worker kills, %d server restarts, %d seconds",
		r.Returns, r.Terminal, r.Attention, r.Duplicates, r.Leaked, r.Kills, r.Restarts, r.Seconds)
}

// OK reports a run that kept every promise.
func (r Result) OK() bool {
	return len(r.Problems) == 0 && r.Duplicates == 0 && r.Leaked == 0 && r.Terminal+r.Attention == r.Returns &&
		r.Kills > 0 && r.Restarts > 0
}

// faults is the partner fault mix at rate: a fifth of the failures are
// plain 503s, a fifth hold the request until the caller gives up, and the
// rest take effect and lose their answer (a 500, or held past the
// caller's timeout): the kind only idempotency keys survive. Every
// operation gets it through the per-endpoint configuration; the carrier
// also duplicates and reorders its webhooks.
func faults(rate float64, ops ...string) sim.FaultConfig {
	one := sim.FaultConfig{FailRate: rate * 0.2, TimeoutRate: rate * 0.1, LostReplyRate: rate * 0.5, LateReplyRate: rate * 0.2, HoldMS: 9000}
	c := sim.FaultConfig{Endpoints: map[string]sim.FaultConfig{}}
	for _, op := range ops {
		c.Endpoints[op] = one
	}
	return c
}

// Run runs the chaos test and audits it.
func Run(ctx context.Context, cfg Config) (res Result, err error) {
	began := time.Now()
	out := cfg.Out
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	ps, err := choose(plans(), cfg.Plans)
	if err != nil {
		return res, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return res, fmt.Errorf("run dir: %w", err)
	}
	server := "rma temporal"
	if cfg.Tools != "" {
		server = "a Temporal cluster on PostgreSQL with its UI"
	}
	logf(out, "starting PostgreSQL, %s, rma sim, rma api and 2 rma workers (logs in %s)", server, cfg.Dir)
	sys, err := topology.Start(ctx, topology.Options{Binary: cfg.Binary, Dir: cfg.Dir, Workers: 2, Tools: cfg.Tools,
		Policy: chaosPolicy, Token: token, WebhookSecret: secret})
	if err != nil {
		return res, err
	}
	defer sys.Close()
	d := &driver{sys: sys, hc: &http.Client{Timeout: 40 * time.Second}, run: fmt.Sprintf("chaos-%d", began.UnixNano()), refused: map[string]int{}}
	if err := setUp(ctx, d, cfg.FaultRate); err != nil {
		return res, err
	}
	kill := "a worker killed every " + cfg.KillEvery.String()
	if cfg.KillEvery == 0 {
		kill = "one worker killed a third of the way through"
	}
	logf(out, "system up in %s; %d returns, %d at a time, partner faults at %.0f%%, %s",
		time.Since(began).Round(time.Second), cfg.Returns, cfg.Concurrency, cfg.FaultRate*100, kill)

	// A worker dies every KillEvery; the Temporal server once, midway.
	var startedN, finished, kills, restarts atomic.Int64
	chaosCtx, stopChaos := context.WithCancel(ctx)
	var chaosWG sync.WaitGroup
	chaosWG.Add(2)
	go func() {
		defer chaosWG.Done()
		if cfg.KillEvery == 0 {
			// One SIGKILL, a third of the way through.
			for finished.Load() < int64(cfg.Returns/3) {
				select {
				case <-chaosCtx.Done():
					return
				case <-time.After(200 * time.Millisecond):
				}
			}
			w := sys.Workers[0]
			logf(out, "SIGKILL to %s (pid %d), %d returns driven to their end; it stays down", w.Name, w.PID(), finished.Load())
			w.Kill()
			kills.Add(1)
			return
		}
		t := time.NewTicker(cfg.KillEvery)
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case <-chaosCtx.Done():
				return
			case <-t.C:
			}
			w := sys.Workers[i%len(sys.Workers)]
			w.Kill()
			kills.Add(1)
			if err := w.Start(); err != nil {
				logf(out, "restart %s: %v", w.Name, err)
			}
		}
	}()
	go func() {
		defer chaosWG.Done()
		for finished.Load() < int64(cfg.Returns/2) {
			select {
			case <-chaosCtx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
		logf(out, "killing the Temporal server midway (%d returns driven to their end) and starting it again", finished.Load())
		if err := sys.RestartTemporal(chaosCtx); err != nil {
			logf(out, "restart temporal: %v", err)
			return
		}
		restarts.Add(1)
		logf(out, "Temporal server back")
	}()

	all := make([]created, cfg.Returns)
	sem := make(chan struct{}, cfg.Concurrency)
	var wg sync.WaitGroup
	progress := time.NewTicker(15 * time.Second)
	defer progress.Stop()
	go func() {
		for {
			select {
			case <-chaosCtx.Done():
				return
			case <-progress.C:
				logf(out, "%d of %d returns started, %d driven to their end, %d worker kills", startedN.Load(), cfg.Returns, finished.Load(), kills.Load())
			}
		}
	}()
	for n := 0; n < cfg.Returns; n++ {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		startedN.Add(1)
		wg.Add(1)
		go func(n int) {
			defer wg.Done()
			defer func() { <-sem }()
			all[n] = d.drive(ctx, ps[n%len(ps)], n)
			finished.Add(1)
		}(n)
	}
	wg.Wait()
	stopChaos()
	chaosWG.Wait()
	res.Kills, res.Restarts = int(kills.Load()), int(restarts.Load())
	logf(out, "every return driven (%d); faults off, waiting for the outbox to drain", finished.Load())
	clearFaults(ctx, d)
	st, err := store.Open(ctx, sys.DBURL)
	if err != nil {
		return res, err
	}
	defer st.Close()
	if err := drainOutbox(ctx, st); err != nil {
		res.Problems = append(res.Problems, err.Error())
	}
	views := audit(ctx, sys, st, d, all, &res)
	if cfg.Check != nil {
		if err := cfg.Check(ctx, sys, views); err != nil {
			res.Problems = append(res.Problems, err.Error())
		}
	}
	res.Seconds = int(time.Since(began).Round(time.Second).Seconds())
	return res, nil
}

// choose keeps the named plans, in the order given.
func choose(all []plan, names []string) ([]plan, error) {
	if len(names) == 0 {
		return all, nil
	}
	byName := map[string]plan{}
	for _, p := range all {
		byName[p.name] = p
	}
	out := make([]plan, 0, len(names))
	for _, n := range names {
		p, ok := byName[n]
		if !ok {
			return nil, fmt.Errorf("chaos: no plan %q", n)
		}
		out = append(out, p)
	}
	return out, nil
}

// PlanNames are the scenarios a run drives, in turn.
func PlanNames() []string {
	var out []string
	for _, p := range plans() {
		out = append(out, p.name)
	}
	return out
}

// setUp stocks the catalog for the whole run and turns the faults on.
func setUp(ctx context.Context, d *driver, rate float64) error {
	for _, sku := range []string{"SKU-RED-M", "SKU-RED-L", "SKU-RED-XL", "SKU-BLUE-L", "SKU-LAMP", "SKU-MUG"} {
		if code, out := d.call(ctx, "PUT", d.sys.SimURL(2)+"/v1/stock/"+sku, map[string]any{"available": 1_000_000, "unit_price": map[string]any{"amount": 19900, "currency": "CNY"}}, ""); code != 200 {
			return fmt.Errorf("stock %s: %d %s", sku, code, out)
		}
	}
	carrier := faults(rate, "label", "void", "shipment", "claim")
	carrier.DuplicateRate, carrier.ReorderRate = rate, rate
	for i, c := range []sim.FaultConfig{carrier, faults(rate, "reserve", "release", "commit", "move"),
		faults(rate, activities.PayRefund, activities.PayStoreCredit, activities.PayCharge, activities.PayHold, activities.PayCapture, activities.PayVoidHold, activities.PayCoupon),
		faults(rate, "message")} {
		if code, out := d.call(ctx, "POST", d.sys.SimURL(i+1)+"/v1/_faults", c, ""); code != 200 {
			return fmt.Errorf("set faults: %d %s", code, out)
		}
	}
	return nil
}

func clearFaults(ctx context.Context, d *driver) {
	for i := 1; i <= 4; i++ {
		d.call(ctx, "POST", d.sys.SimURL(i)+"/v1/_faults", sim.FaultConfig{}, "")
	}
}

// drainOutbox waits until the relay has delivered every notice.
func drainOutbox(ctx context.Context, st *store.Store) error {
	var left int
	for i := 0; i < 240; i++ {
		if err := st.DB().QueryRowContext(ctx, `SELECT count(*) FROM outbox WHERE delivered_at IS NULL AND failed_at IS NULL AND NOT held`).Scan(&left); err != nil {
			return fmt.Errorf("count undelivered notices: %w", err)
		}
		if left == 0 {
			return nil
		}
		sleep(ctx, 500*time.Millisecond)
	}
	return fmt.Errorf("%d notices still undelivered after two minutes", left)
}

// getJSON reads a simulator's JSON answer.
func (d *driver) getJSON(ctx context.Context, url string, v any) error {
	code, body := d.call(ctx, "GET", url, nil, "")
	if code != http.StatusOK {
		return fmt.Errorf("get %s: %d %s", url, code, strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decode %s: %w", url, err)
	}
	return nil
}

// audit checks every promise from the simulators' ledgers, the read model
// and the workflows themselves.
func audit(ctx context.Context, sys *topology.System, st *store.Store, d *driver, all []created, res *Result) map[string]domain.Return {
	p := func(format string, args ...any) {
		if len(res.Problems) < 100 {
			res.Problems = append(res.Problems, fmt.Sprintf(format, args...))
		}
	}
	d.mu.Lock()
	for _, e := range d.errs {
		p("driver: %s", e)
	}
	res.Refused = d.refused
	d.mu.Unlock()
	// Every return ends final, or in needs_attention with a support task;
	// the read model equals the workflow's own final state.
	views := map[string]domain.Return{}
	res.ByPlan = map[string]map[domain.Status]int{}
	for _, c := range all {
		res.Returns++
		if c.id == "" {
			p("%s: never created", c.plan)
			continue
		}
		r, err := waitFinal(ctx, st, c)
		if err != nil {
			p("%s (%s): %v", c.id, c.plan, err)
			continue
		}
		views[c.id] = r
		if res.ByPlan[c.plan] == nil {
			res.ByPlan[c.plan] = map[domain.Status]int{}
		}
		res.ByPlan[c.plan][r.Status]++
		if r.Status == domain.StatusCompleted {
			res.Completed++
		}
		switch {
		case r.Status.Final():
			res.Terminal++
		case r.Status == domain.StatusNeedsAttention:
			res.Attention++
			var open int
			if err := st.DB().QueryRowContext(ctx, `SELECT count(*) FROM tasks WHERE rma_id = $1 AND closed_at IS NULL`, c.id).Scan(&open); err != nil || open == 0 {
				p("%s needs attention without an open support task (%v)", c.id, err)
			}
		default:
			p("%s (%s) is %s, neither final nor needs_attention", c.id, c.plan, r.Status)
		}
		compareWorkflow(ctx, sys, r, res, p)
	}

	var ledger []activities.PaymentRequest
	if err := d.getJSON(ctx, sys.SimURL(3)+"/v1/ledger", &ledger); err != nil {
		p("ledger: %v", err)
	}
	res.LedgerEntries = len(ledger)
	var dups int
	var found []string
	dups, found = checkMoney(ledger, views)
	res.Duplicates += dups
	// One refund per refunded line: a second one under another key is
	// money given away.
	refunds := map[string]int{}
	refunded := map[string]bool{}
	for _, e := range ledger {
		if e.Kind == activities.PayRefund {
			res.Refunds++
			refunded[e.RMAID] = true
			if refunds[e.RMAID+"/"+e.LineID]++; refunds[e.RMAID+"/"+e.LineID] == 2 {
				p("%s line %s refunded more than once", e.RMAID, e.LineID)
			}
		}
	}
	res.Refunded = len(refunded)
	// And every refund a return records reached the ledger.
	inLedger := map[string]bool{}
	for _, e := range ledger {
		inLedger[e.Key] = true
	}
	for id, r := range views {
		for _, pay := range r.Payments {
			if pay.Kind == activities.PayRefund && !inLedger[pay.Key] {
				p("%s records refund %s that the ledger lacks", id, pay.Key)
			}
		}
	}
	var parcels memport.CarrierSnapshot
	if err := d.getJSON(ctx, sys.SimURL(1)+"/v1/parcels", &parcels); err != nil {
		p("parcels: %v", err)
	}
	found = append(found, checkGoods(parcels.Shipped, ledger, views)...)
	var open map[string]int
	if err := d.getJSON(ctx, sys.SimURL(2)+"/v1/reservations", &open); err != nil {
		p("reservations: %v", err)
	}
	var leaked int
	leaked, found = checkReservations(open, views, found)
	res.Leaked += leaked
	for _, f := range found {
		p("%s", f)
	}

	// Notices: every notice in the outbox delivered, exactly once.
	var sent []sim.Message
	if err := d.getJSON(ctx, sys.SimURL(4)+"/v1/outbox", &sent); err != nil {
		p("notifications: %v", err)
	}
	got := map[string]int{}
	unfilled := regexp.MustCompile(`\{[a-z_]+\}`)
	for _, n := range sent {
		got[n.Key]++
		// Customers read rma's templates, every placeholder filled.
		if n.To == activities.ToCustomer && (strings.HasPrefix(n.Text, "NO TEMPLATE") || unfilled.MatchString(n.Text)) {
			p("notice %s (%s, %s) reads %q", n.Key, n.Template, n.Locale, n.Text)
		}
	}
	rows, err := st.DB().QueryContext(ctx, `SELECT key, delivered_at IS NOT NULL, held FROM outbox`)
	if err != nil {
		p("outbox: %v", err)
		return views
	}
	defer rows.Close()
	inOutbox := map[string]bool{}
	for rows.Next() {
		var key string
		var delivered, held bool
		if err := rows.Scan(&key, &delivered, &held); err != nil {
			p("outbox row: %v", err)
			return views
		}
		inOutbox[key] = true
		res.Notices++
		switch {
		case held:
		case !delivered:
			p("notice %s never delivered", key)
		case got[key] != 1:
			p("notice %s delivered %d times", key, got[key])
		}
	}
	for k := range got {
		if !inOutbox[k] {
			p("notice %s reached the customer without being in the outbox", k)
		}
	}
	sort.Strings(res.Problems)
	return views
}

// checkMoney: each money movement happened once per idempotency key, and
// every movement in the ledger is one its return records (money moved
// that the return does not know of was paid twice under another key, or
// paid and forgotten). Both count as duplicates.
func checkMoney(ledger []activities.PaymentRequest, views map[string]domain.Return) (dups int, problems []string) {
	byKey := map[string]int{}
	for _, e := range ledger {
		byKey[e.Key]++
		if byKey[e.Key] > 1 {
			dups++
			problems = append(problems, fmt.Sprintf("%s: %s %s paid again under key %s", e.RMAID, e.Kind, e.Amount, e.Key))
			continue
		}
		r, ok := views[e.RMAID]
		if !ok {
			problems = append(problems, fmt.Sprintf("ledger entry %s for a return the run does not know", e.Key))
			continue
		}
		if !hasPayment(r, e.Key, e.Amount) {
			dups++
			problems = append(problems, fmt.Sprintf("%s: %s %s in the ledger (key %s) is not in the return's payments", r.ID, e.Kind, e.Amount, e.Key))
		}
	}
	ids := make([]string, 0, len(views))
	for id := range views {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		for _, pay := range views[id].Payments {
			if byKey[pay.Key] == 0 {
				problems = append(problems, fmt.Sprintf("%s records %s %s (key %s) the ledger does not have", id, pay.Kind, pay.Amount, pay.Key))
			}
		}
	}
	return dups, problems
}

// checkGoods: a replacement that shipped is paid for by the returned item
// that passed inspection, or by capturing its hold (or charging it).
func checkGoods(shipped []activities.ShipRequest, ledger []activities.PaymentRequest, views map[string]domain.Return) (problems []string) {
	paid := map[string]bool{}
	for _, e := range ledger {
		if e.Kind == activities.PayCapture || e.Kind == activities.PayCharge {
			paid[e.RMAID+"/"+e.LineID] = true
		}
	}
	for _, s := range shipped {
		if s.Purpose != activities.ShipReplacement {
			continue
		}
		r, ok := views[s.RMAID]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("replacement shipped for unknown return %s", s.RMAID))
			continue
		case r.Status == domain.StatusNeedsAttention, paid[s.RMAID+"/"+s.LineID]:
			continue
		}
		if l := lineOf(r, s.LineID); l == nil || l.Inspection == nil || l.Inspection.Result != domain.InspectionPass {
			problems = append(problems, fmt.Sprintf("%s (%s): replacement for %s shipped, the item never came back and no hold was captured", r.ID, r.Status, s.LineID))
		}
	}
	return problems
}

// checkReservations: nothing stays reserved for a return that has ended.
func checkReservations(open map[string]int, views map[string]domain.Return, problems []string) (int, []string) {
	leaked := 0
	keys := make([]string, 0, len(open))
	for k := range open {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		rma, _, _ := strings.Cut(k, "/")
		if r, ok := views[rma]; ok && r.Status.Final() && open[k] > 0 {
			leaked++
			problems = append(problems, fmt.Sprintf("%s (%s) still holds %d reserved for %s", rma, r.Status, open[k], k))
		}
	}
	return leaked, problems
}

func hasPayment(r domain.Return, key string, amount domain.Money) bool {
	for _, pay := range r.Payments {
		if pay.Key == key && pay.Amount == amount {
			return true
		}
	}
	return false
}

func lineOf(r domain.Return, id string) *domain.LineState {
	for i := range r.Lines {
		if r.Lines[i].LineID == id {
			return &r.Lines[i]
		}
	}
	return nil
}

// waitFinal reads a return until it is final or in needs_attention (a
// return whose last command was refused may still be finishing).
func waitFinal(ctx context.Context, st *store.Store, c created) (domain.Return, error) {
	var r domain.Return
	var err error
	for i := 0; i < 120; i++ {
		r, err = st.Get(ctx, c.id)
		if err == nil && (r.Status.Final() || r.Status == domain.StatusNeedsAttention) {
			return r, nil
		}
		sleep(ctx, 500*time.Millisecond)
	}
	return r, err
}

// compareWorkflow checks the read model against the workflow: a closed
// workflow's result, or a running one's status query; and records the
// history's size.
func compareWorkflow(ctx context.Context, sys *topology.System, r domain.Return, res *Result, p func(string, ...any)) {
	desc, err := sys.Client.DescribeWorkflowExecution(ctx, workflows.WorkflowID(r.ID), "")
	if err != nil {
		p("%s: describe workflow: %v", r.ID, err)
		return
	}
	info := desc.WorkflowExecutionInfo
	if info.HistoryLength > res.MaxEvents {
		res.MaxEvents = info.HistoryLength
	}
	if info.HistorySizeBytes > res.MaxHistoryBytes {
		res.MaxHistoryBytes, res.MaxHistoryRMA = info.HistorySizeBytes, r.ID
	}
	var status domain.Status
	var seq int64
	var refund domain.Money
	if info.CloseTime == nil {
		v, err := sys.Client.QueryWorkflow(ctx, workflows.WorkflowID(r.ID), "", workflows.QueryStatus)
		var q domain.Return
		if err == nil {
			err = v.Get(&q)
		}
		if err != nil {
			p("%s: query: %v", r.ID, err)
			return
		}
		status, seq, refund = q.Status, q.Seq, q.RefundTotal
	} else {
		var o workflows.Outcome
		if err := sys.Client.GetWorkflow(ctx, workflows.WorkflowID(r.ID), "").Get(ctx, &o); err != nil {
			p("%s: workflow result: %v", r.ID, err)
			return
		}
		status, seq, refund = o.Status, o.Seq, o.RefundTotal
	}
	// After the workflow has ended, the read model is the only writer: a
	// late carrier scan (a replacement delivered after the exchange
	// completed) is noted there, one seq each.
	late := int64(0)
	if info.CloseTime != nil {
		closed := info.CloseTime.AsTime()
		for _, e := range r.Timeline {
			if e.Actor == "carrier" && e.At.After(closed) {
				late++
			}
		}
	}
	if status != r.Status || seq+late != r.Seq || refund != r.RefundTotal {
		p("%s: read model %s seq %d refund %s, workflow %s seq %d (+%d late scans) refund %s", r.ID, r.Status, r.Seq, r.RefundTotal, status, seq, late, refund)
	}
}

// Report prints the run's figures and problems (everything but the last
// line).
func Report(w io.Writer, r Result) {
	plans := make([]string, 0, len(r.ByPlan))
	for k := range r.ByPlan {
		plans = append(plans, k)
	}
	sort.Strings(plans)
	fmt.Fprintln(w, "outcomes by path:")
	for _, k := range plans {
		var parts []string
		for s, n := range r.ByPlan[k] {
			parts = append(parts, fmt.Sprintf("%s %d", s, n))
		}
		sort.Strings(parts)
		fmt.Fprintf(w, "  %-24s %s\n", k, strings.Join(parts, ", "))
	}
	races := make([]string, 0, len(r.Refused))
	for k, n := range r.Refused {
		races = append(races, fmt.Sprintf("%s: %d", k, n))
	}
	sort.Strings(races)
	fmt.Fprintf(w, "commands refused by races: %s\n", strings.Join(races, ", "))
	fmt.Fprintf(w, "ledger: %d money movements; outbox: %d notices; largest history: %d events, %d bytes (%s)\n",
		r.LedgerEntries, r.Notices, r.MaxEvents, r.MaxHistoryBytes, r.MaxHistoryRMA)
	for _, p := range r.Problems {
		fmt.Fprintln(w, "PROBLEM:", p)
	}
}
