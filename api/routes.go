package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.uber.org/zap"

	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/starter"
	"github.com/rma-dev/rma/store"
	"github.com/rma-dev/rma/webhook"
	"github.com/rma-dev/rma/workflows"
)

var (
	readers   = []string{RoleBackend, RoleSupport, RoleWarehouse, RoleCustomer}
	backend   = []string{RoleBackend}
	support   = []string{RoleSupport}
	warehouse = []string{RoleWarehouse}
	customer  = []string{RoleCustomer, RoleBackend}
	analyst   = []string{RoleAnalyst}
)

func (s *Server) routes() []route {
	return []route{
		{method: "GET", path: "/healthz", handle: func(w http.ResponseWriter, _ *http.Request, _ Principal) {
			writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		}},
		{method: "GET", path: "/readyz", handle: s.readyz},
		{method: "GET", path: "/v1/openapi.json", handle: func(w http.ResponseWriter, _ *http.Request, _ Principal) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(openAPIDoc)
		}},
		{method: "POST", path: "/v1/returns", roles: backend, handle: s.create},
		{method: "GET", path: "/v1/returns", roles: []string{RoleSupport, RoleBackend, RoleAnalyst}, handle: s.list},
		{method: "GET", path: "/v1/returns/{id}", roles: readers, handle: s.get},
		{method: "POST", path: "/v1/returns/{id}/approve", roles: support, handle: command(s, workflows.UpdateApprove, func(in *workflows.ApproveInput, p Principal) { in.Actor = p.Subject })},
		{method: "POST", path: "/v1/returns/{id}/decline", roles: support, handle: command(s, workflows.UpdateDecline, func(in *workflows.DeclineInput, p Principal) { in.Actor = p.Subject })},
		{method: "POST", path: "/v1/returns/{id}/request-info", roles: support, handle: command(s, workflows.UpdateRequestInfo, func(in *workflows.RequestInfoInput, p Principal) { in.Actor = p.Subject })},
		{method: "POST", path: "/v1/returns/{id}/info", roles: []string{RoleCustomer, RoleBackend, RoleSupport}, handle: command(s, workflows.UpdateInfo, func(in *workflows.InfoInput, p Principal) { in.Actor = p.Subject })},
		{method: "POST", path: "/v1/returns/{id}/shipping-choice", roles: customer, handle: command(s, workflows.UpdateShippingChoice, func(in *workflows.ShippingChoiceInput, p Principal) { in.Actor = p.Subject })},
		{method: "POST", path: "/v1/returns/{id}/exchange-choice", roles: customer, handle: command(s, workflows.UpdateExchangeChoice, func(in *workflows.ExchangeChoiceInput, p Principal) { in.Actor = p.Subject })},
		{method: "POST", path: "/v1/returns/{id}/cancel", roles: []string{RoleBackend, RoleSupport, RoleCustomer}, handle: command(s, workflows.UpdateCancel, func(in *workflows.CancelInput, p Principal) { in.Actor = p.Subject })},
		{method: "POST", path: "/v1/returns/{id}/receive", roles: warehouse, handle: command(s, workflows.UpdateReceive, func(in *workflows.ReceiveInput, p Principal) { in.Actor = p.Subject })},
		{method: "POST", path: "/v1/returns/{id}/inspection", roles: warehouse, handle: command(s, workflows.UpdateInspection, func(in *workflows.InspectionInput, p Principal) { in.Actor = p.Subject })},
		{method: "POST", path: "/v1/returns/{id}/survey", roles: customer, handle: command(s, workflows.UpdateSurvey, func(in *workflows.SurveyInput, p Principal) { in.Actor = p.Subject })},
		{method: "POST", path: "/v1/returns/{id}/notes", roles: support, handle: command(s, workflows.UpdateNote, func(in *workflows.NoteInput, p Principal) { in.Actor = p.Subject })},
		{method: "POST", path: "/v1/returns/{id}/repair-done", roles: warehouse, handle: command(s, workflows.UpdateRepairDone, func(in *workflows.RepairDoneInput, p Principal) { in.Actor = p.Subject })},
		{method: "POST", path: "/v1/returns/{id}/attention", roles: support, handle: command(s, workflows.UpdateResolveAttention, func(in *workflows.ResolveAttentionInput, p Principal) { in.Actor = p.Subject })},
		{method: "POST", path: "/v1/webhooks/carrier", signed: true, handle: s.carrierWebhook},
		{method: "GET", path: "/v1/analytics/kpis", roles: analyst, handle: s.kpis},
		{method: "GET", path: "/v1/analytics/reasons", roles: analyst, handle: s.reasons},
		{method: "GET", path: "/v1/analytics/anomalies", roles: analyst, handle: s.anomalies},
		{method: "POST", path: "/v1/analytics/sales", roles: analyst, handle: s.importSales},
	}
}

