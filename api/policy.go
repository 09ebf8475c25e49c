package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/store"
	"github.com/rma-dev/rma/workflows"
)

// WhatIfRequest is POST /v1/policy/whatif: the proposed policy's YAML
// (as a file would hold it) and the period.
type WhatIfRequest struct {
	Policy           string  `json:"policy"`
	Since            string  `json:"since,omitempty"`
	MinutesPerReview float64 `json:"minutes_per_review,omitempty"`
	Changes          int     `json:"changes,omitempty"`
}

// WhatIfAnswer is the replay's report, with what it compared.
type WhatIfAnswer struct {
	Since   time.Time           `json:"since"`
	Current string              `json:"current"`
	Took    string              `json:"took"`
	Report  domain.WhatIfReport `json:"report"`
}

// ParseSince reads "30d", "72h" or a date (2026-10-01, or RFC 3339) as the
// start of a period ending now.
func ParseSince(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		s = "30d"
	}
	if d, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(d); err == nil && n > 0 && n <= 3650 {
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("since %q: want a number of days (30d), a duration (72h) or a date (2026-10-01)", s)
}

// RunWhatIf replays the returns opened since from under the current
// stored policy and proposed.
func RunWhatIf(ctx context.Context, st *store.Store, proposed domain.Policy, since time.Time, o domain.WhatIfOptions) (WhatIfAnswer, error) {
	began := time.Now()
	current, version, err := st.Policies().Current(ctx)
	name := fmt.Sprintf("policy version %d", version)
	if err == store.ErrNoPolicy {
		current, name, err = domain.Defaults(), "the defaults (no stored version)", nil
	}
	if err != nil {
		return WhatIfAnswer{}, err
	}
	cases, err := st.WhatIfCases(ctx, since)
	if err != nil {
		return WhatIfAnswer{}, err
	}
	rep := domain.WhatIf(cases, current, proposed, o)
	return WhatIfAnswer{Since: since, Current: name + " vs the proposal", Took: time.Since(began).Round(time.Millisecond).String(), Report: rep}, nil
}

func (s *Server) whatIf(w http.ResponseWriter, r *http.Request, _ Principal) {
	if !s.analyticsStore(w) {
		return
	}
	var in WhatIfRequest
	if !decode(w, r, &in) {
		return
	}
	proposed, err := domain.LoadPolicy([]byte(in.Policy))
	if err != nil {
		writeErr(w, http.StatusUnprocessableEntity, "invalid_policy", err.Error(), domain.FieldError{Field: "policy", Message: err.Error()})
		return
	}
	since, err := ParseSince(in.Since, time.Now())
	if err != nil {
		writeErr(w, http.StatusUnprocessableEntity, "invalid_input", err.Error(), domain.FieldError{Field: "since", Message: err.Error()})
		return
	}
	o := domain.WhatIfOptions{MinutesPerReview: in.MinutesPerReview, ListChanges: in.Changes}
	if o.MinutesPerReview <= 0 {
		o.MinutesPerReview = 6
	}
	if o.ListChanges <= 0 || o.ListChanges > 1000 {
		o.ListChanges = 20
	}
	ans, err := RunWhatIf(r.Context(), s.cfg.Store, proposed, since, o)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ans)
}

