package workflows

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/domain"
)

// refuse builds a validator error. Its type ("invalid_transition",
// "invalid_input") lets the API map it to 409 or 422.
func refuse(kind, format string, args ...any) error {
	return temporal.NewApplicationError(fmt.Sprintf(format, args...), kind)
}

// Error types carried by refused updates.
const (
	ErrInvalidTransition = "invalid_transition"
	ErrInvalidInput      = "invalid_input"
)

func (r *returnRun) refuseStatus(cmd string) error {
	return refuse(ErrInvalidTransition, "cannot %s: return %s is %s", cmd, r.in.RMAID, r.v.Status)
}

func need(field, value string) error {
	if strings.TrimSpace(value) == "" {
		return refuse(ErrInvalidInput, "%s is required", field)
	}
	return nil
}

// registerHandlers wires every query, update and signal before the main flow
// starts, so no command can arrive unhandled.
func (r *returnRun) registerHandlers(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (domain.Return, error) { return r.v, nil }); err != nil {
		return fmt.Errorf("register query: %w", err)
	}
	type upd struct {
		name     string
		handler  any
		validate any
	}
	updates := []upd{
		{UpdateApprove, r.onApprove, r.validateApprove},
		{UpdateDecline, r.onDecline, r.validateDecline},
		{UpdateRequestInfo, r.onRequestInfo, r.validateRequestInfo},
		{UpdateInfo, r.onInfo, r.validateInfo},
		{UpdateShippingChoice, r.onShippingChoice, r.validateShippingChoice},
		{UpdateExchangeChoice, r.onExchangeChoice, r.validateExchangeChoice},
		{UpdateCancel, r.onCancel, r.validateCancel},
		{UpdateReceive, r.onReceive, r.validateReceive},
		{UpdateInspection, r.onInspection, r.validateInspection},
		{UpdateSurvey, r.onSurvey, r.validateSurvey},
		{UpdateNote, r.onNote, r.validateNote},
		{UpdateRepairDone, r.onRepairDone, r.validateRepairDone},
		{UpdateResolveAttention, r.onResolveAttention, r.validateResolveAttention},
		{UpdateCreated, r.onCreated, r.validateCreated},
	}
	for _, u := range updates {
		if err := workflow.SetUpdateHandlerWithOptions(ctx, u.name, u.handler, workflow.UpdateHandlerOptions{Validator: u.validate}); err != nil {
			return fmt.Errorf("register update %s: %w", u.name, err)
		}
	}
	workflow.Go(ctx, func(gctx workflow.Context) {
		ch := workflow.GetSignalChannel(gctx, SignalCarrierEvent)
		for {
			var ev CarrierEvent
			ch.Receive(gctx, &ev)
			r.onCarrierEvent(gctx, ev)
		}
	})
	return nil
}

func (r *returnRun) validateCreated(_ workflow.Context, in CreatedInput) error {
	if in.RequestHash != r.in.RequestHash {
		return refuse(ErrIdempotencyConflict, "idempotency key already used for a different request (return %s)", r.in.RMAID)
	}
	return nil
}

func (r *returnRun) onCreated(_ workflow.Context, _ CreatedInput) (CreatedResult, error) {
	r.createAcks++
	return CreatedResult{Created: r.createAcks == 1, Return: r.v}, nil
}

// trackParcel makes a tracking number searchable for carrier webhooks.
func (r *returnRun) trackParcel(ctx workflow.Context, tracking string) {
	if tracking == "" {
		return
	}
	r.trackingNumbers = append(r.trackingNumbers, tracking)
	if err := workflow.UpsertTypedSearchAttributes(ctx, SATracking.ValueSet(r.trackingNumbers)); err != nil {
		r.log.Warn("upsert tracking numbers", "error", err)
	}
}

func (r *returnRun) inReview() bool {
	return r.v.Status == domain.StatusPendingReview || r.v.Status == domain.StatusInfoRequested
}

func (r *returnRun) validateApprove(_ workflow.Context, in ApproveInput) error {
	if !r.inReview() || r.decision != "" {
		return r.refuseStatus("approve")
	}
	return need("actor", in.Actor)
}

