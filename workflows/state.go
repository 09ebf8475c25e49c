package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/domain"
)

// stage is what the main flow is doing right now. It is the one piece of
// state that decides which commands a validator lets in (see accepted), and
// only the main flow changes it.
type stage string

const (
	stageOpening        stage = "opening"         // the first steps after the start
	stageReview         stage = "review"          // pending_review: support decides
	stageInfo           stage = "info"            // info_requested: the customer answers
	stageExchangeChoice stage = "exchange_choice" // awaiting_choice: replacement out of stock
	stageShippingChoice stage = "shipping_choice" // awaiting_shipment, no label yet
	stageParcel         stage = "parcel"          // label booked; the parcel is on its way
	stageWarehouse      stage = "warehouse"       // parcel arrived; waiting for inspection
	stageRepair         stage = "repair"          // waiting for the repair to be done
	stageRestock        stage = "restock"         // waiting for a backordered replacement
	stageClaim          stage = "claim"           // a lost parcel's claim: waiting for the carrier
	stageFailedAnswer   stage = "failed_answer"   // a failed line: waiting for the customer's answer
	stageDispute        stage = "dispute"         // a disputed inspection: waiting for support
	stageKeepOffer      stage = "keep_offer"      // a keep offer: waiting for the customer's answer
	stageWorking        stage = "working"         // a partner call that cancel can still undo
	stageIrrevocable    stage = "irrevocable"     // money or goods are leaving: no cancel
	stageAttention      stage = "attention"       // needs_attention: support retries or abandons
	stageUndoing        stage = "undoing"         // a cancel's or an expiry's compensations run
	stageDone           stage = "done"            // the run is closing
)

// accepted lists the commands each stage lets in. A command also has its
// own conditions (cancel: nothing has irrevocably left; receive: a parcel is
// expected), checked by its validator.
func accepted(s stage) []string {
	switch s {
	case stageReview:
		return []string{UpdateApprove, UpdateDecline, UpdateRequestInfo, UpdateCancel, UpdateNote, UpdateAssign, UpdateExtend, UpdateOverrideRefund, UpdateGoodwill, UpdateRefundMethod, UpdateKeepOffer}
	case stageInfo:
		return []string{UpdateInfo, UpdateApprove, UpdateDecline, UpdateCancel, UpdateNote, UpdateAssign, UpdateExtend, UpdateOverrideRefund, UpdateGoodwill, UpdateRefundMethod}
	case stageExchangeChoice:
		return []string{UpdateExchangeChoice, UpdateCancel, UpdateNote, UpdateAssign, UpdateExtend, UpdateOverrideRefund, UpdateGoodwill, UpdateRefundMethod}
	case stageShippingChoice:
		return []string{UpdateShippingChoice, UpdateCancel, UpdateNote, UpdateAssign, UpdateExtend, UpdateOverrideRefund, UpdateGoodwill, UpdateRefundMethod}
	case stageParcel:
		// Inspecting a parcel the warehouse holds is receiving it.
		return []string{UpdateReceive, UpdateInspection, UpdateCancel, UpdateNote, UpdateAssign, UpdateExtend, UpdateOverrideRefund, UpdateGoodwill, UpdateRefundMethod}
	case stageWarehouse:
		return []string{UpdateReceive, UpdateInspection, UpdateNote, UpdateAssign, UpdateExtend, UpdateOverrideRefund, UpdateGoodwill, UpdateRefundMethod}
	case stageRepair:
		return []string{UpdateRepairDone, UpdateNote, UpdateAssign, UpdateExtend, UpdateGoodwill}
	case stageRestock, stageClaim:
		return []string{UpdateNote, UpdateAssign, UpdateExtend, UpdateGoodwill}
	case stageKeepOffer:
		return []string{UpdateKeepAnswer, UpdateCancel, UpdateNote, UpdateAssign, UpdateExtend, UpdateGoodwill}
	case stageFailedAnswer:
		return []string{UpdateInspectionAnswer, UpdateNote, UpdateAssign, UpdateExtend, UpdateGoodwill}
	case stageDispute:
		return []string{UpdateDisputeDecision, UpdateNote, UpdateAssign, UpdateExtend, UpdateGoodwill}
	case stageWorking:
		// Overrides and goodwill wait for a stage that waits: a refund
		// computed in this step must not change under it.
		return []string{UpdateCancel, UpdateReceive, UpdateNote, UpdateAssign}
	case stageIrrevocable:
		return []string{UpdateReceive, UpdateNote, UpdateAssign}
	case stageAttention:
		return []string{UpdateResolveAttention, UpdateCancel, UpdateNote, UpdateAssign, UpdateOverrideRefund, UpdateGoodwill, UpdateRefundMethod}
	case stageOpening, stageUndoing:
		return []string{UpdateNote}
	}
	return nil
}

