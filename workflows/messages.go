package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/domain"
)

// Messages: update validators check a command against the stage and the
// payload's caps; handlers queue it and wait until the main flow has applied
// it and published its effect, then answer the status and the read model's
// seq. Carrier events queue on their signal channel and the main flow applies
// them too. Handlers never change the view, never run activities.

// refuse builds a validator error. Its type ("invalid_transition",
// "invalid_input") lets the API map it to 409 or 422.
func refuse(kind, format string, args ...any) error {
	return temporal.NewApplicationError(fmt.Sprintf(format, args...), kind)
}

// verbs name each command in refusals: "cannot approve: ...".
func verb(name string) string {
	switch name {
	case UpdateRequestInfo:
		return "request info"
	case UpdateInfo:
		return "supply info"
	case UpdateShippingChoice:
		return "choose shipping"
	case UpdateExchangeChoice:
		return "choose an exchange option"
	case UpdateInspection:
		return "record inspection"
	case UpdateNote:
		return "add a note"
	case UpdateAssign:
		return "assign"
	case UpdateExtend:
		return "extend the deadline"
	case UpdateOverrideRefund:
		return "override the refund"
	case UpdateGoodwill:
		return "grant goodwill"
	case UpdateRefundMethod:
		return "choose the refund method"
	case UpdateInspectionAnswer:
		return "answer the inspection"
	case UpdateDisputeDecision:
		return "decide the dispute"
	case UpdateKeepOffer:
		return "offer a discount to keep the item"
	case UpdateKeepAnswer:
		return "answer the keep offer"
	case UpdateRepairDone:
		return "complete repair"
	case UpdateResolveAttention:
		return "resolve attention"
	}
	return name
}

func (r *returnRun) refuseStatus(name string) error {
	if (r.stage == stageWorking || r.stage == stageIrrevocable) && r.doing != "" {
		// A command the return's waits take, sent while a partner call
		// runs: say so, since the status alone reads as if it fitted.
		return refuse(ErrInvalidTransition, "cannot %s: return %s is %s and busy %s; retry in a moment", verb(name), r.in.RMAID, r.v.Status, r.doing)
	}
	return refuse(ErrInvalidTransition, "cannot %s: return %s is %s", verb(name), r.in.RMAID, r.v.Status)
}

// command is an accepted update waiting for the main flow.
type command struct {
	name    string
	line    string // the line a per-line command is for
	apply   func(ctx workflow.Context) error
	applied bool
	done    bool
	result  CommandResult
	err     error
}

// validatable is every command payload.
type validatable interface {
	Validate() error
	actorRoles() []string
}

// handle registers one update: a validator (shape, stage, the command's own
// rule) and a handler that queues the command and waits for its answer.
func handle[T validatable](ctx workflow.Context, r *returnRun, name string, rule func(T) error, apply func(workflow.Context, T) error) error {
	validate := func(_ workflow.Context, in T) error {
		if err := in.Validate(); err != nil {
			return refuse(ErrInvalidInput, "%s", strings.TrimPrefix(err.Error(), "invalid request: "))
		}
		if name == UpdateCancel && rule != nil {
			// Say why a cancel is refused (the parcel was delivered, the
			// replacement is being shipped), not only the status.
			if err := rule(in); err != nil {
				return err
			}
		}
		if !r.stage.accepts(name) {
			return r.refuseStatus(name)
		}
		if rule != nil {
			return rule(in)
		}
		return nil
	}
	handler := func(ctx workflow.Context, in T) (CommandResult, error) {
		c := &command{name: name}
		if l, ok := any(in).(interface{ commandLine() string }); ok {
			c.line = l.commandLine()
		}
		c.apply = func(actx workflow.Context) error {
			// The stage may have moved on between validation and now
			// (a deadline fired in the same task): check again.
			if err := validate(actx, in); err != nil {
				return err
			}
			return apply(actx, in)
		}
		r.inbox = append(r.inbox, c)
		r.wake.SendAsync(true)
		// Wait on a disconnected context: an operator cancelling the
		// workflow must not make a handler answer "cancelled" for a
		// command the main flow then applies; finish answers every one.
		dctx, _ := workflow.NewDisconnectedContext(ctx)
		if err := workflow.Await(dctx, func() bool { return c.done }); err != nil {
			return CommandResult{}, err
		}
		return c.result, c.err
	}
	// Only the validator checks the actor's roles: they cannot change
	// between validation and the main flow applying the command, and
	// commands accepted before roles were stamped replay as they ran.
	validateActor := func(vctx workflow.Context, in T) error {
		if roles := CommandRoles(name); !domain.HasAnyRole(in.actorRoles(), roles) {
			return refuse(ErrForbidden, "cannot %s: the actor needs one of the roles %s", verb(name), strings.Join(roles, ", "))
		}
		return validate(vctx, in)
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, name, handler, workflow.UpdateHandlerOptions{Validator: validateActor}); err != nil {
		return fmt.Errorf("register update %s: %w", name, err)
	}
	return nil
}