func (r *returnRun) onApprove(ctx workflow.Context, in ApproveInput) (domain.Return, error) {
	r.decision, r.replied = "approved", true
	r.addTimeline(ctx, "approve_command", in.Actor, in.Note)
	return r.v, nil
}

func (r *returnRun) validateDecline(_ workflow.Context, in DeclineInput) error {
	if !r.inReview() || r.decision != "" {
		return r.refuseStatus("decline")
	}
	if err := need("actor", in.Actor); err != nil {
		return err
	}
	return need("reason", in.Reason)
}

func (r *returnRun) onDecline(ctx workflow.Context, in DeclineInput) (domain.Return, error) {
	r.decision, r.replied = "declined", true
	r.v.DeclineReason = in.Reason
	r.addTimeline(ctx, "decline_command", in.Actor, strings.TrimSpace(in.Reason+" "+in.Note))
	return r.v, nil
}

func (r *returnRun) validateRequestInfo(_ workflow.Context, in RequestInfoInput) error {
	if r.v.Status != domain.StatusPendingReview || r.decision != "" || r.infoPending {
		return r.refuseStatus("request info")
	}
	if err := need("actor", in.Actor); err != nil {
		return err
	}
	return need("question", in.Question)
}

func (r *returnRun) onRequestInfo(ctx workflow.Context, in RequestInfoInput) (domain.Return, error) {
	r.infoPending, r.replied = true, true
	r.addTimeline(ctx, "info_requested", in.Actor, in.Question)
	return r.v, nil
}

func (r *returnRun) validateInfo(_ workflow.Context, in InfoInput) error {
	if r.v.Status != domain.StatusInfoRequested || r.infoAnswer != nil {
		return r.refuseStatus("supply info")
	}
	return need("answer", in.Answer)
}

func (r *returnRun) onInfo(ctx workflow.Context, in InfoInput) (domain.Return, error) {
	r.infoAnswer = &in
	detail := in.Answer
	if len(in.Photos) > 0 {
		detail += fmt.Sprintf(" (%d photo(s))", len(in.Photos))
	}
	r.addTimeline(ctx, "info_received", actorOr(in.Actor, "customer"), detail)
	return r.v, nil
}

func (r *returnRun) validateShippingChoice(_ workflow.Context, in ShippingChoiceInput) error {
	if r.v.Status != domain.StatusAwaitingShipment || r.shipping != "" {
		if r.shipping != "" {
			return refuse(ErrInvalidTransition, "cannot choose shipping: %s already chosen", r.shipping)
		}
		return r.refuseStatus("choose shipping")
	}
	if in.Method != domain.ShippingPickup && in.Method != domain.ShippingDropoff {
		return refuse(ErrInvalidInput, "method must be pickup or dropoff, not %q", in.Method)
	}
	return nil
}

func (r *returnRun) onShippingChoice(ctx workflow.Context, in ShippingChoiceInput) (domain.Return, error) {
	r.shipping = in.Method
	r.v.ShippingMethod = in.Method
	r.addTimeline(ctx, "shipping_chosen", actorOr(in.Actor, "customer"), string(in.Method))
	return r.v, nil
}

// choiceLine picks the line an exchange choice is for.
func (r *returnRun) choiceLine(lineID string) (string, error) {
	if lineID != "" {
		if !r.awaiting[lineID] {
			return "", refuse(ErrInvalidInput, "line %q is not waiting for an exchange choice", lineID)
		}
		return lineID, nil
	}
	var ids []string
	for _, l := range r.v.Lines {
		if r.awaiting[l.LineID] {
			ids = append(ids, l.LineID)
		}
	}
	if len(ids) != 1 {
		return "", refuse(ErrInvalidInput, "line_id is required: lines %v wait for a choice", ids)
	}
	return ids[0], nil
}

func (r *returnRun) validateExchangeChoice(_ workflow.Context, in ExchangeChoiceInput) error {
	if r.v.Status != domain.StatusAwaitingChoice {
		return r.refuseStatus("choose an exchange option")
	}
	id, err := r.choiceLine(in.LineID)
	if err != nil {
		return err
	}
	if _, done := r.choices[id]; done {
		return refuse(ErrInvalidTransition, "line %s already has a choice", id)
	}
	if !in.Choice.Valid() {
		return refuse(ErrInvalidInput, "choice must be wait, variant, refund or store_credit, not %q", in.Choice)
	}
	if in.Choice == domain.ChoiceVariant {
		return need("sku", in.SKU)
	}
	return nil
}