func (s stage) accepts(name string) bool {
	for _, n := range accepted(s) {
		if n == name {
			return true
		}
	}
	return false
}

// Sentinels that end the lifecycle early; finish turns them into a final
// status.
var (
	errStop      = errors.New("return ended")
	errCancelled = errors.New("return cancelled")
)

type expiredError struct{ why string }

func (e *expiredError) Error() string { return "return expired: " + e.why }

// abandonedError is support taking a failed return over by hand.
type abandonedError struct{ by ResolveAttentionInput }

func (e *abandonedError) Error() string { return "return abandoned to manual handling" }

// act is the activities value used only for method references; the worker
// registers the real one.
var act *activities.Activities

// parcel is what the main flow knows of the return parcel.
type parcel struct {
	method     domain.ShippingMethod
	tracking   string
	shipBy     time.Time
	pickedUp   bool
	pickedUpAt time.Time
	delivered  bool
	arrivedAt  time.Time
	received   bool
	// lost: the transit deadline passed without delivery and the return
	// was settled as lost (policy shipping.lost_parcel settle).
	lost bool
}

// expected reports a parcel on its way to the warehouse.
func (p parcel) expected() bool { return p.tracking != "" && !p.received }

// compensation undoes one completed step; undo runs them in reverse on
// cancel or expiry.
type compensation struct {
	what string
	run  func(ctx workflow.Context, expiring bool) error
}

// returnRun is one return. Handlers validate commands and queue them in
// inbox; carrier events queue on their signal channel. Only the main flow
// (lifecycle and the steps it calls) applies them, runs activities and
// changes the view, so no two writers ever race.
type returnRun struct {
	// waiting is the wait the main flow is in (an extension moves its
	// points).
	waiting *wait
	// assignments counts claims and reassignments (capped).
	assignments int
	in          StartInput
	p           domain.Policy
	req         domain.Request
	v           domain.Return
	opening     domain.Opening
	log         log.Logger

	stage stage
	doing string // the step under way, named in refusals
	inbox []*command
	// answering are applied commands waiting for the publication that
	// shows their effect.
	answering []*command
	wake      workflow.Channel
	signals   workflow.ReceiveChannel
	// restocks carry inventory restock events; restocked marks the SKUs
	// back in stock since the return last tried to reserve them.
	restocks  workflow.ReceiveChannel
	restocked map[string]bool

	// publication: the view goes to the read model once per wait.
	dirty     bool
	steps     int // steps since the last publication
	published int64
	auditFrom int
	notices   []activities.Notification
	noticeN   int
	sa        searchState

	parcel       parcel
	tracking     []string // every tracking number of the return, for search
	seen         map[string]bool
	capped       bool
	comps        []compensation
	fired        map[string]bool
	undoing      bool
	claim        workflow.Future
	claimDetail  string
	claimThrough string
	// failed is the step waiting for support in needs_attention.
	failed *step
	// maybeReserved: a reservation may exist for the line (reserved, or the
	// call failed with an unknown outcome); cancel releases it by key.
	maybeReserved map[string]bool
	lastSKU       map[string]string
	// holdAt is when each line's advance-exchange hold was placed: the
	// hold window runs from there.
	holdAt map[string]time.Time

	// what applied commands decided, read by the waits
	decision string
	// decidedBy is who sent the review command (approve, decline or
	// request info) the main flow acts on.
	decidedBy  string
	infoAsked  bool
	infoAnswer *InfoInput
	infoRounds int
	choices    map[string]ExchangeChoiceInput
	awaiting   map[string]bool
	repairs    map[string]bool
	cancel     *CancelInput
	attention  *ResolveAttentionInput
	// shippingFeeSettled: return shipping is charged at most once.
	shippingFeeSettled bool
	// grants are goodwill grants recorded and not yet issued (the view's
	// Goodwill holds them all); the current wait issues them.
	grants []int
	// answers and decisions are the customer's answers to failed lines
	// and support's decisions on disputed ones, by line.
	keepAnswers map[string]bool
	answers     map[string]InspectionAnswerInput
	decisions   map[string]DisputeDecisionInput
	// account is the bank or e-wallet account of a refund method chosen
	// by update (the view shows it masked; the request's is in r.req).
	account string
}

