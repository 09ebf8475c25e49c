// Package api is rma's HTTP API (API.md): JSON over HTTP for merchant
// backends, storefronts, support, the warehouse and carriers. Every route is
// declared once in routes(), which registers the handler, enforces its roles
// and is checked against the OpenAPI document in a test.
package api

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.uber.org/zap"

	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/starter"
	"github.com/rma-dev/rma/store"
	"github.com/rma-dev/rma/workflows"
)

//go:embed openapi.json
var openAPIDoc []byte

// OpenAPI returns the OpenAPI document served at /v1/openapi.json.
func OpenAPI() []byte { return append([]byte(nil), openAPIDoc...) }

// Roles.
const (
	RoleBackend   = "backend"
	RoleSupport   = "support"
	RoleWarehouse = "warehouse"
	RoleCustomer  = "customer"
	RoleAnalyst   = "analyst"
	RoleAdmin     = "admin"
)

// AllRoles is every role (what RMA_DEV_TOKEN gets).
func AllRoles() []string {
	return []string{RoleBackend, RoleSupport, RoleWarehouse, RoleCustomer, RoleAnalyst, RoleAdmin}
}

// Principal is who a bearer token stands for.
type Principal struct {
	Subject string
	Roles   []string
}

func (p Principal) has(roles []string) bool {
	for _, have := range p.Roles {
		if have == RoleAdmin {
			return true
		}
		for _, want := range roles {
			if have == want {
				return true
			}
		}
	}
	return false
}

// ParseTokens reads "token=role+role:subject,token2=role" (RMA_TOKENS).
func ParseTokens(spec string) (map[string]Principal, error) {
	out := map[string]Principal{}
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		tok, rest, ok := strings.Cut(item, "=")
		if !ok || tok == "" || rest == "" {
			return nil, fmt.Errorf("token entry %q: want token=role+role[:subject]", item)
		}
		roles, subject, _ := strings.Cut(rest, ":")
		p := Principal{Subject: subject}
		for _, r := range strings.Split(roles, "+") {
			if !validRole(r) {
				return nil, fmt.Errorf("token entry %q: unknown role %q", item, r)
			}
			p.Roles = append(p.Roles, r)
		}
		if p.Subject == "" {
			p.Subject = p.Roles[0]
		}
		out[tok] = p
	}
	return out, nil
}

func validRole(r string) bool {
	for _, x := range AllRoles() {
		if x == r {
			return true
		}
	}
	return false
}

// Config wires the API.
type Config struct {
	Returns *starter.Client
	// Store is the PostgreSQL side: reads, the survey, webhook routing,
	// tasks and analytics.
	Store         *store.Store
	Tokens        map[string]Principal
	WebhookSecret []byte
	Logger        *zap.Logger
	// Ready reports whether dependencies answer (for /readyz).
	Ready func(ctx context.Context) error
	Now   func() time.Time
}

// Server is the HTTP API.
type Server struct {
	cfg Config
	log *zap.Logger
}

// New builds the API server.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Server{cfg: cfg, log: cfg.Logger}
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
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, http.StatusNotFound, "not_found", "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	return mux
}

func (s *Server) guard(rt route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		var p Principal
		if rt.roles != nil {
			tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			pr, known := s.cfg.Tokens[strings.TrimSpace(tok)]
			switch {
			case !ok || !known:
				writeErr(w, http.StatusUnauthorized, "unauthorized", "a valid Authorization: Bearer <token> header is required")
				return
			case !pr.has(rt.roles):
				writeErr(w, http.StatusForbidden, "forbidden", fmt.Sprintf("this endpoint needs one of the roles %v", rt.roles))
				return
			}
			p = pr
		}
		rt.handle(w, r, p)
		s.log.Debug("request", zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.String("rma_id", r.PathValue("id")),
			zap.String("subject", p.Subject), zap.Duration("took", time.Since(start)))
	}
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