func (r *returnRun) onExchangeChoice(ctx workflow.Context, in ExchangeChoiceInput) (domain.Return, error) {
	id, _ := r.choiceLine(in.LineID)
	r.choices[id] = in
	r.addTimeline(ctx, "exchange_choice", actorOr(in.Actor, "customer"), strings.TrimSpace(fmt.Sprintf("%s: %s %s", id, in.Choice, in.SKU)))
	return r.v, nil
}

func (r *returnRun) validateCancel(_ workflow.Context, in CancelInput) error {
	ok := r.v.Status.Cancellable() || (r.v.Status == domain.StatusNeedsAttention && !r.received && !r.delivered)
	if !ok || r.cancel != nil || r.received {
		return r.refuseStatus("cancel")
	}
	for _, l := range r.v.Lines {
		if l.Refund != nil {
			return refuse(ErrInvalidTransition, "cannot cancel: line %s is already refunded; receive the parcel instead", l.LineID)
		}
		if l.Replacement != nil && l.Replacement.Shipped {
			return refuse(ErrInvalidTransition, "cannot cancel: the replacement for line %s has shipped", l.LineID)
		}
	}
	return need("actor", in.Actor)
}

func (r *returnRun) onCancel(ctx workflow.Context, in CancelInput) (domain.Return, error) {
	r.cancel = &in
	r.addTimeline(ctx, "cancel_command", in.Actor, in.Reason)
	return r.v, nil
}

func (r *returnRun) validateReceive(_ workflow.Context, in ReceiveInput) error {
	if r.received || !r.labelIssued || (r.v.Status != domain.StatusAwaitingShipment && r.v.Status != domain.StatusInTransit) {
		return r.refuseStatus("receive")
	}
	return need("actor", in.Actor)
}

func (r *returnRun) onReceive(ctx workflow.Context, in ReceiveInput) (domain.Return, error) {
	r.received = true
	if r.arrivedAt.IsZero() {
		r.arrivedAt = workflow.Now(ctx)
	}
	r.stage(ctx, "received")
	r.transition(ctx, domain.StatusReceived, waitOn(domain.WaitingWarehouse), deadlineAt("inspection", r.arrivedAt.Add(r.p.Inspection.Within.D())), "received", in.Actor, in.Note)
	return r.v, nil
}

func (r *returnRun) validateInspection(_ workflow.Context, in InspectionInput) error {
	if r.v.Status != domain.StatusReceived && r.v.Status != domain.StatusInspecting {
		return r.refuseStatus("record inspection")
	}
	if err := need("actor", in.Actor); err != nil {
		return err
	}
	if len(in.Items) == 0 {
		return refuse(ErrInvalidInput, "items: at least one line is required")
	}
	seen := map[string]bool{}
	for i, it := range in.Items {
		l := r.v.Line(it.LineID)
		switch {
		case l == nil || !needsShipment(*l):
			return refuse(ErrInvalidInput, "items[%d].line_id: %q is not a returned line", i, it.LineID)
		case l.Inspection != nil || seen[it.LineID]:
			return refuse(ErrInvalidTransition, "items[%d]: line %s is already inspected", i, it.LineID)
		case it.Result != domain.InspectionPass && it.Result != domain.InspectionFail:
			return refuse(ErrInvalidInput, "items[%d].result must be pass or fail", i)
		case !validDisposition(it.Disposition):
			return refuse(ErrInvalidInput, "items[%d].disposition must be restock, quarantine, repair, dispose or return_to_customer", i)
		case it.Reason != "" && !it.Reason.Valid():
			return refuse(ErrInvalidInput, "items[%d].reason %q is not a reason", i, it.Reason)
		}
		seen[it.LineID] = true
	}
	return nil
}

func validDisposition(d domain.Disposition) bool {
	for _, x := range domain.Dispositions() {
		if x == d {
			return true
		}
	}
	return false
}

