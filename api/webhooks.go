package api

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/store"
)

// Webhook endpoints (docs/webhooks.md): an admin manages every endpoint, a
// backend token its own (the ones it created).

// EndpointRequest is POST /v1/webhook-endpoints.
type EndpointRequest struct {
	URL         string   `json:"url"`
	Events      []string `json:"events"`
	Description string   `json:"description,omitempty"`
}

// Validate checks an endpoint: an absolute http(s) URL, and known events
// (or "*" for all).
func (in EndpointRequest) Validate() error {
	var c domain.Checker
	u, err := url.Parse(in.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(in.URL) > domain.MaxURLLen {
		c.Add("url", "must be an absolute http or https URL")
	}
	switch {
	case len(in.Events) == 0:
		c.Add("events", `at least one event, or "*" for every event`)
	case len(in.Events) > len(store.WebhookEventTypes()):
		c.Add("events", "too many")
	}
	for i, e := range in.Events {
		if e != "*" && !slices.Contains(store.WebhookEventTypes(), e) {
			c.Add("events["+strconv.Itoa(i)+"]", "%q is not an event (%s)", e, strings.Join(store.WebhookEventTypes(), ", "))
		}
	}
	c.Text("description", in.Description, domain.MaxShortTextLen)
	return c.Err()
}

// endpointOwner is whose endpoints the caller manages: every one for an
// admin ("").
func endpointOwner(p Principal) string {
	if slices.Contains(p.Roles, RoleAdmin) {
		return ""
	}
	return p.Subject
}

func (s *Server) endpointErr(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, store.ErrNoEndpoint) {
		writeErr(w, http.StatusNotFound, "not_found", "webhook endpoint "+r.PathValue("id")+" not found")
		return
	}
	s.fail(w, r, err)
}

func (s *Server) createEndpoint(w http.ResponseWriter, r *http.Request, p Principal) {
	var in EndpointRequest
	if !decode(w, r, &in) {
		return
	}
	if err := in.Validate(); err != nil {
		s.fail(w, r, err)
		return
	}
	e, err := s.cfg.Store.CreateEndpoint(r.Context(), in.URL, in.Events, in.Description, p.Subject)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	u, _ := url.Parse(e.URL)
	s.log.Info("webhook endpoint created", zap.String("endpoint", e.ID), zap.String("url", u.Redacted()), zap.String("subject", p.Subject))
	writeJSON(w, http.StatusCreated, e)
}

func (s *Server) listEndpoints(w http.ResponseWriter, r *http.Request, p Principal) {
	es, err := s.cfg.Store.ListEndpoints(r.Context(), endpointOwner(p))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": es})
}

func (s *Server) deleteEndpoint(w http.ResponseWriter, r *http.Request, p Principal) {
	if err := s.cfg.Store.DeleteEndpoint(r.Context(), r.PathValue("id"), endpointOwner(p)); err != nil {
		s.endpointErr(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) rotateEndpointSecret(w http.ResponseWriter, r *http.Request, p Principal) {
	e, err := s.cfg.Store.RotateSecret(r.Context(), r.PathValue("id"), endpointOwner(p), s.cfg.Now())
	if err != nil {
		s.endpointErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, e)
}

func (s *Server) replayEndpoint(w http.ResponseWriter, r *http.Request, p Principal) {
	since, err := ParseSince(r.URL.Query().Get("since"), s.cfg.Now())
	if err != nil {
		writeErr(w, http.StatusUnprocessableEntity, "invalid_query", err.Error(), domain.FieldError{Field: "since", Message: err.Error()})
		return
	}
	n, err := s.cfg.Store.Replay(r.Context(), r.PathValue("id"), endpointOwner(p), since)
	if err != nil {
		s.endpointErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"queued": n, "since": since})
}

func (s *Server) endpointDeliveries(w http.ResponseWriter, r *http.Request, p Principal) {
	size, ok := pageSize(w, r.URL.Query().Get("page_size"))
	if !ok {
		return
	}
	ds, err := s.cfg.Store.Deliveries(r.Context(), r.PathValue("id"), endpointOwner(p), size)
	if err != nil {
		s.endpointErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": ds})
}