// registerHandlers wires the query and every update before the main flow
// starts, so no command arrives unhandled.
func (r *returnRun) registerHandlers(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (domain.Return, error) { return r.v, nil }); err != nil {
		return fmt.Errorf("register query: %w", err)
	}
	regs := []func() error{
		func() error {
			return handle(ctx, r, UpdateApprove, func(ApproveInput) error { return r.ruleDecide(UpdateApprove) }, r.applyApprove)
		},
		func() error {
			return handle(ctx, r, UpdateDecline, func(DeclineInput) error { return r.ruleDecide(UpdateDecline) }, r.applyDecline)
		},
		func() error { return handle(ctx, r, UpdateRequestInfo, r.ruleRequestInfo, r.applyRequestInfo) },
		func() error {
			return handle(ctx, r, UpdateInfo, func(InfoInput) error { return r.ruleOnce(UpdateInfo) }, r.applyInfo)
		},
		func() error {
			return handle(ctx, r, UpdateShippingChoice, func(ShippingChoiceInput) error { return r.ruleOnce(UpdateShippingChoice) }, r.applyShippingChoice)
		},
		func() error { return handle(ctx, r, UpdateExchangeChoice, r.ruleExchangeChoice, r.applyExchangeChoice) },
		func() error { return handle(ctx, r, UpdateCancel, r.ruleCancel, r.applyCancel) },
		func() error { return handle(ctx, r, UpdateReceive, r.ruleReceive, r.applyReceive) },
		func() error { return handle(ctx, r, UpdateInspection, r.ruleInspection, r.applyInspection) },
		func() error { return handle(ctx, r, UpdateNote, r.ruleNote, r.applyNote) },
		func() error { return handle(ctx, r, UpdateAssign, r.ruleAssign, r.applyAssign) },
		func() error { return handle(ctx, r, UpdateExtend, r.ruleExtend, r.applyExtend) },
		func() error { return handle(ctx, r, UpdateOverrideRefund, r.ruleOverrideRefund, r.applyOverrideRefund) },
		func() error { return handle(ctx, r, UpdateGoodwill, r.ruleGoodwill, r.applyGoodwill) },
		func() error { return handle(ctx, r, UpdateRefundMethod, r.ruleRefundMethod, r.applyRefundMethod) },
		func() error { return handle(ctx, r, UpdateKeepOffer, r.ruleKeepOffer, r.applyKeepOffer) },
		func() error { return handle(ctx, r, UpdateKeepAnswer, r.ruleKeepAnswer, r.applyKeepAnswer) },
		func() error {
			return handle(ctx, r, UpdateInspectionAnswer, r.ruleInspectionAnswer, r.applyInspectionAnswer)
		},
		func() error {
			return handle(ctx, r, UpdateDisputeDecision, r.ruleDisputeDecision, r.applyDisputeDecision)
		},
		func() error { return handle(ctx, r, UpdateRepairDone, r.ruleRepairDone, r.applyRepairDone) },
		func() error {
			return handle(ctx, r, UpdateResolveAttention, func(ResolveAttentionInput) error { return r.ruleOnce(UpdateResolveAttention) }, r.applyResolveAttention)
		},
	}
	for _, reg := range regs {
		if err := reg(); err != nil {
			return err
		}
	}
	return nil
}

// queued counts the queued, not yet applied commands of a name (the caps
// count them with what is already applied).
func (r *returnRun) queued(name string) int {
	n := 0
	for _, c := range r.inbox {
		if c.name == name {
			n++
		}
	}
	return n
}

// beyondSupport reports an amount of money (an override's change, a
// goodwill grant, a keep offer) beyond the policy's support limit sent by
// an actor without the admin role.
func (r *returnRun) beyondSupport(amount int64, roles []string) bool {
	return r.p.Overrides.NeedsAdmin(amount) && !domain.HasAnyRole(roles, []string{domain.RoleAdmin})
}

// pending reports a queued, not yet applied command of a name.
func (r *returnRun) pending(name string) bool {
	for _, c := range r.inbox {
		if c.name == name {
			return true
		}
	}
	return false
}

// settle applies what arrived since the main flow last looked: carrier
// events first (they are facts), then commands in the order they were
// accepted. A cancel returns errCancelled once applied.
func (r *returnRun) settle(ctx workflow.Context) error {
	for {
		var ev CarrierEvent
		if !r.signals.ReceiveAsync(&ev) {
			break
		}
		r.onCarrierEvent(ctx, ev)
	}
	for {
		var ev RestockEvent
		if !r.restocks.ReceiveAsync(&ev) {
			break
		}
		r.onRestock(ctx, ev)
	}
	r.wake.ReceiveAsync(nil)
	for len(r.inbox) > 0 {
		c := r.inbox[0]
		r.inbox = r.inbox[1:]
		if err := c.apply(ctx); err != nil {
			c.err, c.done = err, true
			continue
		}
		c.applied = true
		r.dirty = true
		r.answering = append(r.answering, c)
	}
	if r.claim != nil && r.claim.IsReady() {
		r.claimDone(ctx)
	}
	if r.cancel != nil && !r.undoing {
		return errCancelled
	}
	return nil
}

// answer completes the commands the last publication covers.
func (r *returnRun) answer() {
	for _, c := range r.answering {
		c.result, c.done = CommandResult{Status: r.v.Status, Seq: r.published}, true
	}
	r.answering = nil
}

// refuseQueued answers every command still queued when the run closes.
func (r *returnRun) refuseQueued() {
	for _, c := range r.inbox {
		c.err, c.done = refuse(ErrInvalidTransition, "cannot %s: return %s is %s", verb(c.name), r.in.RMAID, r.v.Status), true
	}
	r.inbox = nil
}

// Rules: what a command needs beyond its stage.

func (r *returnRun) ruleOnce(name string) error {
	if r.pending(name) {
		return refuse(ErrInvalidTransition, "cannot %s: the same command is already being applied", verb(name))
	}
	return nil
}

func (r *returnRun) ruleDecide(name string) error {
	if r.decision != "" || r.pending(UpdateApprove) || r.pending(UpdateDecline) {
		return r.refuseStatus(name)
	}
	return nil
}