func (r *returnRun) onInspection(ctx workflow.Context, in InspectionInput) (domain.Return, error) {
	now := workflow.Now(ctx)
	var parts []string
	for _, it := range in.Items {
		l := r.v.Line(it.LineID)
		ins := &domain.Inspection{Result: it.Result, Disposition: it.Disposition, Note: it.Note, Photos: it.Photos, At: now}
		if it.Reason != "" && it.Reason != l.Reason {
			ins.ReclassifiedFrom = l.Reason
			l.Reason = it.Reason
		}
		l.Inspection = ins
		parts = append(parts, fmt.Sprintf("%s %s→%s", it.LineID, it.Result, it.Disposition))
	}
	r.transition(ctx, domain.StatusInspecting, waitOn(domain.WaitingWarehouse), r.v.Deadline, "inspected", in.Actor, strings.Join(parts, ", "))
	return r.v, nil
}

func (r *returnRun) validateSurvey(_ workflow.Context, in SurveyInput) error {
	if !r.surveyOpen {
		return refuse(ErrInvalidTransition, "cannot answer the survey: it is open only for %s after the return completes (return is %s)", r.p.Survey.Window, r.v.Status)
	}
	if r.v.Survey != nil {
		return refuse(ErrInvalidTransition, "the survey is already answered")
	}
	if in.Score < 1 || in.Score > 5 {
		return refuse(ErrInvalidInput, "score must be 1 to 5")
	}
	return nil
}

func (r *returnRun) onSurvey(ctx workflow.Context, in SurveyInput) (domain.Return, error) {
	r.v.Survey = &domain.Survey{Score: in.Score, Comment: in.Comment, At: workflow.Now(ctx)}
	r.addTimeline(ctx, "survey", actorOr(in.Actor, "customer"), fmt.Sprintf("score %d", in.Score))
	r.record(ctx, "survey", actorOr(in.Actor, "customer"))
	return r.v, nil
}

func (r *returnRun) validateNote(_ workflow.Context, in NoteInput) error {
	if len(r.v.Notes) >= maxNotes {
		return refuse(ErrInvalidInput, "a return holds at most %d notes", maxNotes)
	}
	if err := need("actor", in.Actor); err != nil {
		return err
	}
	return need("note", in.Note)
}

func (r *returnRun) onNote(ctx workflow.Context, in NoteInput) (domain.Return, error) {
	r.v.Notes = append(r.v.Notes, domain.TimelineEntry{At: workflow.Now(ctx), Type: "note", Actor: in.Actor, Detail: in.Note})
	r.addTimeline(ctx, "note", in.Actor, in.Note)
	r.record(ctx, "note", in.Actor)
	return r.v, nil
}

func (r *returnRun) validateRepairDone(_ workflow.Context, in RepairDoneInput) error {
	if !r.awaiting["repair:"+in.LineID] || r.repairsDone[in.LineID] {
		return refuse(ErrInvalidTransition, "cannot complete repair: line %q is not in repair", in.LineID)
	}
	return need("actor", in.Actor)
}

func (r *returnRun) onRepairDone(ctx workflow.Context, in RepairDoneInput) (domain.Return, error) {
	r.repairsDone[in.LineID] = true
	r.addTimeline(ctx, "repair_done", in.Actor, strings.TrimSpace(in.LineID+" "+in.Note))
	return r.v, nil
}

func (r *returnRun) validateResolveAttention(_ workflow.Context, in ResolveAttentionInput) error {
	if r.v.Status != domain.StatusNeedsAttention || r.attention != nil {
		return r.refuseStatus("resolve attention")
	}
	if in.Action != AttentionRetry && in.Action != AttentionAbandon {
		return refuse(ErrInvalidInput, "action must be retry or abandon, not %q", in.Action)
	}
	return need("actor", in.Actor)
}

func (r *returnRun) onResolveAttention(ctx workflow.Context, in ResolveAttentionInput) (domain.Return, error) {
	r.attention = &in
	r.addTimeline(ctx, "attention_"+in.Action, in.Actor, in.Note)
	return r.v, nil
}

func actorOr(a, def string) string {
	if a == "" {
		return def
	}
	return a
}

