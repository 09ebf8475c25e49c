package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/starter"
	"github.com/rma-dev/rma/store"
	"github.com/rma-dev/rma/webhook"
	"github.com/rma-dev/rma/workflows"
)

// Who may call what. A command's roles are the workflow contract's
// (workflows.CommandRoles), so the API and the update validators agree.
func rolesReaders() []string { return []string{RoleBackend, RoleSupport, RoleWarehouse, RoleCustomer} }

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
		{method: "POST", path: "/v1/returns", roles: []string{RoleBackend}, handle: s.create},
		{method: "GET", path: "/v1/returns", roles: []string{RoleSupport, RoleBackend, RoleAnalyst, RoleWarehouse, RoleCustomer}, handle: s.list},
		{method: "GET", path: "/v1/returns/{id}", roles: rolesReaders(), handle: s.get},
		{method: "POST", path: "/v1/returns/{id}/approve", roles: workflows.CommandRoles(workflows.UpdateApprove), handle: command(s, workflows.UpdateApprove, func(in *workflows.ApproveInput, p Principal) { in.Actor = p.Subject })},
		{method: "POST", path: "/v1/returns/{id}/decline", roles: workflows.CommandRoles(workflows.UpdateDecline), handle: command(s, workflows.UpdateDecline, func(in *workflows.DeclineInput, p Principal) { in.Actor = p.Subject })},
		{method: "POST", path: "/v1/returns/{id}/request-info", roles: workflows.CommandRoles(workflows.UpdateRequestInfo), handle: command(s, workflows.UpdateRequestInfo, func(in *workflows.RequestInfoInput, p Principal) { in.Actor = p.Subject })},
		{method: "POST", path: "/v1/returns/{id}/info", roles: workflows.CommandRoles(workflows.UpdateInfo), handle: command(s, workflows.UpdateInfo, func(in *workflows.InfoInput, p Principal) { in.Actor = p.Subject })},
		{method: "POST", path: "/v1/returns/{id}/shipping-choice", roles: workflows.CommandRoles(workflows.UpdateShippingChoice), handle: command(s, workflows.UpdateShippingChoice, func(in *workflows.ShippingChoiceInput, p Principal) { in.Actor = p.Subject })},
		{method: "POST", path: "/v1/returns/{id}/exchange-choice", roles: workflows.CommandRoles(workflows.UpdateExchangeChoice), handle: command(s, workflows.UpdateExchangeChoice, func(in *workflows.ExchangeChoiceInput, p Principal) { in.Actor = p.Subject })},
		{method: "POST", path: "/v1/returns/{id}/cancel", roles: workflows.CommandRoles(workflows.UpdateCancel), handle: command(s, workflows.UpdateCancel, func(in *workflows.CancelInput, p Principal) { in.Actor = p.Subject })},
		{method: "POST", path: "/v1/returns/{id}/receive", roles: workflows.CommandRoles(workflows.UpdateReceive), handle: command(s, workflows.UpdateReceive, func(in *workflows.ReceiveInput, p Principal) { in.Actor = p.Subject })},
		{method: "POST", path: "/v1/returns/{id}/inspection", roles: workflows.CommandRoles(workflows.UpdateInspection), handle: command(s, workflows.UpdateInspection, func(in *workflows.InspectionInput, p Principal) { in.Actor = p.Subject })},
		{method: "POST", path: "/v1/returns/{id}/survey", roles: []string{RoleCustomer, RoleBackend}, handle: s.survey},
		{method: "POST", path: "/v1/returns/{id}/notes", roles: workflows.CommandRoles(workflows.UpdateNote), handle: command(s, workflows.UpdateNote, func(in *workflows.NoteInput, p Principal) { in.Actor = p.Subject })},
		{method: "POST", path: "/v1/returns/{id}/repair-done", roles: workflows.CommandRoles(workflows.UpdateRepairDone), handle: command(s, workflows.UpdateRepairDone, func(in *workflows.RepairDoneInput, p Principal) { in.Actor = p.Subject })},
		{method: "POST", path: "/v1/returns/{id}/attention", roles: workflows.CommandRoles(workflows.UpdateResolveAttention), handle: command(s, workflows.UpdateResolveAttention, func(in *workflows.ResolveAttentionInput, p Principal) { in.Actor = p.Subject })},
		{method: "POST", path: "/v1/returns/{id}/claim", roles: workflows.CommandRoles(workflows.UpdateAssign), handle: command(s, workflows.UpdateAssign, func(in *workflows.AssignInput, p Principal) {
			in.Actor, in.Assignee = p.Subject, p.Subject
		})},
		{method: "POST", path: "/v1/returns/{id}/assign", roles: workflows.CommandRoles(workflows.UpdateAssign), handle: command(s, workflows.UpdateAssign, func(in *workflows.AssignInput, p Principal) { in.Actor = p.Subject })},
		{method: "GET", path: "/v1/queue", roles: []string{RoleSupport, RoleWarehouse}, handle: s.queue},
		{method: "POST", path: "/v1/returns/{id}/extend", roles: workflows.CommandRoles(workflows.UpdateExtend), handle: command(s, workflows.UpdateExtend, func(in *workflows.ExtendInput, p Principal) { in.Actor = p.Subject })},
		{method: "POST", path: "/v1/returns/{id}/override-refund", roles: workflows.CommandRoles(workflows.UpdateOverrideRefund), handle: command(s, workflows.UpdateOverrideRefund, func(in *workflows.OverrideRefundInput, p Principal) { in.Actor = p.Subject })},
		{method: "POST", path: "/v1/returns/{id}/refund-method", roles: workflows.CommandRoles(workflows.UpdateRefundMethod), handle: command(s, workflows.UpdateRefundMethod, func(in *workflows.RefundMethodInput, p Principal) { in.Actor = p.Subject })},
		{method: "POST", path: "/v1/returns/{id}/inspection-answer", roles: workflows.CommandRoles(workflows.UpdateInspectionAnswer), handle: command(s, workflows.UpdateInspectionAnswer, func(in *workflows.InspectionAnswerInput, p Principal) { in.Actor = p.Subject })},
		{method: "POST", path: "/v1/returns/{id}/dispute-decision", roles: workflows.CommandRoles(workflows.UpdateDisputeDecision), handle: command(s, workflows.UpdateDisputeDecision, func(in *workflows.DisputeDecisionInput, p Principal) { in.Actor = p.Subject })},
		{method: "POST", path: "/v1/returns/{id}/keep-offer", roles: workflows.CommandRoles(workflows.UpdateKeepOffer), handle: command(s, workflows.UpdateKeepOffer, func(in *workflows.KeepOfferInput, p Principal) { in.Actor = p.Subject })},
		{method: "POST", path: "/v1/returns/{id}/keep-answer", roles: workflows.CommandRoles(workflows.UpdateKeepAnswer), handle: command(s, workflows.UpdateKeepAnswer, func(in *workflows.KeepAnswerInput, p Principal) { in.Actor = p.Subject })},
		{method: "POST", path: "/v1/returns/{id}/goodwill", roles: workflows.CommandRoles(workflows.UpdateGoodwill), handle: command(s, workflows.UpdateGoodwill, func(in *workflows.GoodwillInput, p Principal) { in.Actor = p.Subject })},
		{method: "POST", path: "/v1/ops/extend", roles: workflows.CommandRoles(workflows.UpdateExtend), handle: s.extend},
		{method: "GET", path: "/v1/ops/late", roles: []string{RoleSupport}, handle: s.late},
		{method: "GET", path: "/v1/ops/stuck", roles: []string{RoleSupport}, handle: s.stuck},
		{method: "POST", path: "/v1/webhooks/carrier", signed: true, handle: s.carrierWebhook},
		{method: "POST", path: "/v1/webhooks/inventory", signed: true, handle: s.inventoryWebhook},
		{method: "POST", path: "/v1/webhook-endpoints", roles: []string{RoleAdmin, RoleBackend}, handle: s.createEndpoint},
		{method: "GET", path: "/v1/webhook-endpoints", roles: []string{RoleAdmin, RoleBackend}, handle: s.listEndpoints},
		{method: "DELETE", path: "/v1/webhook-endpoints/{id}", roles: []string{RoleAdmin, RoleBackend}, handle: s.deleteEndpoint},
		{method: "POST", path: "/v1/webhook-endpoints/{id}/rotate-secret", roles: []string{RoleAdmin, RoleBackend}, handle: s.rotateEndpointSecret},
		{method: "POST", path: "/v1/webhook-endpoints/{id}/replay", roles: []string{RoleAdmin, RoleBackend}, handle: s.replayEndpoint},
		{method: "GET", path: "/v1/webhook-endpoints/{id}/deliveries", roles: []string{RoleAdmin, RoleBackend}, handle: s.endpointDeliveries},
		{method: "GET", path: "/v1/tasks", roles: []string{RoleSupport}, handle: s.tasks},
		{method: "GET", path: "/v1/carrier-events", roles: []string{RoleSupport}, handle: s.carrierEvents},
		{method: "GET", path: "/v1/analytics/kpis", roles: []string{RoleAnalyst}, handle: s.kpis},
		{method: "GET", path: "/v1/analytics/reasons", roles: []string{RoleAnalyst}, handle: s.reasons},
		{method: "POST", path: "/v1/policies", roles: []string{RoleAdmin}, handle: s.applyPolicy},
		{method: "GET", path: "/v1/policies", roles: []string{RoleAdmin, RoleAnalyst, RoleSupport}, handle: s.policyHistory},
		{method: "POST", path: "/v1/policy/whatif", roles: []string{RoleAnalyst}, handle: s.whatIf},
		{method: "POST", path: "/v1/returns/preview", roles: []string{RoleBackend, RoleCustomer, RoleSupport}, handle: s.preview},
		{method: "GET", path: "/v1/analytics/anomalies", roles: []string{RoleAnalyst}, handle: s.anomalies},
		{method: "POST", path: "/v1/analytics/sales", roles: []string{RoleAnalyst}, handle: s.importSales},
	}
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

