// Package api is rma's HTTP API (API.md): JSON over HTTP for merchant
// backends, storefronts, support, the warehouse and carriers. Every route is
// declared once in routes(), which registers the handler, enforces its roles
// and is checked against the OpenAPI document in a test.
package api

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.uber.org/zap"

	"github.com/rma-dev/rma/codec"
	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/starter"
	"github.com/rma-dev/rma/store"
	"github.com/rma-dev/rma/workflows"
)

//go:embed openapi.json
var openAPIDoc []byte

// OpenAPI returns the OpenAPI document served at /v1/openapi.json.
func OpenAPI() []byte { return append([]byte(nil), openAPIDoc...) }

// Config wires the API.
type Config struct {
	Returns *starter.Client
	// Store is the PostgreSQL side: reads, the survey, webhook routing,
	// tasks and analytics.
	Store *store.Store
	// Tokens are static tokens (RMA_TOKENS, RMA_DEV_TOKEN); tokens made
	// with rma token create are looked up in Store.
	Tokens        map[string]Principal
	WebhookSecret []byte
	// RateLimit is each token's sustained requests a second (burst:
	// RateBurst); 0 turns limits off.
	RateLimit float64
	RateBurst int
	Logger    *zap.Logger
	// Codec, when set, serves the codec server at /codec/ for the Temporal
	// UI: it decodes payloads of Namespace for CodecOrigins (the UI's
	// origin, for CORS). CodecTrustUI lets that origin decode without a
	// token (rma dev only, whose UI has no sign-in).
	Codec        *codec.Keyring
	Namespace    string
	CodecOrigins []string
	CodecTrustUI bool
	// Ready reports whether dependencies answer (for /readyz).
	Ready func(ctx context.Context) error
	Now   func() time.Time
	// TemporalUIURL is the Temporal UI the console links each return's
	// workflow to (e.g. http://127.0.0.1:8233).
	TemporalUIURL string
	// Stock answers a SKU's available stock for the eligibility preview's
	// exchange option (nil: unknown).
	Stock func(ctx context.Context, sku string) (int, error)
}

// Server is the HTTP API.
type Server struct {
	cfg    Config
	log    *zap.Logger
	static map[[32]byte]Principal
	limits *limiter
	// console are the console's pages by language, parsed once.
	console map[string]*template.Template
}

// New builds the API server.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	static := make(map[[32]byte]Principal, len(cfg.Tokens))
	for tok, p := range cfg.Tokens {
		static[sha256.Sum256([]byte(tok))] = p
	}
	return &Server{cfg: cfg, log: cfg.Logger, static: static, limits: newLimiter(cfg.RateLimit, cfg.RateBurst), console: consoleTemplates()}
}

type route struct {
	method, path string
	roles        []string // nil: public
	signed       bool     // carrier webhook: HMAC instead of a token
	handle       func(w http.ResponseWriter, r *http.Request, p Principal)
}

// Handler returns the API's http.Handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		mux.HandleFunc(rt.method+" "+rt.path, s.guard(rt))
	}
	if h := s.CodecHandler(); h != nil {
		mux.Handle("/codec/", h)
	}
	if s.cfg.Store != nil && s.cfg.Returns != nil {
		mux.Handle("/console/", s.consoleHandler())
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, http.StatusNotFound, "not_found", "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	return mux
}

// Error is the API error body. Status is the return's status when a
// command is refused because of it.
type Error struct {
	Code    string              `json:"code"`
	Message string              `json:"message"`
	Status  string              `json:"status,omitempty"`
	Details []domain.FieldError `json:"details,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func writeErr(w http.ResponseWriter, status int, code, msg string, details ...domain.FieldError) {
	writeJSON(w, status, map[string]Error{"error": {Code: code, Message: msg, Details: details}})
}

func writeErrStatus(w http.ResponseWriter, status int, code, msg, returnStatus string) {
	writeJSON(w, status, map[string]Error{"error": {Code: code, Message: msg, Status: returnStatus}})
}

// decode reads a JSON body strictly: bad JSON and unknown fields are 400, a
// wrongly typed field 422.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		writeErr(w, http.StatusRequestEntityTooLarge, "body_too_large", "the body must be at most 1 MiB")
		return false
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		writeErr(w, http.StatusBadRequest, "bad_json", "a JSON body is required")
		return false
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	err = dec.Decode(v)
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case err == nil && dec.More():
		writeErr(w, http.StatusBadRequest, "bad_json", "trailing data after the JSON body")
	case err == nil:
		return true
	case errors.As(err, &syn), errors.Is(err, io.ErrUnexpectedEOF):
		writeErr(w, http.StatusBadRequest, "bad_json", "malformed JSON: "+err.Error())
	case errors.As(err, &typ):
		writeErr(w, http.StatusUnprocessableEntity, "invalid_field", fmt.Sprintf("field %s must be %s", typ.Field, typ.Type), domain.FieldError{Field: typ.Field, Message: "must be " + typ.Type.String()})
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		writeErr(w, http.StatusBadRequest, "unknown_field", "unknown field "+field, domain.FieldError{Field: field, Message: "is not part of this request"})
	default:
		writeErr(w, http.StatusBadRequest, "bad_json", err.Error())
	}
	return false
}

// fail maps starter and domain errors to HTTP.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ve *domain.ValidationError
	var ref *starter.RefusedError
	switch {
	case errors.As(err, &ve):
		writeErr(w, http.StatusUnprocessableEntity, "validation_failed", ve.Error(), ve.Problems...)
	case errors.Is(err, starter.ErrNotFound):
		writeErr(w, http.StatusNotFound, "not_found", "return "+r.PathValue("id")+" not found")
	case errors.As(err, &ref) && ref.Kind == workflows.ErrForbidden:
		writeErr(w, http.StatusForbidden, ref.Kind, ref.Message)
	case errors.As(err, &ref) && ref.Kind == workflows.ErrInvalidInput:
		writeErr(w, http.StatusUnprocessableEntity, ref.Kind, ref.Message)
	case errors.As(err, &ref):
		writeErrStatus(w, http.StatusConflict, ref.Kind, ref.Message, string(ref.Status))
	case errors.Is(err, starter.ErrNoRegistry):
		writeErr(w, http.StatusServiceUnavailable, "no_read_model", err.Error())
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, new(*serviceerror.DeadlineExceeded)):
		writeErr(w, http.StatusGatewayTimeout, "timeout", "the workflow did not answer in time (a partner may be slow); the command may still apply: check the return, and retry with the same Idempotency-Key")
	case errors.As(err, new(*serviceerror.Unavailable)):
		writeErr(w, http.StatusServiceUnavailable, "unavailable", "Temporal is unavailable; retry shortly")
	default:
		s.log.Error("request failed", zap.String("rma_id", r.PathValue("id")), zap.String("path", r.URL.Path), zap.Error(err))
		writeErr(w, http.StatusInternalServerError, "internal", "internal error; it has been logged")
	}
}
