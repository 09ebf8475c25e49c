package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/domain"
)

// Bounds that keep one return's history far below Temporal's limits (see
// README, "History size").
const (
	maxTimeline      = 300
	maxNotes         = 100
	maxCarrierEvents = 100
	maxChoiceRounds  = 3
)

// Sentinels that end the lifecycle early; finish turns them into a final
// status.
var (
	errStop      = errors.New("return ended")
	errCancelled = errors.New("return cancelled")
	errAbandoned = errors.New("return abandoned to manual handling")
)

type expiredError struct{ why string }

func (e *expiredError) Error() string { return "return expired: " + e.why }

// act is the activities value used only for method references; the worker
// registers the real one.
var act *activities.Activities

// compensation undoes one completed step. Run in reverse order on cancel or
// expiry.
type compensation struct {
	what string
	undo func(ctx workflow.Context, expiring bool) error
}

// returnRun is the state of one return. Handlers record commands in it; the
// main flow reacts.
type returnRun struct {
	in  StartInput
	p   domain.Policy
	req domain.Request
	v   domain.Return
	log log.Logger
	seq int64

	elig domain.Eligibility

	// commands recorded by handlers
	decision    string
	replied     bool
	infoPending bool
	infoAnswer  *InfoInput
	shipping    domain.ShippingMethod
	awaiting    map[string]bool
	choices     map[string]ExchangeChoiceInput
	cancel      *CancelInput
	received    bool
	repairsDone map[string]bool
	attention   *ResolveAttentionInput
	surveyOpen  bool

	// carrier facts
	seenEvents map[string]bool
	tracking   []activities.TrackingEvent
	pickedUp   bool
	delivered  bool
	arrivedAt  time.Time
	background int
	claiming   bool

	createAcks      int
	trackingNumbers []string

	comps       []compensation
	labelIssued bool
	shipBy      time.Time
	// shippingFeeSettled: return shipping is charged at most once per return.
	shippingFeeSettled bool
	fired              map[string]bool
}

func newRun(ctx workflow.Context, in StartInput) *returnRun {
	req := in.Request.Normalize()
	now := workflow.Now(ctx)
	if in.RequestedAt.IsZero() {
		in.RequestedAt = now
	}
	if in.Actor == "" {
		in.Actor = "backend"
	}
	r := &returnRun{
		in: in, p: in.Policy, req: req,
		log:         log.With(workflow.GetLogger(ctx), "rma_id", in.RMAID),
		awaiting:    map[string]bool{},
		choices:     map[string]ExchangeChoiceInput{},
		repairsDone: map[string]bool{},
		seenEvents:  map[string]bool{},
		fired:       map[string]bool{},
	}
	cur := req.Currency()
	r.v = domain.Return{
		ID: in.RMAID, OrderID: req.OrderID, Kind: req.Kind, Status: domain.StatusRequested,
		Channel: req.Channel, Customer: req.Customer,
		RefundTotal: domain.Zero(cur), FeesTotal: domain.Zero(cur),
		Timeline: []domain.TimelineEntry{}, Stages: map[string]time.Time{},
		CreatedAt: in.RequestedAt, UpdatedAt: now,
	}
	for _, l := range req.Lines {
		r.v.Lines = append(r.v.Lines, domain.LineState{Line: l, Eligible: true})
	}
	return r
}

// Activity classes: each partner gets timeouts and retries that fit it.
type actClass int

const (
	// Money: a PSP answers in seconds; idempotency keys make every retry safe,
	// and 15 minutes bounds how long a stuck refund hides before support sees
	// it.
	classMoney actClass = iota
	// Stock: inventory calls are quick and idempotent by key.
	classStock
	// Carrier: label booking can be slow at peak; same budget as money.
	classCarrier
	// Notify: best effort; a notice that cannot be sent after 5 minutes is
	// recorded on the timeline rather than blocking the return.
	classNotify
	// Store: the read model must catch up, so it retries for half an hour
	// through database restarts.
	classStore
)

