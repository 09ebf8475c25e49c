package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/domain"
)

// Partner calls are local activities: they answer in milliseconds to
// seconds, and every local activity of one workflow task is billed as one
// action together with the publication that follows it. Their idempotency
// keys make a retry, or a whole workflow task replayed after a worker crash,
// safe. Retries shorter than the workflow task timeout happen inside the
// task; longer backoffs become a durable timer.

// actClass gives each partner timeouts and retries that fit it.
type actClass int

const (
	// Money: a PSP answers in seconds; idempotency keys make every retry
	// safe, and 15 minutes bounds how long a stuck refund hides before
	// support sees it.
	classMoney actClass = iota
	// Stock: inventory calls are quick and idempotent by key.
	classStock
	// Carrier: label booking can be slow at peak; same budget as money.
	classCarrier
	// Store: the read model must catch up, so a publication retries for an
	// hour per round, and the workflow starts another round after that.
	classStore
)

func localOptions(c actClass, summary string) workflow.LocalActivityOptions {
	o := workflow.LocalActivityOptions{Summary: summary}
	rp := &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute}
	switch c {
	case classMoney, classCarrier:
		o.StartToCloseTimeout, o.ScheduleToCloseTimeout, rp.MaximumAttempts = 30*time.Second, 15*time.Minute, 12
	case classStock:
		o.StartToCloseTimeout, o.ScheduleToCloseTimeout, rp.MaximumAttempts = 15*time.Second, 10*time.Minute, 10
	case classStore:
		o.StartToCloseTimeout, o.ScheduleToCloseTimeout = 10*time.Second, time.Hour
	}
	o.RetryPolicy = rp
	return o
}

// claimOptions: a carrier claim is a regular activity. Claims desks are slow
// and often down; it retries for a day in the background while the return
// goes on, then support takes over.
func claimOptions(summary string) workflow.ActivityOptions {
	return workflow.ActivityOptions{
		Summary: summary, StartToCloseTimeout: time.Minute, ScheduleToCloseTimeout: 24 * time.Hour,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 10 * time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Minute},
	}
}

// step is one partner call.
type step struct {
	name    string // names the failed step in needs_attention ("refund-L1")
	summary string // what ops read in the Temporal UI
	doing   string // what a refused cancel says is under way
	class   actClass
	// irrevocable: money or goods leave with this call, so no cancel is
	// accepted while it runs.
	irrevocable bool
	// cancelSafe: when this step fails and waits for support, a cancel may
	// still be taken, because undoing it does not depend on knowing whether
	// the failed call took effect (a reservation is released by its key; a
	// label that could not be booked after every retry is not voided).
	// Any other failed step has an unknown outcome: support retries it or
	// abandons the return first.
	cancelSafe bool
}

// do runs a step as a local activity. A cancel recorded during an earlier
// step is applied first, so its undo covers exactly what was done. When
// retries cannot fix the step, the return goes to needs_attention and waits
// for support to retry it (it runs again, same key) or abandon it: never
// lost, never silently dropped.
func (r *returnRun) do(ctx workflow.Context, s step, fn, arg, result any) error {
	if ctx.Err() != nil {
		// Cancelled from Temporal between two steps: the ones done stay
		// done, and finish decides what to undo.
		return temporal.NewCanceledError()
	}
	if !r.undoing {
		if err := r.settle(ctx); err != nil {
			return err
		}
	}
	if len(r.answering) > 0 && r.steps >= manySteps {
		// A long run of steps (resolving fifty lines) after a command: show
		// and answer the command now rather than after the last step.
		r.publish(ctx)
	}
	r.steps++
	first := workflow.Now(ctx)
	for {
		r.stage, r.doing = stageWorking, s.doing
		switch {
		case r.undoing:
			r.stage = stageUndoing
		case s.irrevocable:
			r.stage = stageIrrevocable
		}
		if s.class == classMoney && workflow.Now(ctx).Sub(first) >= reconcileAfter &&
			workflow.GetVersion(ctx, "reconcile-money-after-key-retention", workflow.DefaultVersion, 1) == 1 {
			// Support retries a money step after the provider may have
			// forgotten its idempotency key: look the payment up first,
			// so an attempt that went through is not paid again.
			fn = act.ReconcileMoney
		}
		err := r.call(ctx, s, fn, arg, result)
		if err == nil {
			r.doing = ""
			return nil
		}
		var canceled *temporal.CanceledError
		if errors.As(err, &canceled) {
			return err
		}
		r.log.Error("step failed after retries", "step", s.name, "error", err)
		if err := r.needsAttention(ctx, s, err); err != nil {
			return err
		}
	}
}