// onCarrierEvent applies a tracking event once (by event ID). Events for the
// return parcel move it; events for an outbound replacement are tracked but
// hold no status.
func (r *returnRun) onCarrierEvent(ctx workflow.Context, ev CarrierEvent) {
	if ev.EventID == "" || r.seenEvents[ev.EventID] || !ev.Type.Valid() {
		return
	}
	if len(r.seenEvents) >= maxCarrierEvents {
		r.log.Warn("carrier event dropped: per-return cap reached", "event_id", ev.EventID)
		return
	}
	r.seenEvents[ev.EventID] = true
	if ev.OccurredAt.IsZero() {
		ev.OccurredAt = workflow.Now(ctx)
	}
	detail := strings.TrimSpace(ev.TrackingNumber + " " + ev.Detail)
	if ev.TrackingNumber != "" && ev.TrackingNumber == r.v.TrackingNumber {
		r.tracking = append(r.tracking, activities.TrackingEvent{EventID: ev.EventID, Type: ev.Type, OccurredAt: ev.OccurredAt, Detail: ev.Detail})
		r.addTimeline(ctx, "carrier_"+string(ev.Type), "carrier", detail)
		switch ev.Type {
		case domain.CarrierPickedUp, domain.CarrierInTransit:
			r.pickedUp = true
			r.stage(ctx, "picked_up")
		case domain.CarrierDelivered:
			r.pickedUp, r.delivered = true, true
			r.stage(ctx, "picked_up")
			r.stage(ctx, "delivered")
			if r.arrivedAt.IsZero() {
				r.arrivedAt = workflow.Now(ctx)
			}
		case domain.CarrierException:
			if r.v.ClaimID != "" || r.claiming {
				// One claim per parcel; later exceptions are added evidence
				// for support, not new claims.
				r.notify(ctx, activities.ToSupport, "carrier_exception", map[string]string{"tracking": r.v.TrackingNumber, "detail": ev.Detail, "claim_id": r.v.ClaimID})
				return
			}
			r.openClaim(ctx, ev)
		}
		return
	}
	for i := range r.v.Lines {
		rep := r.v.Lines[i].Replacement
		if rep != nil && rep.TrackingNumber != "" && rep.TrackingNumber == ev.TrackingNumber {
			r.addTimeline(ctx, "replacement_"+string(ev.Type), "carrier", detail)
			if ev.Type == domain.CarrierDelivered {
				rep.Delivered = true
			}
			return
		}
	}
	r.log.Info("carrier event for an unknown parcel ignored", "tracking", ev.TrackingNumber)
}

// openClaim files a lost/damaged claim with the tracking record as evidence.
func (r *returnRun) openClaim(ctx workflow.Context, ev CarrierEvent) {
	r.background++
	r.claiming = true
	defer func() { r.background--; r.claiming = false }()
	req := activities.ClaimRequest{
		Key: activities.Key(r.in.RMAID, "carrier-claim"), RMAID: r.in.RMAID, TrackingNumber: r.v.TrackingNumber,
		Detail: ev.Detail, Evidence: append([]activities.TrackingEvent(nil), r.tracking...), DeclaredValue: r.req.Total(),
	}
	var c activities.Claim
	actx := workflow.WithActivityOptions(ctx, activityOptions(classCarrier, "open carrier claim for "+r.v.TrackingNumber))
	if err := workflow.ExecuteActivity(actx, act.OpenCarrierClaim, req).Get(actx, &c); err != nil {
		r.addTimeline(ctx, "claim_failed", "system", err.Error())
		r.notify(ctx, activities.ToSupport, "carrier_claim_failed", map[string]string{"tracking": r.v.TrackingNumber, "error": err.Error()})
		return
	}
	r.v.ClaimID = c.ClaimID
	r.addTimeline(ctx, "carrier_claim", "system", fmt.Sprintf("claim %s opened with %d tracking event(s)", c.ClaimID, len(req.Evidence)))
	r.record(ctx, "carrier_claim", "carrier")
	r.notify(ctx, activities.ToSupport, "carrier_claim_opened", map[string]string{"claim_id": c.ClaimID, "tracking": r.v.TrackingNumber, "detail": ev.Detail})
}

func needsShipment(l domain.LineState) bool {
	return l.Eligible && !l.Returnless && l.Resolution != domain.ResolutionReship
}