func activityOptions(c actClass, summary string) workflow.ActivityOptions {
	o := workflow.ActivityOptions{Summary: summary}
	rp := &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute}
	switch c {
	case classMoney, classCarrier:
		o.StartToCloseTimeout, o.ScheduleToCloseTimeout, rp.MaximumAttempts = 30*time.Second, 15*time.Minute, 12
	case classStock:
		o.StartToCloseTimeout, o.ScheduleToCloseTimeout, rp.MaximumAttempts = 15*time.Second, 10*time.Minute, 10
	case classNotify:
		o.StartToCloseTimeout, o.ScheduleToCloseTimeout, rp.MaximumAttempts = 15*time.Second, 5*time.Minute, 5
	case classStore:
		o.StartToCloseTimeout, o.ScheduleToCloseTimeout, rp.MaximumAttempts = 10*time.Second, 30*time.Minute, 40
	}
	o.RetryPolicy = rp
	return o
}

// do runs a business step as an activity; see retrying.
func (r *returnRun) do(ctx workflow.Context, step string, c actClass, summary string, fn, arg, result any) error {
	return r.retrying(ctx, step, func() error {
		if r.cancel != nil {
			return errCancelled
		}
		actx := workflow.WithActivityOptions(ctx, activityOptions(c, summary))
		return workflow.ExecuteActivity(actx, fn, arg).Get(actx, result)
	})
}

// retrying runs a step; when its retries cannot fix it the return goes to
// needs_attention and waits for support to retry (the step runs again) or
// abandon: never lost, never silently dropped.
func (r *returnRun) retrying(ctx workflow.Context, step string, fn func() error) error {
	for {
		err := fn()
		var canceled *temporal.CanceledError
		switch {
		case err == nil:
			return nil
		case errors.Is(err, errCancelled), errors.As(err, &canceled):
			return err
		}
		r.log.Error("step failed after retries", "step", step, "error", err)
		if err := r.needsAttention(ctx, step, err); err != nil {
			return err
		}
	}
}

// undoStep runs a compensation; it must not be skipped by a pending cancel.
func (r *returnRun) undoStep(ctx workflow.Context, c actClass, summary string, fn, arg, result any) error {
	actx := workflow.WithActivityOptions(ctx, activityOptions(c, summary))
	return workflow.ExecuteActivity(actx, fn, arg).Get(actx, result)
}

func (r *returnRun) needsAttention(ctx workflow.Context, step string, cause error) error {
	prev, waiting, deadline := r.v.Status, r.v.WaitingOn, r.v.Deadline
	r.v.Attention = &domain.Attention{Step: step, Error: cause.Error(), Since: workflow.Now(ctx), Resume: prev}
	r.attention = nil
	r.transition(ctx, domain.StatusNeedsAttention, waitOn(domain.WaitingSupport), nil, "needs_attention", "system", step+": "+cause.Error())
	r.notify(ctx, activities.ToSupport, "needs_attention", map[string]string{"step": step, "error": cause.Error()})
	if err := r.await(ctx, func() bool { return r.attention != nil }); err != nil {
		return err
	}
	a := r.attention
	r.v.Attention = nil
	if a.Action == AttentionAbandon {
		return errAbandoned
	}
	r.transition(ctx, prev, waiting, deadline, "retry", a.Actor, "retrying "+step)
	return nil
}

// notify sends a notice; failure is recorded, never fatal.
func (r *returnRun) notify(ctx workflow.Context, to, template string, params map[string]string) {
	r.seq++ // keys must differ per notice: the same template may be sent twice (two reminders)
	n := activities.Notification{
		Key: activities.Key(r.in.RMAID, "notice", fmt.Sprint(r.seq), template), RMAID: r.in.RMAID, To: to,
		Assignee: r.v.Assignee, Template: template, Locale: r.req.Customer.Locale, Customer: r.req.Customer, Params: params,
	}
	actx := workflow.WithActivityOptions(ctx, activityOptions(classNotify, "notify "+to+": "+template))
	if err := workflow.ExecuteActivity(actx, act.Notify, n).Get(actx, nil); err != nil {
		r.log.Warn("notification failed", "template", template, "error", err)
		r.addTimeline(ctx, "notification_failed", "system", to+": "+template+": "+err.Error())
	}
}