func newRun(ctx workflow.Context, in StartInput) *returnRun {
	if in.RequestedAt.IsZero() {
		in.RequestedAt = workflow.Now(ctx)
	}
	if in.Actor == "" {
		in.Actor = "backend"
	}
	in.Request = in.Request.Normalize()
	r := &returnRun{
		in: in, p: in.Policy, req: in.Request,
		log:         log.With(workflow.GetLogger(ctx), "rma_id", in.RMAID),
		stage:       stageOpening,
		wake:        workflow.NewBufferedChannel(ctx, 1),
		signals:     workflow.GetSignalChannel(ctx, SignalCarrierEvent),
		restocks:    workflow.GetSignalChannel(ctx, SignalRestock),
		restocked:   map[string]bool{},
		answers:     map[string]InspectionAnswerInput{},
		keepAnswers: map[string]bool{},
		decisions:   map[string]DisputeDecisionInput{},
		seen:        map[string]bool{},
		fired:       map[string]bool{},
		choices:     map[string]ExchangeChoiceInput{},
		awaiting:    map[string]bool{},
		repairs:     map[string]bool{},

		maybeReserved: map[string]bool{},
		lastSKU:       map[string]string{},
		holdAt:        map[string]time.Time{},
	}
	r.opening = in.Opening()
	r.v = r.opening.View
	// The stage is the opening's from the first moment: a shipping choice
	// sent right after the create call must be accepted even if it arrives
	// with the workflow's first task.
	switch {
	case r.opening.Next == domain.NextReview:
		r.stage = stageReview
	case r.v.InShippingChoice():
		r.stage = stageShippingChoice
	}
	r.notices = openingNotifications(in, r.opening)
	r.noticeN = len(r.notices)
	r.dirty = true
	if in.OpeningPublished {
		// The starter wrote the opening, its audit entries and notices
		// (seq 1), and set the search attributes at start.
		r.v.Seq, r.published, r.auditFrom, r.notices, r.dirty = 1, 1, len(r.v.Timeline), nil, false
		r.sa = searchOf(r.v, nil)
	}
	return r
}

func (r *returnRun) now(ctx workflow.Context) time.Time { return workflow.Now(ctx) }

// arrived records the parcel's arrival at the warehouse. A legal refund
// deadline counted from receipt (cn-7day) starts here.
func (r *returnRun) arrived(at time.Time) {
	r.parcel.arrivedAt = at
	if rp := r.p.Refund; rp.DueWithin > 0 && rp.DueFrom == domain.DueFromReceipt && r.v.RefundDueAt == nil && r.v.PaysMoney() {
		due := at.Add(rp.DueWithin.D())
		r.v.RefundDueAt = &due
		r.dirty = true
	}
}

// refunded reports every money line that is owed paid: a line that failed
// inspection (and was not overturned) owes nothing, so it does not hold the
// legal refund deadline open.
func (r *returnRun) refunded() bool {
	for _, l := range r.v.Lines {
		failed := l.Inspection != nil && l.Inspection.Result == domain.InspectionFail
		if l.Eligible && l.Resolution.PaysMoney() && l.Refund == nil && !failed {
			return false
		}
	}
	return true
}