// preview answers what a request could do, before any return exists: the
// storefront calls it when a customer clicks "return". Lines may leave
// reason and resolution out. It starts no workflow and writes nothing.
func (s *Server) preview(w http.ResponseWriter, r *http.Request, p Principal) {
	var req domain.Request
	if !decode(w, r, &req) {
		return
	}
	if p.scoped() {
		req.Customer.ID = p.CustomerID
	}
	// Validate as a create would, with what the preview may leave out
	// filled in.
	check := req.Normalize()
	for i := range check.Lines {
		if check.Lines[i].Reason == "" {
			check.Lines[i].Reason = domain.ReasonOther
		}
		if check.Lines[i].Resolution == "" {
			check.Lines[i].Resolution = domain.ResolutionRefund
		}
	}
	now := s.cfg.Now()
	if err := check.Validate(now); err != nil {
		s.fail(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	policy, version, err := s.cfg.Returns.CurrentPolicy(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var hist domain.CustomerHistory
	if s.cfg.Store != nil && req.Customer.ID != "" {
		if hist, err = s.cfg.Store.CustomerHistory(ctx, req.Customer.ID, "", now.Add(-policy.Abuse.Period.D())); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	var stock domain.StockOf
	if s.cfg.Stock != nil {
		stock = func(sku string) (int, bool) {
			n, err := s.cfg.Stock(ctx, sku)
			return n, err == nil
		}
	}
	writeJSON(w, http.StatusOK, domain.PreviewRequest(policy, version, req, now, hist, stock))
}

// inventoryWebhook takes the inventory's restock events (signed like the
// carrier's) and tells every open return waiting for the SKU; a return
// that cannot take the stock keeps waiting. Each event is answered with
// the returns told, so the inventory system may retry the others.
func (s *Server) inventoryWebhook(w http.ResponseWriter, r *http.Request, _ Principal) {
	body, ok := s.signedBody(w, r)
	if !ok {
		return
	}
	var ev workflows.RestockEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		writeErr(w, http.StatusBadRequest, "bad_json", err.Error())
		return
	}
	var c domain.Checker
	c.Required("event_id", ev.EventID, 128)
	c.KeyPart("sku", ev.SKU)
	if ev.Available < 0 {
		c.Add("available", "must not be negative")
	}
	if err := c.Err(); err != nil {
		s.fail(w, r, err)
		return
	}
	if ev.At.IsZero() {
		ev.At = s.cfg.Now()
	}
	ids, err := s.cfg.Store.AwaitingRestock(r.Context(), ev.SKU)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	told, failed := []string{}, []string{}
	for _, id := range ids {
		if err := s.cfg.Returns.SignalRestock(r.Context(), id, ev); err != nil {
			s.log.Warn("restock signal", zap.String("rma_id", id), zap.Error(err))
			failed = append(failed, id)
			continue
		}
		s.log.Info("restock signalled", zap.String("rma_id", id), zap.String("sku", ev.SKU))
		told = append(told, id)
	}
	status := http.StatusOK
	if len(failed) > 0 {
		status = http.StatusServiceUnavailable // the inventory system retries; a repeat is harmless
	}
	writeJSON(w, status, map[string]any{"sku": ev.SKU, "told": told, "failed": failed})
}

// PolicyApplyRequest is POST /v1/policies: a policy file's text, and why.
type PolicyApplyRequest struct {
	Policy string `json:"policy"`
	Note   string `json:"note,omitempty"`
}

// applyPolicy stores a policy as the next version (admin; rma policy apply
// does the same with database access). The same policy again changes
// nothing and answers 200 with the current version.
func (s *Server) applyPolicy(w http.ResponseWriter, r *http.Request, p Principal) {
	var in PolicyApplyRequest
	if !decode(w, r, &in) {
		return
	}
	pol, err := domain.LoadPolicy([]byte(in.Policy))
	if err != nil {
		writeErr(w, http.StatusUnprocessableEntity, "invalid_policy", err.Error(), domain.FieldError{Field: "policy", Message: err.Error()})
		return
	}
	if len(in.Note) > domain.MaxShortTextLen {
		writeErr(w, http.StatusUnprocessableEntity, "invalid_input", "note is too long", domain.FieldError{Field: "note", Message: "at most 500 characters"})
		return
	}
	eff, err := pol.YAML()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v, created, err := s.cfg.Store.ApplyPolicy(r.Context(), in.Policy, string(eff), p.Subject, in.Note, s.cfg.Now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		s.log.Info("policy applied", zap.Int("version", v.Version), zap.String("subject", p.Subject))
	}
	writeJSON(w, status, v)
}

// policyHistory lists the stored versions, newest first.
func (s *Server) policyHistory(w http.ResponseWriter, r *http.Request, _ Principal) {
	vs, err := s.cfg.Store.PolicyHistory(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if vs == nil {
		vs = []store.PolicyVersion{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": vs})
}
