// Package sim runs local simulators of the partner services (carrier,
// inventory, payments, notifications). They serve the same HTTP contracts as
// the real services (docs/partners.md), so rma's activities reach them only
// through the real adapters in package partners, and they inject faults on
// demand: latency, 5xx, timeouts and duplicate webhooks.
package sim

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/rma-dev/rma/activities"
)

// Faults is a simulator's fault injection, settable at run time with
// POST /v1/_faults.
type Faults struct {
	mu sync.Mutex
	FaultConfig
	rnd *rand.Rand
}

// FaultConfig is what Faults injects.
type FaultConfig struct {
	LatencyMS     int     `json:"latency_ms"`
	FailRate      float64 `json:"fail_rate"`      // share of requests answered 503
	TimeoutRate   float64 `json:"timeout_rate"`   // share of requests held for 30 s
	DuplicateRate float64 `json:"duplicate_rate"` // share of webhooks sent twice (carrier)
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

// wrap applies the faults to every business request and serves the fault
// endpoint itself.
func (f *Faults) wrap(name string, log *zap.Logger, next http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/_faults", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, f.config()) })
	mux.HandleFunc("POST /v1/_faults", func(w http.ResponseWriter, r *http.Request) {
		var c FaultConfig
		if err := json.NewDecoder(r.Body).Decode(&c); err != nil {
			writeErr(w, http.StatusBadRequest, "bad_json", err.Error())
			return
		}
		f.Set(c)
		log.Info("faults set", zap.String("sim", name), zap.Any("faults", c))
		writeJSON(w, http.StatusOK, c)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		c := f.config()
		if r.Method != http.MethodGet {
			if c.LatencyMS > 0 {
				time.Sleep(time.Duration(c.LatencyMS) * time.Millisecond)
			}
			if f.roll(c.TimeoutRate) {
				select {
				case <-r.Context().Done():
				case <-time.After(30 * time.Second):
				}
				return
			}
			if f.roll(c.FailRate) {
				writeErr(w, http.StatusServiceUnavailable, "injected_fault", name+" simulator: injected 503")
				return
			}
		}
		next.ServeHTTP(w, r)
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
