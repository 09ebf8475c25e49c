package workflows

import (
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/domain"
)

// Return is one return, exchange or refund-only claim, from request to
// survey. It returns the final view.
func Return(ctx workflow.Context, in StartInput) (domain.Return, error) {
	r := newRun(ctx, in)
	if err := r.registerHandlers(ctx); err != nil {
		return r.v, err
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, startUpdates(r.req)...); err != nil {
		r.log.Warn("upsert start search attributes", "error", err)
	}
	err := r.finish(ctx, r.lifecycle(ctx))
	// Let in-flight updates and claims finish before the run closes.
	_ = workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) && r.background == 0 })
	return r.v, err
}

// lifecycle is DESIGN.md's eight stages, top to bottom.
func (r *returnRun) lifecycle(ctx workflow.Context) error {
	r.stage(ctx, "requested")
	r.transition(ctx, domain.StatusRequested, waitOn(domain.WaitingSystem), nil, "requested", r.in.Actor,
		fmt.Sprintf("%s via %s: %d line(s), %s", r.req.Kind, r.req.Channel, len(r.req.Lines), r.req.Total()))
	steps := []func(workflow.Context) error{
		r.checkEligibility, // 2
		r.review,           // 3
		r.prepare,          // 4
		r.returnShipment,   // 5
		r.inspect,          // 6
		r.resolve,          // 7
		r.close,            // 8
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

// finish turns how the lifecycle ended into a final status.
func (r *returnRun) finish(ctx workflow.Context, err error) error {
	var expired *expiredError
	var canceled *temporal.CanceledError
	switch {
	case err == nil, errors.Is(err, errStop):
		return nil
	case errors.Is(err, errCancelled):
		r.undo(ctx, false)
		r.transition(ctx, domain.StatusCancelled, nil, nil, "cancelled", r.cancel.Actor, r.cancel.Reason)
		r.notify(ctx, activities.ToCustomer, "cancelled", map[string]string{"reason": r.cancel.Reason})
		return nil
	case errors.As(err, &expired):
		r.undo(ctx, true)
		r.transition(ctx, domain.StatusExpired, nil, nil, "expired", "system", expired.why)
		r.notify(ctx, activities.ToCustomer, "expired", map[string]string{"why": expired.why})
		return nil
	case errors.Is(err, errAbandoned):
		r.addTimeline(ctx, "abandoned", "support", "handed to manual handling; the workflow ends here")
		r.record(ctx, "abandoned", "support")
		return nil
	case errors.As(err, &canceled):
		// Cancelled from Temporal itself (ops): undo like a cancel, on a
		// disconnected context, and report the cancellation.
		dctx, _ := workflow.NewDisconnectedContext(ctx)
		r.undo(dctx, false)
		r.transition(dctx, domain.StatusCancelled, nil, nil, "cancelled", "temporal", "workflow cancelled by an operator")
		return err
	default:
		return err
	}
}

// 2. Eligibility by policy.
func (r *returnRun) checkEligibility(ctx workflow.Context) error {
	var hist domain.CustomerHistory
	in := activities.CustomerHistoryInput{RMAID: r.in.RMAID, CustomerID: r.req.Customer.ID, Since: r.in.RequestedAt.Add(-r.p.Abuse.Period.D())}
	if err := r.do(ctx, "customer-history", classStore, "read customer "+r.req.Customer.ID+"'s returns of the last "+r.p.Abuse.Period.String(), act.CustomerHistory, in, &hist); err != nil {
		return err
	}
	r.elig = domain.CheckEligibility(r.p, r.req, r.in.RequestedAt, hist)
	for i := range r.v.Lines {
		l := &r.v.Lines[i]
		le := r.elig.Line(l.LineID)
		l.Eligible, l.IneligibleReason, l.Returnless = le.Eligible, le.Reason, le.Returnless
		if !le.Eligible && r.elig.Eligible {
			r.addTimeline(ctx, "line_excluded", "policy", l.LineID+": "+le.Reason)
		}
		if l.Resolution == domain.ResolutionKeep && le.Eligible && !le.Returnless {
			r.addTimeline(ctx, "returnless_refused", "policy", fmt.Sprintf("%s: keep-it only up to %s; the item must come back", l.LineID, domain.Money{Amount: r.p.Returnless.MaxValue, Currency: r.req.Currency()}))
		}
	}
	if !r.elig.Eligible {
		r.v.IneligibleReason = r.elig.Reason
		r.transition(ctx, domain.StatusIneligible, nil, nil, "ineligible", "policy", r.elig.Reason)
		r.notify(ctx, activities.ToCustomer, "ineligible", map[string]string{"reason": r.elig.Reason})
		return errStop
	}
	return nil
}

// 3. Review: auto-approve what policy allows, otherwise support within SLA.
func (r *returnRun) review(ctx workflow.Context) error {
	d := domain.DecideReview(r.p, r.req, r.elig)
	r.v.Assignee = d.Assignee
	if d.Auto {
		r.v.Decision = "approved"
		r.stage(ctx, "approved")
		r.addTimeline(ctx, "approved", "policy", "auto-approved: "+d.Why)
		return nil
	}
	r.stage(ctx, "review_requested")
	start := workflow.Now(ctx)
	replyDue := start.Add(r.p.Review.ReplySLA.D())
	decisionDue := start.Add(r.p.Review.DecisionSLA.D())
	r.transition(ctx, domain.StatusPendingReview, waitOn(domain.WaitingSupport), deadlineAt("reply_sla", replyDue), "review_requested", "policy", d.Why+"; routed to "+d.Assignee)
	r.notify(ctx, activities.ToSupport, "review_requested", map[string]string{"why": d.Why, "reply_by": fmtTime(replyDue)})
	for {
		reminders := []reminder{
			{id: "reply-reminder", at: replyDue.Add(-r.p.Review.ReplyReminderBefore.D()), summary: "reply SLA reminder, due " + fmtTime(replyDue), fire: func(ctx workflow.Context) {
				r.notify(ctx, activities.ToSupport, "review_reminder", map[string]string{"sla": "reply", "due": fmtTime(replyDue)})
			}},
			{id: "reply-breach", at: replyDue, summary: "reply SLA " + fmtTime(replyDue), fire: func(ctx workflow.Context) {
				if r.replied {
					return
				}
				r.breach(ctx, "review_reply", "no reply from support within "+r.p.Review.ReplySLA.String())
				r.setDeadline(ctx, deadlineAt("decision_sla", decisionDue), "escalated", "reply SLA breached; escalated")
				r.notify(ctx, activities.ToSupport, "review_escalated", map[string]string{"sla": "reply", "due": fmtTime(replyDue)})
			}},
			{id: "decision-reminder", at: decisionDue.Add(-r.p.Review.DecisionReminderBefore.D()), summary: "decision SLA reminder, due " + fmtTime(decisionDue), fire: func(ctx workflow.Context) {
				r.notify(ctx, activities.ToSupport, "review_reminder", map[string]string{"sla": "decision", "due": fmtTime(decisionDue)})
			}},
		}
		decided := func() bool { return r.decision != "" || r.infoPending }
		met, err := r.waitUntil(ctx, decisionDue, "decision SLA "+fmtTime(decisionDue), reminders, decided)
		if err != nil {
			return err
		}
		if !met {
			r.breach(ctx, "review_decision", "no decision within "+r.p.Review.DecisionSLA.String())
			r.setDeadline(ctx, nil, "escalated_supervisor", "decision SLA breached; escalated to supervisor")
			r.notify(ctx, activities.ToSupervisor, "review_escalated", map[string]string{"sla": "decision", "due": fmtTime(decisionDue)})
			if err := r.await(ctx, decided); err != nil {
				return err
			}
		}
		switch r.decision {
		case "approved":
			r.v.Decision = "approved"
			r.stage(ctx, "approved")
			r.addTimeline(ctx, "approved", "support", "")
			return nil
		case "declined":
			r.v.Decision = "declined"
			r.stage(ctx, "closed")
			r.transition(ctx, domain.StatusDeclined, nil, nil, "declined", "support", r.v.DeclineReason)
			r.notify(ctx, activities.ToCustomer, "declined", map[string]string{"reason": r.v.DeclineReason})
			return errStop
		}
		// Request for information: the decision clock stops while the
		// customer answers and resumes with what was left.
		remaining := decisionDue.Sub(workflow.Now(ctx))
		infoDue := workflow.Now(ctx).Add(r.p.Review.InfoWithin.D())
		r.transition(ctx, domain.StatusInfoRequested, waitOn(domain.WaitingCustomer), deadlineAt("info", infoDue), "awaiting_info", "support", "")
		r.notify(ctx, activities.ToCustomer, "info_requested", map[string]string{"answer_by": fmtTime(infoDue)})
		infoReminder := []reminder{{id: fmt.Sprintf("info-reminder-%d", r.seq), at: infoDue.Add(-r.p.Review.InfoReminderBefore.D()), summary: "info reminder, due " + fmtTime(infoDue), fire: func(ctx workflow.Context) {
			r.notify(ctx, activities.ToCustomer, "info_reminder", map[string]string{"answer_by": fmtTime(infoDue)})
		}}}
		met, err = r.waitUntil(ctx, infoDue, "customer answer due "+fmtTime(infoDue), infoReminder, func() bool { return r.infoAnswer != nil || r.decision != "" })
		if err != nil {
			return err
		}
		if !met {
			return &expiredError{why: "no answer from the customer by " + fmtTime(infoDue)}
		}
		r.infoPending, r.infoAnswer = false, nil
		decisionDue = workflow.Now(ctx).Add(remaining)
		if r.decision == "" {
			r.transition(ctx, domain.StatusPendingReview, waitOn(domain.WaitingSupport), deadlineAt("decision_sla", decisionDue), "review_resumed", "customer", "decision clock resumed")
			r.notify(ctx, activities.ToSupport, "info_received", map[string]string{"decide_by": fmtTime(decisionDue)})
		}
	}
}