func (r *returnRun) ruleRequestInfo(RequestInfoInput) error {
	switch {
	case r.decision != "" || r.pending(UpdateApprove) || r.pending(UpdateDecline) || r.pending(UpdateRequestInfo):
		return r.refuseStatus(UpdateRequestInfo)
	case r.infoRounds >= domain.MaxInfoRounds:
		return refuse(ErrInvalidTransition, "cannot request info: already asked %d times; decide now", r.infoRounds)
	}
	return nil
}

// choiceLine picks the line an exchange choice is for.
func (r *returnRun) choiceLine(lineID string) (string, error) {
	if lineID != "" {
		if !r.awaiting[lineID] {
			return "", refuse(ErrInvalidInput, "line_id: line %q is not waiting for an exchange choice", lineID)
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
		return "", refuse(ErrInvalidInput, "line_id: is required: lines %v wait for a choice", ids)
	}
	return ids[0], nil
}

func (r *returnRun) ruleExchangeChoice(in ExchangeChoiceInput) error {
	id, err := r.choiceLine(in.LineID)
	if err != nil {
		return err
	}
	if _, done := r.choices[id]; done || r.pending(UpdateExchangeChoice) {
		return refuse(ErrInvalidTransition, "cannot choose an exchange option: line %s already has a choice", id)
	}
	return nil
}

// cancelRefusal says why a cancel cannot be taken now: once the warehouse
// has the parcel, or money or goods have left (or are leaving, or may have
// left in a step whose outcome support has yet to settle), cancelling would
// give something away.
func (r *returnRun) cancelRefusal() error {
	switch {
	case r.cancel != nil || r.undoing || r.pending(UpdateCancel):
		return refuse(ErrInvalidTransition, "cannot cancel: return %s is already being cancelled or expired", r.in.RMAID)
	case r.stage == stageIrrevocable:
		return refuse(ErrInvalidTransition, "cannot cancel: %s is under way", r.doing)
	case r.failed != nil && !r.failed.cancelSafe:
		return refuse(ErrInvalidTransition, "cannot cancel: the outcome of %s is unknown; support retries it or abandons the return", r.failed.name)
	}
	if why := r.leftIrrevocably(); why != "" {
		return refuse(ErrInvalidTransition, "cannot cancel: %s", why)
	}
	return nil
}

// leftIrrevocably says what has happened that a cancel cannot undo, or "".
func (r *returnRun) leftIrrevocably() string {
	switch {
	case r.parcel.received:
		return fmt.Sprintf("return %s is received", r.in.RMAID)
	case r.parcel.delivered:
		return fmt.Sprintf("the parcel was delivered to the warehouse at %s; inspect it instead", domain.FormatTime(r.parcel.arrivedAt))
	case r.fastLane() && r.parcel.pickedUp:
		return "the carrier has the parcel and the VIP refund is paid at the first scan; receive the parcel instead"
	}
	for _, l := range r.v.Lines {
		if l.Refund != nil {
			return fmt.Sprintf("line %s is already refunded; send the parcel back instead", l.LineID)
		}
		if l.Replacement != nil && l.Replacement.Shipped {
			return fmt.Sprintf("the replacement for line %s has shipped", l.LineID)
		}
		if l.OutboundTracking != "" {
			return fmt.Sprintf("goods for line %s have shipped", l.LineID)
		}
	}
	return ""
}

// fastLane reports a VIP return refunded at the first carrier scan.
func (r *returnRun) fastLane() bool {
	return r.p.FastLane.Enabled && r.req.Customer.Tier == domain.TierVIP
}

func (r *returnRun) ruleCancel(CancelInput) error { return r.cancelRefusal() }

func (r *returnRun) ruleReceive(ReceiveInput) error {
	if !r.parcel.expected() || r.pending(UpdateReceive) || r.undoing {
		if r.parcel.tracking == "" {
			return refuse(ErrInvalidTransition, "cannot receive: return %s has no return label yet (it is %s)", r.in.RMAID, r.v.Status)
		}
		return r.refuseStatus(UpdateReceive)
	}
	return nil
}

func (r *returnRun) ruleInspection(in InspectionInput) error {
	if r.stage == stageParcel && !r.parcel.expected() {
		return refuse(ErrInvalidTransition, "cannot record inspection: return %s has no return label yet", r.in.RMAID)
	}
	queued := map[string]bool{}
	for _, c := range r.inbox {
		if c.name == UpdateInspection {
			return refuse(ErrInvalidTransition, "cannot record inspection: another inspection is being applied; retry")
		}
	}
	for i, it := range in.Items {
		l := r.v.Line(it.LineID)
		switch {
		case l == nil || !l.NeedsShipment():
			return refuse(ErrInvalidInput, "items[%d].line_id: %q is not a returned line", i, it.LineID)
		case l.Inspection != nil || queued[it.LineID]:
			return refuse(ErrInvalidTransition, "items[%d]: line %s is already inspected", i, it.LineID)
		}
		queued[it.LineID] = true
		if err := r.ruleChecks(i, *l, it); err != nil {
			return err
		}
	}
	return nil
}

// ruleChecks holds an inspection to the policy: a line passes only with
// its category's checks recorded ok (cn-7day: food keeps its seal), and a
// loss of value is deducted only where the policy allows it (eu-crd), in
// the line's currency and up to its value.
func (r *returnRun) ruleChecks(i int, l domain.LineState, it InspectionItem) error {
	// Returns started before this check replay the inspections they took.
	if why := dispositionMismatch(it); why != "" && r.in.Features >= 1 {
		return refuse(ErrInvalidInput, "items[%d].disposition: %s", i, why)
	}
	if it.Result == domain.InspectionPartial {
		switch {
		case it.PassedUnits >= l.Quantity:
			return refuse(ErrInvalidInput, "items[%d].passed_units: %d of %d units is not partial: record pass", i, it.PassedUnits, l.Quantity)
		case !l.Resolution.PaysMoney():
			return refuse(ErrInvalidInput, "items[%d].result: a %s line passes or fails whole; partial is for refund, store credit and keep-it lines", i, l.Resolution)
		}
	}
	if it.Result == domain.InspectionPass || it.Result == domain.InspectionPartial {
		for _, c := range r.p.Inspection.Checks[l.Category] {
			ok, recorded := it.Checks[c]
			switch {
			case !recorded:
				return refuse(ErrInvalidInput, "items[%d].checks.%s: a %s line passes only with its %s checked (policy inspection.checks)", i, c, l.Category, strings.Join(r.p.Inspection.Checks[l.Category], ", "))
			case !ok:
				return refuse(ErrInvalidInput, "items[%d].checks.%s: failed, so the line cannot pass: record it as fail", i, c)
			}
		}
	}
	if v := it.ValueLoss; v != nil {
		switch value := l.Value(); {
		case !r.p.Inspection.ValueLossDeduction:
			return refuse(ErrInvalidInput, "items[%d].value_loss: the policy allows no deduction for loss of value", i)
		case v.Currency != value.Currency || v.Amount > value.Amount:
			return refuse(ErrInvalidInput, "items[%d].value_loss: must be in %s and at most the line's %s", i, value.Currency, value)
		}
	}
	return nil
}

func (r *returnRun) ruleNote(NoteInput) error {
	if len(r.v.Notes)+r.queued(UpdateNote) >= domain.MaxNotes {
		return refuse(ErrInvalidInput, "note: a return holds at most %d notes", domain.MaxNotes)
	}
	return nil
}

func (r *returnRun) ruleRepairDone(in RepairDoneInput) error {
	if !r.awaiting["repair:"+in.LineID] || r.repairs[in.LineID] || r.pending(UpdateRepairDone) {
		return refuse(ErrInvalidTransition, "cannot complete repair: line %q is not in repair", in.LineID)
	}
	return nil
}

// Applies: what the main flow does with each command.

func actorOr(a, def string) string {
	if a == "" {
		return def
	}
	return a
}

func (r *returnRun) applyApprove(ctx workflow.Context, in ApproveInput) error {
	r.decision, r.decidedBy = "approved", in.Actor
	r.addTimeline(ctx, "approve_command", in.Actor, in.Note)
	return nil
}

func (r *returnRun) applyDecline(ctx workflow.Context, in DeclineInput) error {
	r.decision, r.decidedBy = "declined", in.Actor
	r.v.DeclineReason = in.Reason
	r.addTimeline(ctx, "decline_command", in.Actor, strings.TrimSpace(in.Reason+" "+in.Note))
	return nil
}

func (r *returnRun) applyRequestInfo(ctx workflow.Context, in RequestInfoInput) error {
	r.infoAsked, r.decidedBy = true, in.Actor
	r.infoRounds++
	r.addTimeline(ctx, "info_requested", in.Actor, in.Question)
	return nil
}

func (r *returnRun) applyInfo(ctx workflow.Context, in InfoInput) error {
	r.infoAnswer = &in
	detail := in.Answer
	if len(in.Photos) > 0 {
		detail += fmt.Sprintf(" (%d photo(s))", len(in.Photos))
	}
	r.addTimeline(ctx, "info_received", actorOr(in.Actor, "customer"), detail)
	return nil
}

func (r *returnRun) applyShippingChoice(ctx workflow.Context, in ShippingChoiceInput) error {
	r.parcel.method = in.Method
	r.v.ShippingMethod = in.Method
	r.addTimeline(ctx, "shipping_chosen", actorOr(in.Actor, "customer"), string(in.Method))
	return nil
}

func (r *returnRun) applyExchangeChoice(ctx workflow.Context, in ExchangeChoiceInput) error {
	id, err := r.choiceLine(in.LineID)
	if err != nil {
		return err
	}
	in.Actor = actorOr(in.Actor, "customer")
	r.choices[id] = in
	r.addTimeline(ctx, "exchange_choice", in.Actor, strings.TrimSpace(fmt.Sprintf("%s: %s %s", id, in.Choice, in.SKU)))
	return nil
}

func (r *returnRun) applyCancel(ctx workflow.Context, in CancelInput) error {
	r.cancel = &in
	r.addTimeline(ctx, "cancel_command", in.Actor, in.Reason)
	return nil
}

// applyReceive records the parcel at the warehouse; the inspection SLA runs
// from its arrival (the carrier's delivery scan, or now).
func (r *returnRun) applyReceive(ctx workflow.Context, in ReceiveInput) error {
	r.parcel.received = true
	if r.parcel.arrivedAt.IsZero() {
		r.arrived(r.now(ctx))
	}
	r.reach(ctx, "received")
	r.transition(ctx, domain.StatusReceived, domain.Wait(domain.WaitingWarehouse), r.inspectionDeadline(), "received", in.Actor, in.Note)
	r.tell("parcel_received", map[string]string{"tracking": r.parcel.tracking})
	return nil
}

func (r *returnRun) inspectionDeadline() *domain.Deadline {
	return domain.DeadlineAt("inspection", r.parcel.arrivedAt.Add(r.p.Inspection.Within.D()))
}

func (r *returnRun) applyInspection(ctx workflow.Context, in InspectionInput) error {
	now := r.now(ctx)
	if !r.parcel.received {
		// Inspecting a parcel is receiving it, scanned or not.
		r.parcel.received = true
		if r.parcel.arrivedAt.IsZero() {
			r.arrived(now)
		}
		r.reach(ctx, "received")
		r.tell("parcel_received", map[string]string{"tracking": r.parcel.tracking})
	}
	var parts []string
	for _, it := range in.Items {
		l := r.v.Line(it.LineID)
		ins := &domain.Inspection{Result: it.Result, Disposition: it.Disposition, Note: it.Note, Photos: it.Photos, At: now, Checks: it.Checks, ValueLoss: it.ValueLoss}
		if it.Result == domain.InspectionPartial {
			ins.PassedUnits, ins.FailDisposition = it.PassedUnits, it.FailDisposition
			if ins.FailDisposition == "" {
				ins.FailDisposition = domain.DispositionQuarantine
			}
		}
		if it.Reason != "" && it.Reason != l.Reason {
			ins.ReclassifiedFrom = l.Reason
			l.Reason = it.Reason
		}
		l.Inspection = ins
		parts = append(parts, fmt.Sprintf("%s %s→%s", it.LineID, it.Result, it.Disposition))
	}
	r.transition(ctx, domain.StatusInspecting, domain.Wait(domain.WaitingWarehouse), r.v.Deadline, "inspected", in.Actor, strings.Join(parts, ", "))
	return nil
}

func (r *returnRun) applyNote(ctx workflow.Context, in NoteInput) error {
	r.v.Notes = append(r.v.Notes, domain.TimelineEntry{At: r.now(ctx), Type: "note", Actor: in.Actor, Detail: in.Note})
	r.addTimeline(ctx, "note", in.Actor, in.Note)
	return nil
}

// ruleAssign refuses an assignment that changes nothing, one past the cap
// (each is a history event and a publication), and a warehouse user
// taking a return that does not wait on the warehouse.
func (r *returnRun) ruleAssign(in AssignInput) error {
	n := r.assignments + r.queued(UpdateAssign)
	switch {
	case in.Assignee == r.v.Assignee && (in.Team == "" || in.Team == r.v.Team):
		return refuse(ErrInvalidTransition, "cannot assign: return %s is already assigned to %s", r.in.RMAID, in.Assignee)
	case n >= domain.MaxAssignments:
		return refuse(ErrInvalidInput, "assign: a return is assigned at most %d times", domain.MaxAssignments)
	case !domain.HasAnyRole(in.ActorRoles, []string{domain.RoleSupport}) && (r.v.WaitingOn == nil || *r.v.WaitingOn != domain.WaitingWarehouse):
		return refuse(ErrForbidden, "cannot assign: return %s does not wait on the warehouse", r.in.RMAID)
	}
	return nil
}

// ruleExtend refuses an extension when the return waits on no deadline.
func (r *returnRun) ruleExtend(ExtendInput) error {
	if r.waiting == nil || r.next(extendable(r.waiting.points)) == nil {
		return refuse(ErrInvalidTransition, "cannot extend the deadline: return %s is %s and waits on no deadline", r.in.RMAID, r.v.Status)
	}
	return nil
}

// extendable are the points of a wait an extension would move.
func extendable(points []point) []point {
	var out []point
	for _, p := range points {
		if !p.fixed {
			out = append(out, p)
		}
	}
	return out
}

// applyExtend moves every point of the current wait that has not fired
// (reminders, escalations, the deadline) By later; the wait's timer
// re-arms at its next turn. The view and the RmaDeadline search attribute
// show the new deadline.
func (r *returnRun) applyExtend(ctx workflow.Context, in ExtendInput) error {
	by := in.Duration()
	if r.waiting == nil {
		return refuse(ErrInvalidTransition, "cannot extend the deadline: return %s waits on no deadline", r.in.RMAID)
	}
	for i := range r.waiting.points {
		if p := &r.waiting.points[i]; !r.fired[p.id] && !p.fixed {
			p.at = p.at.Add(by)
		}
	}
	detail := "by " + by.String()
	if r.v.Deadline != nil {
		d := *r.v.Deadline
		d.At = d.At.Add(by)
		r.v.Deadline = &d
		detail += ", " + d.Kind + " now " + domain.FormatTime(d.At)
	}
	r.addTimeline(ctx, "deadline_extended", in.Actor, detail+": "+in.Reason)
	return nil
}

// applyAssign records who works the return now, and who gave it to them.
func (r *returnRun) applyAssign(ctx workflow.Context, in AssignInput) error {
	from := r.v.Assignee
	r.v.Assignee = in.Assignee
	r.assignments++
	if in.Team != "" {
		r.v.Team = in.Team
	}
	detail := "to " + in.Assignee
	if from != "" {
		detail = "from " + from + " " + detail
	}
	if in.Reason != "" {
		detail += ": " + in.Reason
	}
	r.addTimeline(ctx, "assigned", in.Actor, detail)
	return nil
}

// ruleOverrideRefund: the line pays money and is not refunded yet (a
// refund that failed and waits for support keeps the amount it was sent
// with), the amount is in the return's currency and at most what the line
// was paid, and a change beyond the support limit comes from an admin.
func (r *returnRun) ruleOverrideRefund(in OverrideRefundInput) error {
	l := r.v.Line(in.LineID)
	switch {
	case l == nil:
		return refuse(ErrInvalidInput, "line_id: return %s has no line %q", r.in.RMAID, in.LineID)
	case !l.Eligible || !l.Resolution.PaysMoney():
		return refuse(ErrInvalidTransition, "cannot override the refund: line %s pays no refund (%s)", in.LineID, l.Resolution)
	case l.Refund != nil:
		return refuse(ErrInvalidTransition, "cannot override the refund: line %s is already refunded %s; grant goodwill instead", in.LineID, l.Refund.Net)
	case r.failed != nil && r.failed.name == "refund-"+in.LineID:
		return refuse(ErrInvalidTransition, "cannot override the refund: the refund of line %s is under way with its amount; retry or abandon it first", in.LineID)
	case r.pendingLine(UpdateOverrideRefund, in.LineID):
		return refuse(ErrInvalidTransition, "cannot override the refund: another override of line %s is being applied; retry", in.LineID)
	}
	if in.Amount != nil {
		switch value := l.Value(); {
		case in.Amount.Currency != value.Currency:
			return refuse(ErrInvalidInput, "amount.currency: must be %s, the line's currency", value.Currency)
		case in.Amount.Amount > value.Amount:
			return refuse(ErrInvalidInput, "amount.amount: %s is more than line %s was paid (%s); grant goodwill for the rest", in.Amount, in.LineID, value)
		}
	}
	o := overrideOf(in)
	size := o.Size(r.policyRefund(*l))
	if r.beyondSupport(size, in.ActorRoles) {
		return refuse(ErrForbidden, "cannot override the refund: it changes line %s's refund by %s, beyond the support limit of %s; the admin role is needed",
			in.LineID, domain.Money{Amount: size, Currency: l.Value().Currency}, domain.Money{Amount: r.p.Overrides.SupportLimit, Currency: l.Value().Currency})
	}
	return nil
}

func overrideOf(in OverrideRefundInput) *domain.RefundOverride {
	return &domain.RefundOverride{Amount: in.Amount, WaiveFees: in.WaiveFees, Reason: in.Reason, Actor: in.Actor}
}

// policyRefund is what the policy pays the line back on its own, return
// shipping aside: what an override is measured against.
func (r *returnRun) policyRefund(l domain.LineState) domain.LineRefund {
	return domain.ComputeRefunds(r.p, []domain.RefundInput{{LineID: l.LineID, Value: l.Value(), Reason: l.Reason}}, false)[0]
}

// pendingLine reports a queued command of a name for a line.
func (r *returnRun) pendingLine(name, lineID string) bool {
	for _, c := range r.inbox {
		if c.name == name && c.line == lineID {
			return true
		}
	}
	return false
}

// applyOverrideRefund records the override on the line; refundLines
// applies it when the line is paid.
func (r *returnRun) applyOverrideRefund(ctx workflow.Context, in OverrideRefundInput) error {
	l := r.v.Line(in.LineID)
	o := overrideOf(in)
	o.At = r.now(ctx)
	l.Override = o
	policy := r.policyRefund(*l)
	r.addTimeline(ctx, "refund_overridden", in.Actor, fmt.Sprintf("%s: refund %s instead of %s: %s", in.LineID, o.Apply(policy).Net, policy.Net, in.Reason))
	return nil
}

// ruleGoodwill: within the cap, in the return's currency, and beyond the
// support limit only from an admin.
func (r *returnRun) ruleGoodwill(in GoodwillInput) error {
	n := len(r.v.Goodwill) + r.queued(UpdateGoodwill)
	switch cur := r.req.Currency(); {
	case n >= MaxGoodwillGrants:
		return refuse(ErrInvalidInput, "goodwill: a return holds at most %d grants", MaxGoodwillGrants)
	case in.Amount.Currency != cur:
		return refuse(ErrInvalidInput, "amount.currency: must be %s, the return's currency", cur)
	case r.beyondSupport(in.Amount.Amount, in.ActorRoles):
		return refuse(ErrForbidden, "cannot grant goodwill: %s is beyond the support limit of %s; the admin role is needed",
			in.Amount, domain.Money{Amount: r.p.Overrides.SupportLimit, Currency: cur})
	}
	return nil
}

// applyGoodwill records the grant; the current wait issues it
// (issueGoodwill).
func (r *returnRun) applyGoodwill(ctx workflow.Context, in GoodwillInput) error {
	kind := in.Kind
	if kind == "" {
		kind = domain.GrantStoreCredit
	}
	r.v.Goodwill = append(r.v.Goodwill, domain.GoodwillGrant{Amount: in.Amount, Kind: kind, Reason: in.Reason, Actor: in.Actor, At: r.now(ctx)})
	r.grants = append(r.grants, len(r.v.Goodwill)-1)
	r.addTimeline(ctx, "goodwill_granted", in.Actor, fmt.Sprintf("%s %s: %s", kind, in.Amount, in.Reason))
	return nil
}

// issueGoodwill pays the grants recorded since the last turn of the wait.
// Each grant's key is the RMA and its number: a retry, or the task replayed
// after a crash, never pays it twice.
func (r *returnRun) issueGoodwill(ctx workflow.Context) error {
	for len(r.grants) > 0 {
		// Off the queue before the payment: a payment that fails waits in
		// needs_attention (and is retried there, by its key), and must not
		// be started again by that wait.
		i := r.grants[0]
		r.grants = r.grants[1:]
		g := &r.v.Goodwill[i]
		kind := activities.PayStoreCredit
		if g.Kind == domain.GrantCoupon {
			kind = activities.PayCoupon
		}
		n := fmt.Sprint(i + 1)
		pay := activities.PaymentRequest{Payment: r.req.Payment, Key: activities.Key(r.in.RMAID, "goodwill-grant", n), Kind: kind, RMAID: r.in.RMAID,
			CustomerID: r.req.Customer.ID, Amount: g.Amount, Memo: "goodwill " + n + ": " + g.Reason}
		s := step{name: "goodwill-" + n, summary: fmt.Sprintf("goodwill %s %s (grant %s by %s)", kind, g.Amount, n, g.Actor), doing: "granting goodwill", class: classMoney, irrevocable: true}
		if err := r.do(ctx, s, act.MoveMoney, pay, nil); err != nil {
			return err
		}
		g.Issued = true
		r.paid(ctx, pay)
		r.notice(activities.ToCustomer, "goodwill_granted", map[string]string{"amount": g.Amount.String(), "kind": g.Kind})
	}
	return nil
}

// ruleRefundMethod: the policy offers the method for the return's money
// lines, and money has not started to go back.
func (r *returnRun) ruleRefundMethod(in RefundMethodInput) error {
	switch {
	case !r.p.RefundMethodAllowed(r.req, in.Method):
		return refuse(ErrInvalidInput, "method: %s is not offered; the policy offers %s", in.Method, strings.Join(r.p.Refund.Methods, ", "))
	case r.pending(UpdateRefundMethod):
		return refuse(ErrInvalidTransition, "cannot choose the refund method: another choice is being applied; retry")
	case r.failed != nil && strings.HasPrefix(r.failed.name, "refund-"):
		return refuse(ErrInvalidTransition, "cannot choose the refund method: a refund is under way with its method; retry or abandon it first")
	}
	for _, l := range r.v.Lines {
		if l.Refund != nil {
			return refuse(ErrInvalidTransition, "cannot choose the refund method: line %s is already refunded", l.LineID)
		}
	}
	return nil
}

func (r *returnRun) applyRefundMethod(ctx workflow.Context, in RefundMethodInput) error {
	r.v.RefundMethod, r.account, r.v.RefundAccount = in.Method, in.Account, domain.MaskAccount(in.Account)
	r.addTimeline(ctx, "refund_method_chosen", actorOr(in.Actor, "customer"), strings.TrimSpace(in.Method+" "+r.v.RefundAccount))
	return nil
}

func (r *returnRun) applyRepairDone(ctx workflow.Context, in RepairDoneInput) error {
	r.repairs[in.LineID] = true
	r.addTimeline(ctx, "repair_done", in.Actor, strings.TrimSpace(in.LineID+" "+in.Note))
	return nil
}

func (r *returnRun) applyResolveAttention(ctx workflow.Context, in ResolveAttentionInput) error {
	r.attention = &in
	r.addTimeline(ctx, "attention_"+in.Action, in.Actor, strings.TrimSpace(string(in.Outcome)+" "+in.Note))
	return nil
}

// onCarrierEvent applies a tracking event once (by event ID). Scans of the
// return parcel move it; scans of an outbound parcel are recorded on its
// line. An exception opens one carrier claim per parcel, in the background,
// so later scans never wait for it.
func (r *returnRun) onCarrierEvent(ctx workflow.Context, ev CarrierEvent) {
	if ev.EventID == "" || r.seen[ev.EventID] || !ev.Type.Valid() {
		return
	}
	if ev.Type == domain.CarrierClaimSettled && r.in.Features < 1 {
		// Returns started before claims were followed dropped it then
		// (an unknown type); they replay without it.
		return
	}
	if !r.ownsParcel(ev.TrackingNumber) && workflow.GetVersion(ctx, "carrier-event-for-unknown-parcel", workflow.DefaultVersion, 1) == 1 {
		// A parcel this return does not know, yet: its label step may
		// have written the route and then lost its workflow task. The
		// event is not marked seen, so the label step, run again, applies
		// it when it hands back the parcel's tracking record.
		r.log.Info("carrier event for a parcel this return does not know (yet) left to its label step", "tracking", ev.TrackingNumber, "event_id", ev.EventID)
		return
	}
	moves := ev.Type == domain.CarrierDelivered || ev.Type == domain.CarrierClaimSettled || ((ev.Type == domain.CarrierPickedUp || ev.Type == domain.CarrierInTransit) && !r.parcel.pickedUp)
	if len(r.seen) >= domain.MaxCarrierEvents && !moves {
		// The webhook keeps every event in the read model; the workflow
		// takes a bounded number so its history stays small, but never
		// drops a scan that moves the parcel.
		if !r.capped {
			r.capped = true
			r.addTimeline(ctx, "carrier_events_capped", "system", fmt.Sprintf("more than %d carrier events; later ones are kept in the tracking record only", domain.MaxCarrierEvents))
		}
		r.log.Warn("carrier event over the per-return cap", "event_id", ev.EventID)
		return
	}
	r.seen[ev.EventID] = true
	now := r.now(ctx)
	detail := strings.TrimSpace(ev.TrackingNumber + " " + ev.Detail)
	if ev.TrackingNumber != "" && ev.TrackingNumber == r.parcel.tracking {
		r.addTimeline(ctx, "carrier_"+string(ev.Type), "carrier", detail)
		switch ev.Type {
		case domain.CarrierPickedUp, domain.CarrierInTransit:
			r.pickedUp(ctx, now)
		case domain.CarrierDelivered:
			r.pickedUp(ctx, now)
			if !r.parcel.delivered {
				r.parcel.delivered = true
				r.reach(ctx, "delivered")
				r.tell("parcel_delivered", map[string]string{"tracking": r.parcel.tracking})
				if r.parcel.arrivedAt.IsZero() {
					r.arrived(now)
				}
			}
		case domain.CarrierException:
			r.exception(ctx, ev)
		case domain.CarrierClaimSettled:
			r.v.ClaimResult = strings.TrimSpace(ev.Detail)
			if r.v.ClaimResult == "" {
				r.v.ClaimResult = "settled"
			}
		}
		return
	}
	for i := range r.v.Lines {
		l := &r.v.Lines[i]
		if rep := l.Replacement; rep != nil && rep.TrackingNumber != "" && rep.TrackingNumber == ev.TrackingNumber {
			r.addTimeline(ctx, "replacement_"+string(ev.Type), "carrier", detail)
			if ev.Type == domain.CarrierDelivered {
				rep.Delivered = true
			}
			return
		}
		if l.OutboundTracking != "" && l.OutboundTracking == ev.TrackingNumber {
			r.addTimeline(ctx, "outbound_"+string(ev.Type), "carrier", detail)
			return
		}
	}
	r.log.Info("carrier event for a parcel of another return ignored", "tracking", ev.TrackingNumber)
}

// ownsParcel reports a tracking number this return knows: its return
// parcel, a replacement's or another outbound parcel's.
func (r *returnRun) ownsParcel(tracking string) bool {
	if tracking == "" {
		return false
	}
	if tracking == r.parcel.tracking {
		return true
	}
	for _, l := range r.v.Lines {
		if (l.Replacement != nil && l.Replacement.TrackingNumber == tracking) || l.OutboundTracking == tracking {
			return true
		}
	}
	return false
}

func (r *returnRun) pickedUp(ctx workflow.Context, now time.Time) {
	if !r.parcel.pickedUp {
		r.parcel.pickedUp, r.parcel.pickedUpAt = true, now
		r.reach(ctx, "picked_up")
		r.tell("parcel_picked_up", map[string]string{"tracking": r.parcel.tracking})
	}
}

// exception opens a claim (once per parcel) with the tracking record as
// evidence; later exceptions are more evidence for support.
func (r *returnRun) exception(ctx workflow.Context, ev CarrierEvent) {
	if r.v.ClaimID != "" || r.claim != nil {
		r.notice(activities.ToSupport, "carrier_exception", map[string]string{"tracking": r.parcel.tracking, "detail": ev.Detail, "claim_id": r.v.ClaimID})
		return
	}
	r.claimThrough = ev.EventID
	r.fileClaim(ctx, ev.Detail)
}

// fileClaim starts the claim in the background: later scans never wait for
// it. It runs on a disconnected context, because an operator cancelling the
// workflow must not cut a claim off half-filed: finish waits for it.
func (r *returnRun) fileClaim(ctx workflow.Context, detail string) {
	req := activities.ClaimRequest{
		Key: activities.Key(r.in.RMAID, "carrier-claim"), RMAID: r.in.RMAID, TrackingNumber: r.parcel.tracking,
		Detail: detail, DeclaredValue: r.req.Total(), Through: r.claimThrough,
	}
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	actx := workflow.WithActivityOptions(dctx, claimOptions("open carrier claim for "+r.parcel.tracking+": "+detail))
	r.claim = workflow.ExecuteActivity(actx, act.OpenCarrierClaim, req)
	r.claimDetail = detail
}

// claimDone records a finished claim. A claim that failed after a day of
// retries becomes a support task (the view's claim_error): support files it
// by hand. It does not stop the return, whose parcel may well arrive.
func (r *returnRun) claimDone(ctx workflow.Context) {
	var c activities.Claim
	err := r.claim.Get(ctx, &c)
	r.claim = nil
	if err != nil {
		msg := rootMessage(err)
		r.v.ClaimError = msg
		r.addTimeline(ctx, "claim_failed", "system", msg)
		r.notice(activities.ToSupport, "carrier_claim_failed", map[string]string{"tracking": r.parcel.tracking, "detail": r.claimDetail, "error": msg})
		return
	}
	r.v.ClaimID = c.ClaimID
	r.addTimeline(ctx, "carrier_claim", "system", "claim "+c.ClaimID+" opened with the tracking record")
	r.notice(activities.ToSupport, "carrier_claim_opened", map[string]string{"claim_id": c.ClaimID, "tracking": r.parcel.tracking, "detail": r.claimDetail})
	r.tell("claim_opened", map[string]string{"claim_id": c.ClaimID, "tracking": r.parcel.tracking})
}

// dispositionMismatch says why a result and a disposition contradict each
// other, or "": a passed item is not sent back to the customer nor
// destroyed, and a failed one never goes back on the shelf.
func dispositionMismatch(it InspectionItem) string {
	ok := func(r domain.InspectionResult, d domain.Disposition) bool {
		switch r {
		case domain.InspectionPass, domain.InspectionPartial:
			return d == domain.DispositionRestock || d == domain.DispositionQuarantine || d == domain.DispositionRepair
		case domain.InspectionFail:
			return d != domain.DispositionRestock
		}
		return true
	}
	if !ok(it.Result, it.Disposition) {
		if it.Result == domain.InspectionFail {
			return "a failed item is not restocked: quarantine, repair, dispose or return_to_customer"
		}
		return "a passed item is restocked, quarantined or repaired, not " + string(it.Disposition)
	}
	if it.Result == domain.InspectionPartial && it.FailDisposition != "" && !ok(domain.InspectionFail, it.FailDisposition) {
		return "fail_disposition: the failed units are not restocked"
	}
	return ""
}