// get serves the read model: every answered command has been published
// there before its answer, so a caller reads its own writes, and a read costs
// no Temporal action. A customer token reads only its own customer's
// returns (another's answers 404, so IDs cannot be probed), in the
// customer view.
func (s *Server) get(w http.ResponseWriter, r *http.Request, p Principal) {
	ret, err := s.cfg.Store.Get(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) || (err == nil && p.scoped() && ret.Customer.ID != p.CustomerID) {
		err = starter.ErrNotFound
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, viewFor(p, ret))
}

// viewFor is the return as the principal may see it.
func viewFor(p Principal, ret domain.Return) domain.Return {
	if p.scoped() {
		return ret.CustomerView(p.Subject)
	}
	return ret
}

// owns answers 404 (and false) when a customer token names a return that
// is not its customer's, or that does not exist.
func (s *Server) owns(w http.ResponseWriter, r *http.Request, p Principal) bool {
	if !p.scoped() {
		return true
	}
	c, err := s.cfg.Store.CustomerOf(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) || (err == nil && c != p.CustomerID) {
		err = starter.ErrNotFound
	}
	if err != nil {
		s.fail(w, r, err)
		return false
	}
	return true
}

// list serves the read model's list; a customer token's list holds only
// its own customer's returns, whatever customer_id it asks for.
// queue lists a work queue, soonest deadline first: support's (the
// default) or, with role=warehouse, the parcels to receive and inspect.
// Each role sees its own queue; admin sees both.
func (s *Server) queue(w http.ResponseWriter, r *http.Request, p Principal) {
	q := r.URL.Query()
	f := store.QueueFilter{Queue: q.Get("role"), Team: q.Get("team"), Assignee: q.Get("assignee")}
	if f.Queue == "" {
		f.Queue = store.QueueSupport
		if !domain.HasAnyRole(p.Roles, []string{RoleSupport}) {
			f.Queue = store.QueueWarehouse
		}
	}
	switch {
	case f.Queue != store.QueueSupport && f.Queue != store.QueueWarehouse:
		writeErr(w, http.StatusUnprocessableEntity, "invalid_query", "role must be support or warehouse", domain.FieldError{Field: "role", Message: "support or warehouse"})
		return
	case !domain.HasAnyRole(p.Roles, []string{f.Queue}):
		writeErr(w, http.StatusForbidden, "forbidden", "the "+f.Queue+" queue needs the "+f.Queue+" role")
		return
	}
	if f.Assignee == "me" {
		f.Assignee = p.Subject
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			writeErr(w, http.StatusUnprocessableEntity, "invalid_query", "limit must be 1 to 500", domain.FieldError{Field: "limit", Message: "1 to 500"})
			return
		}
		f.Limit = n
	}
	items, err := s.cfg.Store.Queue(r.Context(), f, s.cfg.Now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	overdue := 0
	for _, it := range items {
		if it.Overdue {
			overdue++
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"queue": f.Queue, "items": items, "overdue": overdue})
}