// legalPoints are the legal refund deadline's reminder, escalation and
// breach, once its clock runs: every wait carries them until the money
// lines are paid, so the deadline is a durable timer wherever the return
// waits. An extension never moves them: the law sets them.
func (r *returnRun) legalPoints() []point {
	if r.v.RefundDueAt == nil {
		return nil
	}
	due, rp := *r.v.RefundDueAt, r.p.Refund
	open := func() bool { return !r.refunded() }
	return []point{
		{id: "legal-refund-reminder", at: due.Add(-rp.ReminderBefore.D()), summary: "legal refund deadline reminder, due " + domain.FormatTime(due), fixed: true, active: open,
			fire: func(ctx workflow.Context) (bool, error) {
				r.notice(activities.ToSupport, "refund_due_reminder", map[string]string{"due": domain.FormatTime(due), "rule": r.p.Preset})
				return false, nil
			}},
		{id: "legal-refund-escalation", at: due.Add(-rp.EscalateBefore.D()), summary: "legal refund deadline escalation, due " + domain.FormatTime(due), fixed: true, active: open,
			fire: func(ctx workflow.Context) (bool, error) {
				r.addTimeline(ctx, "legal_refund_escalated", "system", "refund due by law at "+domain.FormatTime(due))
				r.notice(activities.ToSupervisor, "refund_due_escalated", map[string]string{"due": domain.FormatTime(due), "rule": r.p.Preset})
				return false, nil
			}},
		{id: "legal-refund-deadline", at: due, summary: "legal refund deadline " + domain.FormatTime(due), fixed: true, active: open,
			fire: func(ctx workflow.Context) (bool, error) {
				r.breach(ctx, "legal_refund", "refund not paid by the legal deadline "+domain.FormatTime(due))
				r.notice(activities.ToSupervisor, "legal_refund_breached", map[string]string{"due": domain.FormatTime(due), "rule": r.p.Preset})
				return false, nil
			}},
	}
}

// mark records that the view changed since the last publication.
func (r *returnRun) mark(ctx workflow.Context) {
	r.dirty = true
	r.v.UpdatedAt = r.now(ctx)
}

// addTimeline records something that happened, for humans and the audit.
func (r *returnRun) addTimeline(ctx workflow.Context, typ, actor, detail string) {
	r.v.Log(r.now(ctx), typ, actor, detail)
	r.dirty = true
}

// transition moves the return to a status and records why.
func (r *returnRun) transition(ctx workflow.Context, s domain.Status, waiting *domain.WaitingOn, dl *domain.Deadline, event, actor, detail string) {
	r.v.Move(r.now(ctx), s, waiting, dl, event, actor, detail)
	r.dirty = true
	r.log.Info("transition", "status", s, "event", event, "actor", actor)
}

// setDeadline changes only the deadline (an SLA passed, a buffer started).
func (r *returnRun) setDeadline(ctx workflow.Context, dl *domain.Deadline, event, detail string) {
	r.v.Deadline = dl
	r.addTimeline(ctx, event, "system", detail)
}

func (r *returnRun) reach(ctx workflow.Context, stage string) {
	r.v.Reach(stage, r.now(ctx))
	r.dirty = true
}

func (r *returnRun) breach(ctx workflow.Context, what, detail string) {
	r.v.SLABreaches = append(r.v.SLABreaches, what)
	r.addTimeline(ctx, "sla_breach", "system", detail)
}

// OpeningPublication is seq 1 of a return: the view, audit entries and
// notices of domain.Open. The starter writes it in the same transaction as
// the idempotency key and starts the workflow with OpeningPublished; the
// workflow computes the same and does not write it again.
func OpeningPublication(in StartInput) activities.Publication {
	in.Request = in.Request.Normalize()
	op := in.Opening()
	v := op.View
	v.Seq = 1
	return activities.Publication{Seq: 1, Return: v, AuditFrom: 0, Audit: v.Timeline, Notices: openingNotifications(in, op)}
}

func openingNotifications(in StartInput, op domain.Opening) []activities.Notification {
	out := make([]activities.Notification, 0, len(op.Notices))
	for i, n := range op.Notices {
		out = append(out, notification(in, op.View.Assignee, i+1, n.To, n.Template, n.Params))
	}
	return out
}

// notification is the outbox row of a notice: its key is the return and
// the notice's number, so a rewrite never sends it twice.
func notification(in StartInput, assignee string, n int, to, template string, params map[string]string) activities.Notification {
	return activities.Notification{
		Key: activities.Key(in.RMAID, "notice", fmt.Sprint(n), template), RMAID: in.RMAID, To: to,
		Assignee: assignee, Template: template, Locale: in.Request.Customer.Locale, Customer: in.Request.Customer, Params: params,
	}
}

// notice queues a message for the outbox; it is written with the next
// publication, so it goes out exactly when the change that caused it is
// recorded. Its key is the return and the notice's number.
func (r *returnRun) notice(to, template string, params map[string]string) {
	r.noticeN++
	r.notices = append(r.notices, notification(r.in, r.v.Assignee, r.noticeN, to, template, params))
	r.dirty = true
}

