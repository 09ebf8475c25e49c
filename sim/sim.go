// Package sim runs local simulators of the partner services (carrier,
// inventory, payments, notifications). They serve the same HTTP contracts as
// the real services (docs/partners.md), so rma's activities reach them only
// through the real adapters in package partners, and they inject faults on
// demand: latency, 5xx, timeouts and duplicate webhooks.
package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/webhook"
)

// Faults is a simulator's fault injection, settable at run time with
// POST /v1/_faults.
type Faults struct {
	mu sync.Mutex
	FaultConfig
	rnd *rand.Rand
	// Auth is the credential rma must present on the partner contract's
	// routes, as the real service would demand (the simulator's own
	// controls, such as faults and ledgers, stay open on loopback).
	Auth webhook.Credential
}

// control reports whether a route is one of the simulator's own controls
// (faults, parcel scans, ledgers, stock levels, the outbox), not part of the
// partner contract.
func control(pattern string) bool {
	switch pattern {
	case "GET /v1/_faults", "POST /v1/_faults", "GET /v1/parcels", "POST /v1/parcels/{tracking}/events", "GET /v1/ledger",
		"GET /v1/stock", "GET /v1/stock/{sku}", "PUT /v1/stock/{sku}", "GET /v1/outbox", "GET /v1/reservations":
		return true
	}
	return false
}

// FaultConfig is what Faults injects. The top-level rates apply to every
// operation of the simulator; Endpoints replaces them for the operations it
// names (see Ops in docs/partners.md: "refund", "label", "reserve", ...), so
// a run can fail only the payment service's refunds, or only label booking.
type FaultConfig struct {
	LatencyMS   int     `json:"latency_ms"`
	FailRate    float64 `json:"fail_rate"`    // share of requests answered 503, not run
	TimeoutRate float64 `json:"timeout_rate"` // share of requests held, not run, until the caller gives up
	// LostReplyRate is the share of requests that run (the refund is paid,
	// the label booked) but are answered with a 500, as when the partner
	// crashes before answering: only idempotency keys keep the retry from
	// doing it twice.
	LostReplyRate float64 `json:"lost_reply_rate"`
	// LateReplyRate is the share of requests that run but whose answer is
	// held until the caller times out.
	LateReplyRate float64 `json:"late_reply_rate"`
	// HoldMS is how long a timeout holds a request (default 30 s).
	HoldMS        int     `json:"hold_ms,omitempty"`
	DuplicateRate float64 `json:"duplicate_rate"` // share of webhooks sent twice (carrier)
	// ReorderRate is the share of auto-played parcels whose scans are sent
	// newest first: delivered before picked_up (carrier).
	ReorderRate float64                `json:"reorder_rate,omitempty"`
	Endpoints   map[string]FaultConfig `json:"endpoints,omitempty"`
}

// For is the configuration that applies to op.
func (c FaultConfig) For(op string) FaultConfig {
	if e, ok := c.Endpoints[op]; ok {
		return e
	}
	return c
}

// Validate refuses rates outside [0, 1], negative durations and nested
// endpoint maps.
func (c FaultConfig) Validate() error {
	for name, r := range map[string]float64{"fail_rate": c.FailRate, "timeout_rate": c.TimeoutRate, "lost_reply_rate": c.LostReplyRate,
		"late_reply_rate": c.LateReplyRate, "duplicate_rate": c.DuplicateRate, "reorder_rate": c.ReorderRate} {
		if r < 0 || r > 1 {
			return fmt.Errorf("%s must be between 0 and 1, not %v", name, r)
		}
	}
	if c.LatencyMS < 0 || c.HoldMS < 0 {
		return errors.New("latency_ms and hold_ms must not be negative")
	}
	for op, e := range c.Endpoints {
		if len(e.Endpoints) > 0 {
			return fmt.Errorf("endpoints.%s: endpoints do not nest", op)
		}
		if err := e.Validate(); err != nil {
			return fmt.Errorf("endpoints.%s: %w", op, err)
		}
	}
	return nil
}

func (f *Faults) roll(rate float64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rnd == nil {
		f.rnd = rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	}
	return rate > 0 && f.rnd.Float64() < rate
}

func (f *Faults) config() FaultConfig {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.FaultConfig
}

