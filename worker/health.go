package worker

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"go.temporal.io/sdk/client"
)

// Ready reports whether a process can do its work: the Temporal frontend
// answers a health check and the read model a ping. Both rma api's and
// rma worker's /readyz use it, so an orchestrator stops routing to (or
// restarts) a process that lost either connection.
func Ready(c client.Client, db *sql.DB) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		if _, err := c.CheckHealth(ctx, nil); err != nil {
			return fmt.Errorf("temporal: %w", err)
		}
		if err := db.PingContext(ctx); err != nil {
			return fmt.Errorf("postgresql: %w", err)
		}
		return nil
	}
}

// HealthHandler serves a worker's probes: /healthz answers while the
// process runs, /readyz while ready does (the shape of the API's).
func HealthHandler(ready func(ctx context.Context) error) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeStatus(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := ready(ctx); err != nil {
			writeStatus(w, http.StatusServiceUnavailable, map[string]any{"error": map[string]string{"code": "not_ready", "message": err.Error()}})
			return
		}
		writeStatus(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	return mux
}

func writeStatus(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
