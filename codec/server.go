package codec

import (
	"net/http"
	"slices"
	"strings"

	"go.temporal.io/sdk/converter"
)

// HandlerOptions configure the codec server.
type HandlerOptions struct {
	Keys *Keyring
	// Namespace is the only namespace decoded: requests must name it in
	// X-Namespace, as the UI and the temporal CLI do. Empty accepts any.
	Namespace string
	// Origins are the browser origins (the Temporal UI's) allowed by CORS.
	Origins []string
	// Authorize decides who may decode: it answers the HTTP status to
	// refuse with (401, 403), or 0 to go on. nil refuses everyone.
	Authorize func(r *http.Request) (status int, why string)
}

// Handler serves the Temporal codec-server protocol: POST {prefix}/decode
// and {prefix}/encode with a JSON Payloads body, as the Temporal UI and
// CLI call it. Preflight requests from an allowed origin are answered
// without credentials (browsers send none); every other request must pass
// Authorize.
func Handler(o HandlerOptions) http.Handler {
	inner := converter.NewPayloadCodecHTTPHandler(NewCodec(o.Keys))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin != "" {
			if !slices.Contains(o.Origins, origin) {
				http.Error(w, "origin "+origin+" may not use this codec server", http.StatusForbidden)
				return
			}
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Namespace")
			h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
			h.Add("Vary", "Origin")
		}
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusOK)
			return
		}
		if r.Method != http.MethodPost || !(strings.HasSuffix(r.URL.Path, "/decode") || strings.HasSuffix(r.URL.Path, "/encode")) {
			http.Error(w, "POST .../decode or .../encode", http.StatusNotFound)
			return
		}
		if o.Authorize == nil {
			http.Error(w, "decoding is not enabled", http.StatusForbidden)
			return
		}
		if status, why := o.Authorize(r); status != 0 {
			http.Error(w, why, status)
			return
		}
		if ns := r.Header.Get("X-Namespace"); o.Namespace != "" && ns != o.Namespace {
			http.Error(w, "this codec server decodes namespace "+o.Namespace+" only (X-Namespace)", http.StatusForbidden)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 8<<20)
		inner.ServeHTTP(w, r)
	})
}