// ExtendRequest is a bulk deadline extension (POST /v1/ops/extend).
type ExtendRequest struct {
	// Query is a Temporal visibility query over rma's search attributes,
	// e.g. RmaStatus="awaiting_shipment"; only running returns match.
	Query  string `json:"query"`
	By     string `json:"by"`
	Reason string `json:"reason"`
	DryRun bool   `json:"dry_run,omitempty"`
	// Limit bounds how many returns one call touches (default 200, at most
	// 1,000).
	Limit int `json:"limit,omitempty"`
}

// extend moves the deadlines of every running return a query selects,
// in bounded batches; dry_run lists what would move. The Idempotency-Key
// makes a retried call extend nothing twice.
func (s *Server) extend(w http.ResponseWriter, r *http.Request, p Principal) {
	var req ExtendRequest
	if !decode(w, r, &req) {
		return
	}
	if strings.TrimSpace(req.Query) == "" {
		writeErr(w, http.StatusUnprocessableEntity, "invalid_field", "query is required (a visibility query, e.g. RmaStatus=\"awaiting_shipment\")", domain.FieldError{Field: "query", Message: "is required"})
		return
	}
	if req.Limit == 0 {
		req.Limit = 200
	}
	if req.Limit < 1 || req.Limit > 1000 {
		writeErr(w, http.StatusUnprocessableEntity, "invalid_field", "limit must be 1 to 1000", domain.FieldError{Field: "limit", Message: "1 to 1000"})
		return
	}
	in := workflows.ExtendInput{Actor: p.Subject, By: req.By, Reason: req.Reason}
	in.SetActorRoles(p.Roles)
	key := r.Header.Get("Idempotency-Key")
	if key == "" && !req.DryRun {
		// Sent again, the same extension must not add time twice.
		writeErr(w, http.StatusUnprocessableEntity, "invalid_header", "a bulk extension needs an Idempotency-Key header (the same key for a retry)")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Minute)
	defer cancel()
	rep, err := s.cfg.Returns.ExtendMatching(ctx, req.Query, in, key, req.DryRun, req.Limit, s.cfg.Store.Get)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Info("bulk extension", zap.String("subject", p.Subject), zap.String("query", req.Query), zap.String("by", req.By),
		zap.Bool("dry_run", req.DryRun), zap.Int("matched", rep.Matched), zap.Int("extended", rep.Extended))
	writeJSON(w, http.StatusOK, rep)
}