// paid records a money movement on the view (for the read model).
func (r *returnRun) paid(ctx workflow.Context, p activities.PaymentRequest) {
	r.v.Payments = append(r.v.Payments, domain.PaymentRecord{Key: p.Key, Kind: p.Kind, LineID: p.LineID, Amount: p.Amount, At: workflow.Now(ctx)})
}

func waitOn(w domain.WaitingOn) *domain.WaitingOn { return &w }

func (r *returnRun) addTimeline(ctx workflow.Context, typ, actor, detail string) {
	if len(r.v.Timeline) >= maxTimeline {
		return
	}
	r.v.Timeline = append(r.v.Timeline, domain.TimelineEntry{At: workflow.Now(ctx), Type: typ, Actor: actor, Detail: detail})
	r.v.UpdatedAt = workflow.Now(ctx)
}

func (r *returnRun) stage(ctx workflow.Context, name string) {
	if _, ok := r.v.Stages[name]; !ok {
		r.v.Stages[name] = workflow.Now(ctx)
	}
}

// transition moves the return to a status, records why, upserts the search
// attributes and projects the read model.
func (r *returnRun) transition(ctx workflow.Context, s domain.Status, waiting *domain.WaitingOn, dl *domain.Deadline, event, actor, detail string) {
	r.v.Status, r.v.WaitingOn, r.v.Deadline = s, waiting, dl
	r.addTimeline(ctx, event, actor, detail)
	r.log.Info("transition", "status", s, "event", event, "actor", actor)
	r.record(ctx, event, actor)
}

// setDeadline changes only the deadline (a reminder moved it to the buffer).
func (r *returnRun) setDeadline(ctx workflow.Context, dl *domain.Deadline, event, detail string) {
	r.v.Deadline = dl
	r.addTimeline(ctx, event, "system", detail)
	r.record(ctx, event, "system")
}

// record upserts search attributes and writes the projection.
func (r *returnRun) record(ctx workflow.Context, event, actor string) {
	if err := workflow.UpsertTypedSearchAttributes(ctx, statusUpdates(r.v.Status, r.v.Deadline)...); err != nil {
		r.log.Warn("upsert search attributes", "error", err)
	}
	r.seq++
	p := activities.Projection{Seq: r.seq, Event: event, Actor: actor, Return: r.v}
	actx := workflow.WithActivityOptions(ctx, activityOptions(classStore, fmt.Sprintf("project %s: %s", r.v.Status, event)))
	if err := workflow.ExecuteActivity(actx, act.Project, p).Get(actx, nil); err != nil {
		// The next projection carries the full state, so the read model
		// catches up; only this event's audit row is late.
		r.log.Error("projection failed", "seq", r.seq, "error", err)
	}
}

func (r *returnRun) breach(ctx workflow.Context, what, detail string) {
	r.v.SLABreaches = append(r.v.SLABreaches, what)
	r.addTimeline(ctx, "sla_breach", "system", detail)
}

func (r *returnRun) addCompensation(what string, undo func(ctx workflow.Context, expiring bool) error) {
	r.comps = append(r.comps, compensation{what: what, undo: undo})
}

// undo runs the compensations in reverse on a disconnected context, so a
// cancelled workflow still voids its label and releases its stock.
func (r *returnRun) undo(ctx workflow.Context, expiring bool) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	for i := len(r.comps) - 1; i >= 0; i-- {
		c := r.comps[i]
		if err := c.undo(dctx, expiring); err != nil {
			r.log.Error("compensation failed", "what", c.what, "error", err)
			r.addTimeline(dctx, "compensation_failed", "system", c.what+": "+err.Error())
			r.notify(dctx, activities.ToSupport, "compensation_failed", map[string]string{"what": c.what, "error": err.Error()})
			continue
		}
		r.addTimeline(dctx, "compensated", "system", c.what)
	}
	r.comps = nil
}

func fmtTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 MST") }