// call runs the local activity in two rounds. The first fits inside one
// workflow task (a few quick retries); if it fails, the commands already
// applied are published and answered, so a caller is not kept waiting while
// a partner is down, and the second round spends the class's full budget.
//
// The call runs on a disconnected context: an operator cancelling the
// workflow in the Temporal UI must not cut a partner call in half (the
// payment may have gone through); the cancellation is taken at the next
// step or wait.
func (r *returnRun) call(ctx workflow.Context, s step, fn, arg, result any) error {
	outer := ctx
	ctx, _ = workflow.NewDisconnectedContext(ctx)
	quick := localOptions(s.class, s.summary)
	quick.ScheduleToCloseTimeout = quickRound
	quick.RetryPolicy.MaximumAttempts = 0
	if quick.StartToCloseTimeout > quickRound {
		quick.StartToCloseTimeout = quickRound
	}
	lctx := workflow.WithLocalActivityOptions(ctx, quick)
	err := workflow.ExecuteLocalActivity(lctx, fn, arg).Get(lctx, result)
	var app *temporal.ApplicationError
	if err == nil || (errors.As(err, &app) && app.NonRetryable()) {
		return err
	}
	if len(r.answering) > 0 && outer.Err() == nil {
		r.publish(ctx)
	}
	lctx = workflow.WithLocalActivityOptions(ctx, localOptions(s.class, s.summary))
	return workflow.ExecuteLocalActivity(lctx, fn, arg).Get(lctx, result)
}

// keyRetention is how long a payment provider remembers an idempotency key
// (24 h at Stripe). A money step's own retries end long before it (15 min,
// see localOptions); a retry support starts later than reconcileAfter looks
// the payment up first (Activities.ReconcileMoney). The hour of margin
// covers the provider's clock and its counting from the first request.
const (
	keyRetention   = 24 * time.Hour
	reconcileAfter = keyRetention - time.Hour
)

// manySteps is how many steps may follow a command before it is answered
// with a publication of its own; a standard return never reaches it.
const manySteps = 4

// quickRound is the first round of a step's retries: under the 10 s
// workflow task timeout, so it stays inside one task.
const quickRound = 8 * time.Second

// needsAttention hands a failed step to support and waits for retry
// (returns nil) or abandon.
func (r *returnRun) needsAttention(ctx workflow.Context, s step, cause error) error {
	prev, waiting, deadline := r.v.Status, r.v.WaitingOn, r.v.Deadline
	msg := rootMessage(cause)
	r.v.Attention = &domain.Attention{Step: s.name, Error: msg, Since: r.now(ctx), Resume: prev, Compensating: r.undoing}
	r.failed = &s
	r.attention = nil
	defer func() { r.v.Attention = nil }()
	r.transition(ctx, domain.StatusNeedsAttention, domain.Wait(domain.WaitingSupport), nil, "needs_attention", "system", s.name+": "+msg)
	r.notice(activities.ToSupport, "needs_attention", map[string]string{"step": s.name, "error": msg})
	if _, err := r.await(ctx, &wait{stage: stageAttention, until: func() bool { return r.attention != nil }}); err != nil {
		var canceled *temporal.CanceledError
		if !errors.As(err, &canceled) {
			r.failed = nil // a cancel the step allows: nothing is left unknown
		}
		// Cancelled from Temporal: r.failed stays, so finish knows the
		// step's outcome is unknown.
		return err
	}
	a := *r.attention
	r.attention, r.failed = nil, nil
	if a.Action == AttentionAbandon {
		return &abandonedError{by: a}
	}
	r.transition(ctx, prev, waiting, deadline, "retry", a.Actor, "retrying "+s.name)
	return nil
}

// rootMessage is the innermost message of an activity error: what failed,
// without the SDK's wrapping.
func rootMessage(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Error()
	}
	return err.Error()
}

// undo runs the compensations in reverse. Each is a step: retried, and
// handed to support when retries cannot fix it. On abandon the rest of the
// undo is support's, by hand.
func (r *returnRun) undo(ctx workflow.Context, expiring bool) error {
	r.undoing, r.stage = true, stageUndoing
	for len(r.comps) > 0 {
		c := r.comps[len(r.comps)-1]
		if err := c.run(ctx, expiring); err != nil {
			return err
		}
		r.comps = r.comps[:len(r.comps)-1]
		r.addTimeline(ctx, "compensated", "system", c.what)
	}
	return nil
}