// late lists open returns past their deadline or with a breached SLA.
func (s *Server) late(w http.ResponseWriter, r *http.Request, _ Principal) {
	items, err := s.cfg.Store.Late(r.Context(), s.cfg.Now(), 1000)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"at": s.cfg.Now().UTC(), "items": items})
}

// stuck lists returns that cannot go on by themselves, with the last error.
func (s *Server) stuck(w http.ResponseWriter, r *http.Request, _ Principal) {
	items, err := s.cfg.Store.Stuck(r.Context(), 1000)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, p Principal) {
	q := r.URL.Query()
	f := store.Filter{Status: q.Get("status"), OrderID: q.Get("order_id"), CustomerID: q.Get("customer_id"), SKU: q.Get("sku"), Kind: q.Get("kind")}
	if p.scoped() {
		f.CustomerID = p.CustomerID
	}
	if f.Status != "" && !domain.Status(f.Status).Valid() {
		writeErr(w, http.StatusUnprocessableEntity, "invalid_query", "status "+f.Status+" is not a status", domain.FieldError{Field: "status", Message: "unknown status"})
		return
	}
	size, ok := pageSize(w, q.Get("page_size"))
	if !ok {
		return
	}
	items, next, err := s.cfg.Store.List(r.Context(), f, size, q.Get("page_token"))
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
}