// tell sends the customer a stage notice (docs/notifications.md), for
// returns started since rma sends them (StartInput.Features 1).
func (r *returnRun) tell(template string, params map[string]string) {
	if r.in.Features >= 1 {
		r.notice(activities.ToCustomer, template, params)
	}
}

// paid records a money movement on the view.
func (r *returnRun) paid(ctx workflow.Context, p activities.PaymentRequest) {
	r.v.Payments = append(r.v.Payments, domain.PaymentRecord{Key: p.Key, Kind: p.Kind, LineID: p.LineID, Amount: p.Amount, At: r.now(ctx)})
	r.mark(ctx)
}

func (r *returnRun) addCompensation(what string, run func(ctx workflow.Context, expiring bool) error) {
	r.comps = append(r.comps, compensation{what: what, run: run})
}

// trackParcel makes a tracking number searchable (RmaTrackingNumbers).
func (r *returnRun) trackParcel(tracking string) {
	if tracking != "" {
		r.tracking = append(r.tracking, tracking)
	}
}

// publish writes the view, the new audit entries and the queued notices to
// PostgreSQL in one local activity, then answers the commands it covers and
// upserts the search attributes that changed. The main flow calls it once
// per wait, so a wait costs one billable action however many transitions
// led to it. It retries until it succeeds: a read model that silently
// stopped would lie to support and customers.
func (r *returnRun) publish(ctx workflow.Context) {
	if r.dirty {
		p := activities.Publication{Seq: r.published + 1, AuditFrom: r.auditFrom, Epoch: int64(workflow.GetInfo(ctx).GetCurrentHistoryLength())}
		r.v.Seq = p.Seq
		p.Return = r.v.Clone()
		p.Audit = append([]domain.TimelineEntry(nil), r.v.Timeline[r.auditFrom:]...)
		p.Notices = r.notices
		summary := fmt.Sprintf("publish %s (seq %d, %d audit entries, %d notices)", r.v.Status, p.Seq, len(p.Audit), len(p.Notices))
		for attempt := 1; ; attempt++ {
			lctx := workflow.WithLocalActivityOptions(ctx, localOptions(classStore, summary))
			err := workflow.ExecuteLocalActivity(lctx, act.Publish, p).Get(lctx, nil)
			if err == nil {
				break
			}
			var canceled *temporal.CanceledError
			if errors.As(err, &canceled) || ctx.Err() != nil {
				// Cancelled from Temporal: finish publishes on a
				// disconnected context.
				return
			}
			r.log.Error("publication failed; retrying", "seq", p.Seq, "round", attempt, "error", err)
		}
		r.published, r.auditFrom, r.notices, r.dirty = p.Seq, len(r.v.Timeline), nil, false
		r.steps = 0
	}
	r.answer()
	r.upsertSearch(ctx)
	// What ops read on the workflow's page in the Temporal UI: workflow
	// metadata, in memory, neither a command nor billed.
	workflow.SetCurrentDetails(ctx, r.currentDetails())
}

// currentDetails says where the return is: its status and stage, whom it
// waits on, its next deadline, who works it, and what failed, if anything.
// Markdown, as the Temporal UI renders it; no customer data.
func (r *returnRun) currentDetails() string {
	lines := []string{fmt.Sprintf("**%s** (stage %s, seq %d)", r.v.Status, r.stage, r.v.Seq)}
	if r.v.WaitingOn != nil {
		lines = append(lines, "Waiting on: "+string(*r.v.WaitingOn))
	}
	if r.v.Deadline != nil {
		lines = append(lines, "Next deadline: "+r.v.Deadline.Kind+" at "+domain.FormatTime(r.v.Deadline.At))
	}
	if r.doing != "" {
		lines = append(lines, "Doing: "+r.doing)
	}
	if r.v.Assignee != "" {
		lines = append(lines, "Assignee: "+r.v.Assignee)
	}
	if a := r.v.Attention; a != nil {
		lines = append(lines, "Needs attention: "+a.Step+": "+a.Error)
	}
	if len(r.v.SLABreaches) > 0 {
		lines = append(lines, "SLA breaches: "+strings.Join(r.v.SLABreaches, ", "))
	}
	return strings.Join(lines, "\n\n")
}
