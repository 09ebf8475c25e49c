package sim

import (
	"encoding/json"
	"net/http"
	"path"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/activities/memport"
	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/notices"
)

// Inventory simulates the inventory service.
type Inventory struct {
	Faults
	Engine *memport.Inventory
}

// NewInventory stocks the demo catalog: 20 of each SKU.
func NewInventory() *Inventory {
	inv := memport.NewInventory()
	for sku, price := range map[string]int64{
		"SKU-RED-S": 19900, "SKU-RED-M": 19900, "SKU-RED-L": 19900, "SKU-RED-XL": 21900,
		"SKU-BLUE-M": 17900, "SKU-BLUE-L": 17900, "SKU-LAMP": 9900, "SKU-MUG": 2500, "SKU-PHONE": 299900,
	} {
		inv.SetStock(sku, 20, domain.Money{Amount: price, Currency: domain.DefaultCurrency})
	}
	// Sold out, so exchanges to it show the out-of-stock choice.
	inv.SetStock("SKU-RED-XXL", 0, domain.Money{Amount: 21900, Currency: domain.DefaultCurrency})
	inv.ETA["SKU-RED-XXL"] = time.Now().Add(10 * 24 * time.Hour).UTC().Truncate(time.Hour)
	return &Inventory{Engine: inv}
}

// Handler serves the inventory contract.
func (s *Inventory) Handler(log *zap.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/reservations", func(w http.ResponseWriter, r *http.Request) {
		var req activities.ReserveRequest
		if decode(w, r, &req) {
			res, err := s.Engine.Reserve(r.Context(), req)
			reply(w, http.StatusOK, res, err)
		}
	})
	mux.HandleFunc("POST /v1/reservations/{op}", func(w http.ResponseWriter, r *http.Request) {
		var req activities.StockRequest
		if !decode(w, r, &req) {
			return
		}
		var err error
		switch r.PathValue("op") {
		case "release":
			err = s.Engine.Release(r.Context(), req)
		case "commit":
			err = s.Engine.Commit(r.Context(), req)
		default:
			writeErr(w, http.StatusNotFound, "not_found", "unknown operation")
			return
		}
		reply(w, http.StatusOK, map[string]bool{"ok": true}, err)
	})
	mux.HandleFunc("POST /v1/movements", func(w http.ResponseWriter, r *http.Request) {
		var req activities.MoveRequest
		if decode(w, r, &req) {
			reply(w, http.StatusOK, map[string]bool{"ok": true}, s.Engine.Move(r.Context(), req))
		}
	})
	// What is still reserved, by RMA/line: a return that has ended holds
	// nothing (the chaos audit checks it).
	mux.HandleFunc("GET /v1/reservations", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Engine.OpenReservations())
	})
	mux.HandleFunc("GET /v1/stock", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.Engine.Levels()) })
	mux.HandleFunc("GET /v1/stock/{sku}", func(w http.ResponseWriter, r *http.Request) {
		for _, l := range s.Engine.Levels() {
			if l.SKU == r.PathValue("sku") {
				writeJSON(w, http.StatusOK, l)
				return
			}
		}
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown sku"})
	})
	mux.HandleFunc("PUT /v1/stock/{sku}", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Available int          `json:"available"`
			UnitPrice domain.Money `json:"unit_price"`
		}
		if !decode(w, r, &body) {
			return
		}
		if body.UnitPrice.Currency == "" {
			body.UnitPrice.Currency = domain.DefaultCurrency
		}
		s.Engine.SetStock(r.PathValue("sku"), body.Available, body.UnitPrice)
		writeJSON(w, http.StatusOK, body)
	})
	return s.wrap("inventory", log, reservationOp, mux)
}

// Payments simulates the payment service; its ledger is readable at
// GET /v1/ledger.
type Payments struct {
	Faults
	Engine *memport.Payments
}

// NewPayments makes an empty ledger.
func NewPayments() *Payments { return &Payments{Engine: &memport.Payments{}} }