func pageSize(w http.ResponseWriter, v string) (int, bool) {
	if v == "" {
		return 50, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 200 {
		writeErr(w, http.StatusUnprocessableEntity, "invalid_query", "page_size must be 1 to 200", domain.FieldError{Field: "page_size", Message: "must be 1 to 200"})
		return 0, false
	}
	return n, true
}

// commandTimeout bounds how long an HTTP command waits for the workflow's
// answer. A command waits for the partner calls its stage runs (booking the
// label after the shipping choice), so a partner that is down can hold it.
const commandTimeout = 20 * time.Second

// command decodes a command body, stamps the caller as actor, checks the
// payload's caps (a refusal here costs no Temporal round trip), sends the
// update and answers with the return as the read model shows it after the
// command. The Idempotency-Key header, when given, is the update ID, so a
// retried command has one effect.
func command[T interface{ Validate() error }](s *Server, name string, stamp func(*T, Principal)) func(http.ResponseWriter, *http.Request, Principal) {
	return func(w http.ResponseWriter, r *http.Request, p Principal) {
		var in T
		if r.ContentLength != 0 && !decode(w, r, &in) {
			return
		}
		stamp(&in, p)
		any(&in).(interface{ SetActorRoles([]string) }).SetActorRoles(p.Roles)
		if err := in.Validate(); err != nil {
			s.fail(w, r, err)
			return
		}
		if !s.owns(w, r, p) {
			return
		}
		id := r.PathValue("id")
		ctx, cancel := context.WithTimeout(r.Context(), commandTimeout)
		defer cancel()
		res, err := s.cfg.Returns.Update(ctx, id, name, r.Header.Get("Idempotency-Key"), in)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		ret, err := s.cfg.Store.Get(r.Context(), id)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.log.Info("command", zap.String("rma_id", id), zap.String("command", name), zap.String("subject", p.Subject),
			zap.String("status", string(res.Status)), zap.Int64("seq", res.Seq))
		writeJSON(w, http.StatusOK, viewFor(p, ret))
	}
}

// survey stores the customer's answer in the read model: the survey opens
// when the return completes, after its workflow has ended.
func (s *Server) survey(w http.ResponseWriter, r *http.Request, p Principal) {
	var in workflows.SurveyInput
	if !decode(w, r, &in) {
		return
	}
	in.Actor = p.Subject
	if err := in.Validate(); err != nil {
		s.fail(w, r, err)
		return
	}
	if !s.owns(w, r, p) {
		return
	}
	ret, err := s.cfg.Store.AnswerSurvey(r.Context(), r.PathValue("id"), domain.Survey{Score: in.Score, Comment: in.Comment}, in.Actor, s.cfg.Now())
	var ref *store.SurveyRefusal
	switch {
	case errors.As(err, &ref):
		writeErrStatus(w, http.StatusConflict, workflows.ErrInvalidTransition, "cannot answer the survey: "+ref.Error(), string(ref.Status))
	case errors.Is(err, store.ErrNotFound):
		s.fail(w, r, starter.ErrNotFound)
	case err != nil:
		s.fail(w, r, err)
	default:
		writeJSON(w, http.StatusOK, viewFor(p, ret))
	}
}

// carrierWebhook authenticates by HMAC, stores the event (the tracking
// record), and hands it to the return that owns the parcel. An event for a
// parcel no return owns yet is kept and answered 503 with Retry-After, so
// the carrier sends it again; a replay changes nothing and answers 409.
func (s *Server) carrierWebhook(w http.ResponseWriter, r *http.Request, _ Principal) {
	body, ok := s.signedBody(w, r)
	if !ok {
		return
	}
	ev, err := parseCarrierEvent(body, s.cfg.Now())
	var ve *domain.ValidationError
	switch {
	case errors.As(err, &ve):
		s.fail(w, r, err)
		return
	case err != nil:
		writeErr(w, http.StatusBadRequest, "bad_json", err.Error())
		return
	}
	te := activities.TrackingEvent{EventID: ev.EventID, TrackingNumber: ev.TrackingNumber, Type: ev.Type, OccurredAt: ev.OccurredAt, Detail: ev.Detail}
	rt, err := s.cfg.Store.AcceptCarrierEvent(r.Context(), te)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	log := s.log.With(zap.String("rma_id", rt.RMAID), zap.String("event_id", ev.EventID), zap.String("type", string(ev.Type)), zap.String("tracking", ev.TrackingNumber))
	switch rt.Routing {
	case store.Replayed:
		writeErr(w, http.StatusConflict, "replayed_event", "event "+ev.EventID+" was already delivered")
		return
	case store.Unrouted:
		log.Warn("carrier event for an unknown parcel kept; the carrier is asked to retry")
		w.Header().Set("Retry-After", "30")
		writeErr(w, http.StatusServiceUnavailable, "unknown_parcel", "no return has tracking number "+ev.TrackingNumber+" yet; the event is kept, retry later")
		return
	case store.Signal:
		err := s.cfg.Returns.Signal(r.Context(), rt.RMAID, ev)
		switch {
		case errors.Is(err, starter.ErrNotFound):
			// The return's workflow has ended (a replacement delivered
			// after the exchange completed): note it in the read model.
			err = s.cfg.Store.RecordLateEvent(r.Context(), rt.RMAID, te)
		case err == nil:
			err = s.cfg.Store.EventSignalled(r.Context(), ev.EventID)
		}
		if err != nil {
			// Kept but not delivered: the carrier's retry delivers it.
			s.fail(w, r, err)
			return
		}
	}
	log.Info("carrier event", zap.Bool("signalled", rt.Routing == store.Signal))
	writeJSON(w, http.StatusAccepted, map[string]string{"rma_id": rt.RMAID, "event_id": ev.EventID})
}

// signedBody reads a partner webhook's body (at most 64 KiB) and checks
// its X-RMA-Signature; on a refusal it has answered.
func (s *Server) signedBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		writeErr(w, http.StatusRequestEntityTooLarge, "body_too_large", "webhook bodies are at most 64 KiB")
		return nil, false
	}
	if err := webhook.Verify(s.cfg.WebhookSecret, r.Header.Get(webhook.Header), body, s.cfg.Now()); err != nil {
		s.log.Warn("webhook refused", zap.String("path", r.URL.Path), zap.Error(err))
		writeErr(w, http.StatusUnauthorized, "invalid_signature", err.Error())
		return nil, false
	}
	return body, true
}