// Set replaces the fault configuration.
func (f *Faults) Set(c FaultConfig) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.FaultConfig = c
}

// opFunc names the operation a request is (see FaultConfig.Endpoints),
// from the route pattern the simulator's mux matched, the request and its
// body; "" is not a business operation and gets no faults.
type opFunc func(pattern string, r *http.Request, body []byte) string

// byPattern names operations by their route pattern.
func byPattern(ops map[string]string) opFunc {
	return func(pattern string, _ *http.Request, _ []byte) string { return ops[pattern] }
}

// wrap applies the faults to every business request and serves the fault
// endpoint itself.
func (f *Faults) wrap(name string, log *zap.Logger, op opFunc, next *http.ServeMux) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/_faults", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, f.config()) })
	mux.HandleFunc("POST /v1/_faults", func(w http.ResponseWriter, r *http.Request) {
		var c FaultConfig
		if !decode(w, r, &c) {
			return
		}
		if err := c.Validate(); err != nil {
			writeErr(w, http.StatusUnprocessableEntity, "invalid_faults", err.Error())
			return
		}
		f.Set(c)
		log.Info("faults set", zap.String("sim", name), zap.Any("faults", c))
		writeJSON(w, http.StatusOK, c)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			writeErr(w, http.StatusRequestEntityTooLarge, "body_too_large", "bodies are at most 1 MiB")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		_, pattern := next.Handler(r)
		if pattern != "" && !control(pattern) {
			if err := f.Auth.Check(r, body, time.Now()); err != nil {
				log.Warn("unauthenticated call refused", zap.String("sim", name), zap.String("route", pattern), zap.Error(err))
				writeErr(w, http.StatusUnauthorized, "unauthorized", name+" simulator: "+err.Error())
				return
			}
		}
		o := op(pattern, r, body)
		if o == "" {
			next.ServeHTTP(w, r)
			return
		}
		c := f.config().For(o)
		hold := func() {
			d := 30 * time.Second
			if c.HoldMS > 0 {
				d = time.Duration(c.HoldMS) * time.Millisecond
			}
			select {
			case <-r.Context().Done():
			case <-time.After(d):
			}
		}
		if c.LatencyMS > 0 {
			time.Sleep(time.Duration(c.LatencyMS) * time.Millisecond)
		}
		switch {
		case f.roll(c.TimeoutRate):
			hold()
			writeErr(w, http.StatusGatewayTimeout, "injected_timeout", name+" simulator: injected timeout, not run")
			return
		case f.roll(c.FailRate):
			writeErr(w, http.StatusServiceUnavailable, "injected_fault", name+" simulator: injected 503")
			return
		}
		lost, late := f.roll(c.LostReplyRate), f.roll(c.LateReplyRate)
		if !lost && !late {
			next.ServeHTTP(w, r)
			return
		}
		// Run it, then lose the answer.
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		log.Info("answer lost after the operation ran", zap.String("sim", name), zap.String("op", o), zap.Int("status", rec.Code), zap.Bool("late", late))
		if late {
			hold()
			writeErr(w, http.StatusGatewayTimeout, "injected_late_reply", name+" simulator: ran, answer held past the caller's timeout")
			return
		}
		writeErr(w, http.StatusInternalServerError, "injected_lost_reply", name+" simulator: ran, then failed to answer")
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

// decode reads a JSON body strictly.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeErr(w, http.StatusBadRequest, "bad_json", err.Error())
		return false
	}
	return true
}

// reply maps an engine error to the partner error contract: business
// refusals are 4xx, anything else a 503 the caller retries.
func reply(w http.ResponseWriter, status int, v any, err error) {
	var rej *activities.RejectedError
	switch {
	case err == nil:
		writeJSON(w, status, v)
	case errors.As(err, &rej) && rej.Code == "idempotency_conflict":
		writeErr(w, http.StatusConflict, rej.Code, rej.Message)
	case errors.As(err, &rej) && rej.Code == "card_declined":
		writeErr(w, http.StatusPaymentRequired, rej.Code, rej.Message)
	case errors.As(err, &rej):
		writeErr(w, http.StatusUnprocessableEntity, rej.Code, rej.Message)
	default:
		writeErr(w, http.StatusServiceUnavailable, "unavailable", err.Error())
	}
}