// Handler serves the payments contract.
func (s *Payments) Handler(log *zap.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/payments", func(w http.ResponseWriter, r *http.Request) {
		var req activities.PaymentRequest
		if !decode(w, r, &req) {
			return
		}
		if k := r.Header.Get("Idempotency-Key"); k != "" && k != req.Key {
			writeErr(w, http.StatusUnprocessableEntity, "key_mismatch", "Idempotency-Key header and body key differ")
			return
		}
		res, err := s.Engine.Execute(r.Context(), req)
		reply(w, http.StatusOK, res, err)
	})
	// Lookup by idempotency key: how a caller reconciles a payment whose
	// key the provider may no longer remember (Stripe keeps them 24 h).
	mux.HandleFunc("GET /v1/payments", func(w http.ResponseWriter, r *http.Request) {
		key := r.URL.Query().Get("key")
		if key == "" {
			writeErr(w, http.StatusUnprocessableEntity, "invalid_query", "key is required")
			return
		}
		res, ok, err := s.Engine.Find(r.Context(), activities.PaymentRequest{Key: key})
		if err != nil {
			writeErr(w, http.StatusServiceUnavailable, "unavailable", err.Error())
			return
		}
		if !ok {
			writeErr(w, http.StatusNotFound, "not_found", "no payment with key "+key)
			return
		}
		writeJSON(w, http.StatusOK, res)
	})
	mux.HandleFunc("GET /v1/ledger", func(w http.ResponseWriter, r *http.Request) {
		entries := s.Engine.All()
		if rma := r.URL.Query().Get("rma_id"); rma != "" {
			var f []activities.PaymentRequest
			for _, e := range entries {
				if e.RMAID == rma {
					f = append(f, e)
				}
			}
			entries = f
		}
		if entries == nil {
			entries = []activities.PaymentRequest{}
		}
		writeJSON(w, http.StatusOK, entries)
	})
	return s.wrap("payments", log, paymentOp, mux)
}

// reservationOp names inventory operations; release and commit share one
// route, so the path's last segment names them.
func reservationOp(pattern string, r *http.Request, _ []byte) string {
	switch pattern {
	case "POST /v1/reservations":
		return "reserve"
	case "POST /v1/reservations/{op}":
		return path.Base(r.URL.Path)
	case "POST /v1/movements":
		return "move"
	}
	return ""
}

// paymentOp names a payment by its kind ("refund", "hold", ...), so faults
// can hit refunds only.
func paymentOp(pattern string, _ *http.Request, body []byte) string {
	if pattern != "POST /v1/payments" {
		return ""
	}
	var p struct {
		Kind string `json:"kind"`
	}
	if json.Unmarshal(body, &p) != nil || p.Kind == "" {
		return "payment"
	}
	return p.Kind
}

// Notifications simulates the notification service: an outbox of rendered
// messages in the customer's locale, readable at GET /v1/outbox.
type Notifications struct {
	Faults
	Engine  *memport.Notifier
	catalog notices.Catalog
}

// NewNotifications makes an empty outbox that shows each notice as rma's
// templates render it.
func NewNotifications() *Notifications {
	return &Notifications{Engine: &memport.Notifier{}, catalog: notices.MustLoad()}
}

// Render is the text a notice shows in the outbox: its body from rma's
// own templates, as the customer reads it. A customer notice without a
// template shows as such, so the chaos audit and a person both see it.
func (s *Notifications) Render(n activities.Notification) string {
	m, err := s.catalog.Render(n)
	if err != nil {
		return "NO TEMPLATE: " + err.Error()
	}
	return m.Body
}

// Message is a rendered notification.
type Message struct {
	activities.Notification
	Text string `json:"text"`
}

// Handler serves the notifications contract.
func (s *Notifications) Handler(log *zap.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/messages", func(w http.ResponseWriter, r *http.Request) {
		// rma sends the notice rendered (subject and body) beside its
		// template and parameters.
		var in struct {
			activities.Notification
			Subject string `json:"subject"`
			Body    string `json:"body"`
		}
		if decode(w, r, &in) {
			reply(w, http.StatusAccepted, map[string]string{"text": s.Render(in.Notification)}, s.Engine.Notify(r.Context(), in.Notification))
		}
	})
	mux.HandleFunc("GET /v1/outbox", func(w http.ResponseWriter, r *http.Request) {
		out := []Message{}
		for _, n := range s.Engine.All() {
			if rma := r.URL.Query().Get("rma_id"); rma == "" || rma == n.RMAID {
				out = append(out, Message{Notification: n, Text: s.Render(n)})
			}
		}
		if lim, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil && lim < len(out) {
			out = out[len(out)-lim:]
		}
		writeJSON(w, http.StatusOK, out)
	})
	return s.wrap("notifications", log, byPattern(map[string]string{"POST /v1/messages": "message"}), mux)
}