// parseCarrierEvent reads a webhook body strictly: one JSON object of
// known fields, valid by CarrierEvent.Validate (a *domain.ValidationError
// otherwise). A missing occurred_at is the time it arrived.
func parseCarrierEvent(body []byte, now time.Time) (workflows.CarrierEvent, error) {
	var ev workflows.CarrierEvent
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		return ev, fmt.Errorf("decode carrier event: %w", err)
	}
	if dec.More() {
		return ev, errors.New("decode carrier event: one JSON object expected")
	}
	if err := ev.Validate(); err != nil {
		return ev, err
	}
	if ev.OccurredAt.IsZero() {
		ev.OccurredAt = now.UTC()
	}
	return ev, nil
}

// tasks lists support's open tasks (all=true: closed ones too).
func (s *Server) tasks(w http.ResponseWriter, r *http.Request, _ Principal) {
	size, ok := pageSize(w, r.URL.Query().Get("page_size"))
	if !ok {
		return
	}
	ts, err := s.cfg.Store.Tasks(r.Context(), r.URL.Query().Get("all") == "true", size)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": ts})
}

// carrierEvents lists events of parcels no return owns.
func (s *Server) carrierEvents(w http.ResponseWriter, r *http.Request, _ Principal) {
	if r.URL.Query().Get("unrouted") != "true" {
		writeErr(w, http.StatusUnprocessableEntity, "invalid_query", "only unrouted=true is supported: a return's events are on its timeline", domain.FieldError{Field: "unrouted", Message: "must be true"})
		return
	}
	size, ok := pageSize(w, r.URL.Query().Get("page_size"))
	if !ok {
		return
	}
	evs, err := s.cfg.Store.UnroutedEvents(r.Context(), size)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": evs})
}