// temporalDown reports errors that mean Temporal could not answer now.
func temporalDown(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, new(*serviceerror.Unavailable)) || errors.As(err, new(*serviceerror.DeadlineExceeded))
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request, _ Principal) {
	if s.cfg.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := s.cfg.Ready(ctx); err != nil {
			writeErr(w, http.StatusServiceUnavailable, "not_ready", err.Error())
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) create(w http.ResponseWriter, r *http.Request, p Principal) {
	var req domain.Request
	if !decode(w, r, &req) {
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if len(key) > 200 {
		writeErr(w, http.StatusBadRequest, "invalid_header", "Idempotency-Key must be at most 200 characters")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	res, err := s.cfg.Returns.Create(ctx, key, req, p.Subject)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	status := http.StatusOK
	if res.New {
		status = http.StatusCreated
	}
	w.Header().Set("Location", "/v1/returns/"+res.Return.ID)
	s.log.Info("return opened", zap.String("rma_id", res.Return.ID), zap.Bool("new", res.New), zap.String("subject", p.Subject))
	writeJSON(w, status, res.Return)
}

// get serves the live workflow state, and the read model once the workflow
// has closed past Temporal's retention (or Temporal is unreachable).
func (s *Server) get(w http.ResponseWriter, r *http.Request, _ Principal) {
	ret, err := s.cfg.Returns.Get(r.Context(), r.PathValue("id"))
	if err != nil && s.cfg.Store != nil && (errors.Is(err, starter.ErrNotFound) || temporalDown(err)) {
		ret, err = s.cfg.Store.Get(r.Context(), r.PathValue("id"))
		if errors.Is(err, store.ErrNotFound) {
			err = starter.ErrNotFound
		}
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ret)
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, _ Principal) {
	q := r.URL.Query()
	f := starter.Filter{Status: q.Get("status"), OrderID: q.Get("order_id"), CustomerID: q.Get("customer_id"), SKU: q.Get("sku"), Kind: q.Get("kind")}
	if f.Status != "" && !domain.Status(f.Status).Valid() {
		writeErr(w, http.StatusUnprocessableEntity, "invalid_query", "status "+f.Status+" is not a status", domain.FieldError{Field: "status", Message: "unknown status"})
		return
	}
	size := 50
	if v := q.Get("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 200 {
			writeErr(w, http.StatusUnprocessableEntity, "invalid_query", "page_size must be 1 to 200", domain.FieldError{Field: "page_size", Message: "must be 1 to 200"})
			return
		}
		size = n
	}
	if s.cfg.Store != nil {
		items, next, err := s.cfg.Store.List(r.Context(), store.Filter{Status: f.Status, OrderID: f.OrderID, CustomerID: f.CustomerID, SKU: f.SKU, Kind: f.Kind}, size, q.Get("page_token"))
		if errors.Is(err, store.ErrBadToken) {
			writeErr(w, http.StatusUnprocessableEntity, "invalid_query", "page_token is not one this API gave out")
			return
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		out := map[string]any{"items": items, "next_page_token": nil}
		if items == nil {
			out["items"] = []store.Summary{}
		}
		if next != "" {
			out["next_page_token"] = next
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	var token []byte
	if v := q.Get("page_token"); v != "" {
		var err error
		if token, err = base64.RawURLEncoding.DecodeString(v); err != nil {
			writeErr(w, http.StatusUnprocessableEntity, "invalid_query", "page_token is not one this API gave out")
			return
		}
	}
	page, err := s.cfg.Returns.List(r.Context(), f, size, token)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := map[string]any{"items": page.Items, "next_page_token": nil}
	if page.Items == nil {
		out["items"] = []starter.Summary{}
	}
	if len(page.NextPageToken) > 0 {
		out["next_page_token"] = base64.RawURLEncoding.EncodeToString(page.NextPageToken)
	}
	writeJSON(w, http.StatusOK, out)
}

// command decodes a command body, stamps the caller as actor and sends the
// update. The Idempotency-Key header, when given, is the update ID, so a
// retried command has one effect.
func command[T any](s *Server, name string, stamp func(*T, Principal)) func(http.ResponseWriter, *http.Request, Principal) {
	return func(w http.ResponseWriter, r *http.Request, p Principal) {
		var in T
		if r.ContentLength != 0 && !decode(w, r, &in) {
			return
		}
		stamp(&in, p)
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		defer cancel()
		ret, err := s.cfg.Returns.Update(ctx, r.PathValue("id"), name, r.Header.Get("Idempotency-Key"), in)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.log.Info("command", zap.String("rma_id", r.PathValue("id")), zap.String("command", name), zap.String("subject", p.Subject))
		writeJSON(w, http.StatusOK, ret)
	}
}

// carrierWebhook authenticates by HMAC, refuses replays, and signals the
// return that owns the parcel.
func (s *Server) carrierWebhook(w http.ResponseWriter, r *http.Request, _ Principal) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		writeErr(w, http.StatusRequestEntityTooLarge, "body_too_large", "webhook bodies are at most 64 KiB")
		return
	}
	if err := webhook.Verify(s.cfg.WebhookSecret, r.Header.Get(webhook.Header), body, s.cfg.Now()); err != nil {
		s.log.Warn("webhook refused", zap.Error(err))
		writeErr(w, http.StatusUnauthorized, "invalid_signature", err.Error())
		return
	}
	var ev workflows.CarrierEvent
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		writeErr(w, http.StatusBadRequest, "bad_json", err.Error())
		return
	}
	var problems []domain.FieldError
	if ev.EventID == "" {
		problems = append(problems, domain.FieldError{Field: "event_id", Message: "is required"})
	}
	if ev.TrackingNumber == "" {
		problems = append(problems, domain.FieldError{Field: "tracking_number", Message: "is required"})
	}
	if !ev.Type.Valid() {
		problems = append(problems, domain.FieldError{Field: "type", Message: "must be picked_up, in_transit, delivered or exception"})
	}
	if len(problems) > 0 {
		writeErr(w, http.StatusUnprocessableEntity, "validation_failed", "invalid carrier event", problems...)
		return
	}
	if s.wasSeen(ev.EventID) {
		writeErr(w, http.StatusConflict, "replayed_event", "event "+ev.EventID+" was already delivered")
		return
	}
	id, err := s.cfg.Returns.CarrierEvent(r.Context(), ev)
	if errors.Is(err, starter.ErrNotFound) {
		writeErr(w, http.StatusNotFound, "unknown_parcel", "no return has tracking number "+ev.TrackingNumber)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.markSeen(ev.EventID)
	s.log.Info("carrier event", zap.String("rma_id", id), zap.String("type", string(ev.Type)), zap.String("event_id", ev.EventID))
	writeJSON(w, http.StatusAccepted, map[string]string{"rma_id": id, "event_id": ev.EventID})
}

// seenCap bounds the replay cache; the workflow also dedupes event IDs, so
// an event older than the cache still changes nothing.
const seenCap = 10000

func (s *Server) wasSeen(id string) bool {
	s.seenMu.Lock()
	defer s.seenMu.Unlock()
	_, ok := s.seen[id]
	return ok
}

func (s *Server) markSeen(id string) {
	s.seenMu.Lock()
	defer s.seenMu.Unlock()
	if _, ok := s.seen[id]; ok {
		return
	}
	s.seen[id] = struct{}{}
	s.order = append(s.order, id)
	if len(s.order) > seenCap {
		delete(s.seen, s.order[0])
		s.order = s.order[1:]
	}
}
