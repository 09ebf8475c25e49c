package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/rma-dev/rma/domain"
)

// reminder is an action at a point in time before (or at) a deadline.
type reminder struct {
	id      string
	at      time.Time
	summary string
	fire    func(ctx workflow.Context)
}

// waitUntil blocks until cond holds (true), or until the deadline passes
// (false). Reminders fire on their own durable timers on the way; each fires
// at most once per return (by id), even when a stage is re-entered. A cancel
// command interrupts any wait.
func (r *returnRun) waitUntil(ctx workflow.Context, deadline time.Time, summary string, reminders []reminder, cond func() bool) (bool, error) {
	for {
		if r.cancel != nil {
			return false, errCancelled
		}
		if cond() {
			return true, nil
		}
		now := workflow.Now(ctx)
		next, nextSummary := deadline, summary
		var due *reminder
		for i := range reminders {
			rm := &reminders[i]
			if r.fired[rm.id] || !rm.at.Before(next) {
				continue
			}
			next, nextSummary, due = rm.at, rm.summary, rm
		}
		if next.After(now) {
			ok, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{
				Timeout:      next.Sub(now),
				TimerOptions: workflow.TimerOptions{Summary: nextSummary},
			}, func() bool { return cond() || r.cancel != nil })
			if err != nil {
				return false, err
			}
			if ok {
				continue
			}
		}
		if due != nil {
			r.fired[due.id] = true
			due.fire(ctx)
			continue
		}
		return cond(), nil
	}
}

// await blocks with no deadline (after an escalation the return stays with a
// human), still interruptible by cancel.
func (r *returnRun) await(ctx workflow.Context, cond func() bool) error {
	if err := workflow.Await(ctx, func() bool { return cond() || r.cancel != nil }); err != nil {
		return err
	}
	if !cond() && r.cancel != nil {
		return errCancelled
	}
	return nil
}

func deadlineAt(kind string, at time.Time) *domain.Deadline {
	return &domain.Deadline{Kind: kind, At: at}
}
