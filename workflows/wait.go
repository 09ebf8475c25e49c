package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// point is a moment a wait acts on: a reminder, an escalation or the
// deadline. Each fires at most once per return (by id), even when a stage is
// entered again.
type point struct {
	id      string
	at      time.Time
	summary string      // the timer's summary in the Temporal UI
	active  func() bool // nil: always; a pickup reminder is moot once picked up
	// fire acts; end reports that the wait is over (the deadline passed).
	fire func(ctx workflow.Context) (end bool, err error)
	// fixed points are not the customer's, support's or the warehouse's
	// to meet, so an extension does not move them (the advance-exchange
	// hold window: the card authorisation's lifetime sets it).
	fixed bool
}

// wait is one place where the return waits on somebody: the stage it is in
// (which decides the commands accepted), when it is over, and its points.
type wait struct {
	stage  stage
	until  func() bool
	points []point
	// work runs at every turn after the arrivals are applied: steps that
	// belong to the wait, like the VIP refund at the first scan. It may add
	// points (the transit deadline starts at the first scan).
	work func(ctx workflow.Context) error
}

// timer is the one durable timer a wait holds: armed for the earliest point
// ahead, kept while it fires no later than needed, and cancelled when the
// wait ends, so no timer outlives its wait and wakes the workflow for
// nothing. (workflow.AwaitWithOptions leaves its timer running in SDK
// v1.50.)
type timer struct {
	f      workflow.Future
	at     time.Time
	cancel workflow.CancelFunc
}

func (t *timer) stop() {
	if t.cancel != nil {
		t.cancel()
	}
	*t = timer{}
}

func (t *timer) arm(ctx workflow.Context, now time.Time, p *point) {
	switch {
	case p == nil:
		t.stop()
		return
	case t.f != nil && !t.at.After(p.at):
		return // fires no later than needed; it re-arms then
	}
	t.stop()
	tctx, cancel := workflow.WithCancel(ctx)
	t.f = workflow.NewTimerWithOptions(tctx, p.at.Sub(now), workflow.TimerOptions{Summary: p.summary})
	t.at, t.cancel = p.at, cancel
}

// await runs a wait until its condition holds (true) or a point ends it
// (false). On every turn it applies what arrived, runs the wait's work, fires
// due points, and then, before blocking, publishes the view once.
func (r *returnRun) await(ctx workflow.Context, w *wait) (bool, error) {
	var t timer
	defer t.stop()
	// A wait may run inside another (needs_attention inside a step of the
	// parcel wait): the outer one is the current wait again afterwards.
	outer := r.waiting
	r.waiting = w
	defer func() { r.waiting = outer }()
	for {
		r.stage = w.stage
		if err := r.settle(ctx); err != nil {
			return false, err
		}
		if w.work != nil {
			if err := w.work(ctx); err != nil {
				return false, err
			}
			r.stage = w.stage
			if err := r.settle(ctx); err != nil {
				return false, err
			}
		}
		if len(r.grants) > 0 && w.stage != stageAttention {
			// Goodwill support granted while the return waits is paid
			// now, not when the wait ends.
			if err := r.issueGoodwill(ctx); err != nil {
				return false, err
			}
			continue
		}
		if w.until() {
			return true, nil
		}
		now := r.now(ctx)
		points := w.points
		if legal := r.legalPoints(); legal != nil {
			points = append(append([]point(nil), w.points...), legal...)
		}
		if p := r.due(points, now); p != nil {
			r.fired[p.id] = true
			end, err := p.fire(ctx)
			if err != nil || end {
				return false, err
			}
			continue
		}
		r.publish(ctx)
		t.arm(ctx, now, r.next(points))
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(r.wake, func(workflow.ReceiveChannel, bool) {})
		sel.AddReceive(r.signals, func(workflow.ReceiveChannel, bool) {})
		sel.AddReceive(r.restocks, func(workflow.ReceiveChannel, bool) {})
		sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) {})
		if t.f != nil {
			sel.AddFuture(t.f, func(workflow.Future) { t = timer{} })
		}
		if r.claim != nil {
			sel.AddFuture(r.claim, func(workflow.Future) {})
		}
		sel.Select(ctx)
		if ctx.Err() != nil {
			return false, temporal.NewCanceledError()
		}
	}
}

func (r *returnRun) live(p point) bool {
	return !r.fired[p.id] && (p.active == nil || p.active())
}

// due is the earliest live point whose time has come.
func (r *returnRun) due(points []point, now time.Time) *point {
	var best *point
	for i := range points {
		p := &points[i]
		if r.live(*p) && !p.at.After(now) && (best == nil || p.at.Before(best.at)) {
			best = p
		}
	}
	return best
}

// next is the earliest live point ahead.
func (r *returnRun) next(points []point) *point {
	var best *point
	for i := range points {
		p := &points[i]
		if r.live(*p) && (best == nil || p.at.Before(best.at)) {
			best = p
		}
	}
	return best
}
