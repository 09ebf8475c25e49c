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
// close. Its result is small on purpose (it is stored in the history): the
// final view is in the read model.
func Return(ctx workflow.Context, in StartInput) (Outcome, error) {
	r := newRun(ctx, in)
	if err := r.registerHandlers(ctx); err != nil {
		return Outcome{}, err
	}
	err := r.finish(ctx, r.lifecycle(ctx))
	return Outcome{Status: r.v.Status, Seq: r.published, RefundTotal: r.v.RefundTotal}, err
}

// lifecycle is DESIGN.md's eight stages, top to bottom.
func (r *returnRun) lifecycle(ctx workflow.Context) error {
	// 1–3. Request, eligibility and the review decision are pure policy:
	// newRun started from domain.Open, the same opening the API answered
	// the create call with.
	switch r.opening.Next {
	case domain.NextEnd:
		return errStop
	case domain.NextReview:
		if err := r.review(ctx); err != nil {
			return err
		}
		if err := r.keepOffers(ctx); err != nil {
			return err
		}
	}
	steps := []func(workflow.Context) error{
		r.prepare,        // 4
		r.returnShipment, // 5
		r.inspect,        // 6
		r.resolve,        // 7
		r.close,          // 8
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

// finish turns how the lifecycle ended into a final status, then closes the
// run: work in flight is waited for, arrivals are applied, queued commands
// answered, the final view published, and every handler let finish. All of
// it runs on a disconnected context, so an operator cancelling the workflow
// in the Temporal UI never cuts an undo or the final publication short.
func (r *returnRun) finish(ctx workflow.Context, err error) error {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	var result error
	var canceled *temporal.CanceledError
	if errors.As(err, &canceled) {
		result = err
		err = r.operatorCancel(dctx)
	}
	var expired *expiredError
	switch {
	case errors.Is(err, errCancelled):
		err = r.unwind(dctx, false, domain.StatusCancelled, r.cancel.Actor, r.cancel.Reason)
	case errors.As(err, &expired):
		err = r.unwind(dctx, true, domain.StatusExpired, "system", expired.why)
	}
	var abandoned *abandonedError
	switch {
	case err == nil, errors.Is(err, errStop):
	case errors.As(err, &abandoned):
		a := abandoned.by
		r.transition(dctx, a.Outcome, nil, nil, "abandoned", a.Actor, "handed to manual handling: "+a.Note)
		r.notice(activities.ToSupport, "manual_handling", map[string]string{"outcome": string(a.Outcome), "note": a.Note})
	default:
		// A bug, not a business outcome: fail the run so it shows in the
		// Temporal UI, after saying so on the timeline.
		r.addTimeline(dctx, "failed", "system", err.Error())
		result = err
	}
	if ended := r.v.Status; r.in.Features >= 1 && r.p.Compensation.OnEndedReturns && r.v.Attention == nil &&
		(ended == domain.StatusDeclined || ended == domain.StatusCancelled || ended == domain.StatusExpired) {
		// The merchant breached its own SLA on a return that ends without
		// completing: compensated all the same.
		if err := r.compensate(dctx); err != nil {
			// Support abandoned it (settled by hand): the return still
			// ends as it ended, not in needs_attention.
			r.transition(dctx, ended, nil, nil, "compensation_abandoned", "support", rootMessage(err))
		}
	}
	if len(r.grants) > 0 {
		// Goodwill granted in the same moment the return was cancelled is
		// still paid: its update was answered as accepted.
		if err := r.issueGoodwill(dctx); err != nil {
			r.log.Error("goodwill at the close", "error", err)
		}
	}
	// Commands queued while the return was closing (a note) still apply.
	_ = r.settle(dctx)
	r.stage = stageDone
	r.refuseQueued()
	r.publish(dctx)
	if r.claim != nil {
		// A claim still retrying: wait for it, so what the carrier says
		// is recorded before the run closes.
		_ = r.claim.Get(dctx, nil)
		r.claimDone(dctx)
	}
	_ = workflow.Await(dctx, func() bool { return workflow.AllHandlersFinished(dctx) })
	// Carrier events that arrived while closing are on the timeline too.
	_ = r.settle(dctx)
	r.refuseQueued()
	r.publish(dctx)
	return result
}

// operatorCancel handles a cancellation requested from Temporal (the UI's
// "Request Cancellation"). Before anything irrevocable it undoes the return
// like a customer's cancel. After money or goods have left, undoing would
// give them away: nothing is undone, and support gets a task to settle the
// return by hand.
func (r *returnRun) operatorCancel(ctx workflow.Context) error {
	if why := r.leftIrrevocably(); why != "" || r.failed != nil && !r.failed.cancelSafe {
		if why == "" {
			why = "the outcome of " + r.failed.name + " is unknown"
		}
		r.v.Attention = &domain.Attention{Step: "operator-cancel", Error: "cancelled from Temporal after " + why + "; nothing was undone: settle by hand", Since: r.now(ctx), Resume: r.v.Status}
		r.transition(ctx, domain.StatusCancelled, nil, nil, "cancelled", "temporal", "workflow cancelled by an operator after "+why+"; nothing undone")
		r.notice(activities.ToSupport, "operator_cancelled", map[string]string{"why": why})
		return nil
	}
	return r.unwind(ctx, false, domain.StatusCancelled, "temporal", "workflow cancelled by an operator")
}

// unwind undoes a return that is cancelled or expired and records its final
// status. A compensation that support abandons ends the undo there.
func (r *returnRun) unwind(ctx workflow.Context, expiring bool, s domain.Status, actor, why string) error {
	if err := r.undo(ctx, expiring); err != nil {
		return err
	}
	event := string(s)
	r.transition(ctx, s, nil, nil, event, actor, why)
	key := "reason"
	if expiring {
		key = "why"
	}
	r.notice(activities.ToCustomer, event, map[string]string{key: why})
	return nil
}

// 3. Review: support decides within SLA; a request for information stops
// the decision clock until the customer answers.
func (r *returnRun) review(ctx workflow.Context) error {
	start := r.in.RequestedAt
	replyDue := start.Add(r.p.Review.ReplySLA.D())
	decisionDue := start.Add(r.p.Review.DecisionSLA.D())
	replied := false
	for {
		points := []point{
			{id: "reply-reminder", at: replyDue.Add(-r.p.Review.ReplyReminderBefore.D()), summary: "reply SLA reminder, due " + domain.FormatTime(replyDue),
				active: func() bool { return !replied }, fire: func(ctx workflow.Context) (bool, error) {
					r.notice(activities.ToSupport, "review_reminder", map[string]string{"sla": "reply", "due": domain.FormatTime(replyDue)})
					return false, nil
				}},
			{id: "reply-breach", at: replyDue, summary: "reply SLA " + domain.FormatTime(replyDue),
				active: func() bool { return !replied }, fire: func(ctx workflow.Context) (bool, error) {
					r.breach(ctx, "review_reply", "no reply from support within "+r.p.Review.ReplySLA.String())
					r.setDeadline(ctx, domain.DeadlineAt("decision_sla", decisionDue), "escalated", "reply SLA breached; escalated")
					r.notice(activities.ToSupport, "review_escalated", map[string]string{"sla": "reply", "due": domain.FormatTime(replyDue)})
					return false, nil
				}},
			{id: "decision-reminder", at: decisionDue.Add(-r.p.Review.DecisionReminderBefore.D()), summary: "decision SLA reminder, due " + domain.FormatTime(decisionDue),
				fire: func(ctx workflow.Context) (bool, error) {
					r.notice(activities.ToSupport, "review_reminder", map[string]string{"sla": "decision", "due": domain.FormatTime(decisionDue)})
					return false, nil
				}},
			{id: "decision-breach", at: decisionDue, summary: "decision SLA " + domain.FormatTime(decisionDue),
				fire: func(ctx workflow.Context) (bool, error) {
					r.breach(ctx, "review_decision", "no decision within "+r.p.Review.DecisionSLA.String())
					r.setDeadline(ctx, nil, "escalated_supervisor", "decision SLA breached; escalated to supervisor")
					r.notice(activities.ToSupervisor, "review_escalated", map[string]string{"sla": "decision", "due": domain.FormatTime(decisionDue)})
					return false, nil
				}},
		}
		if _, err := r.await(ctx, &wait{stage: stageReview, until: func() bool { return r.decision != "" || r.infoAsked }, points: points}); err != nil {
			return err
		}
		replied = true
		switch r.decision {
		case "approved":
			r.v.Decision = "approved"
			r.reach(ctx, "approved")
			r.addTimeline(ctx, "approved", actorOr(r.decidedBy, "support"), "")
			r.v.WaitingOn, r.v.Deadline = domain.Wait(domain.WaitingSystem), nil
			if !r.v.ShipsAtOnce() {
				// A return that comes back at once hears it from
				// choose_shipping; keep-it and reship would hear nothing.
				n := r.v.ApprovedNotice()
				r.tell(n.Template, n.Params)
			}
			return nil
		case "declined":
			r.v.Decision = "declined"
			r.reach(ctx, "closed")
			r.transition(ctx, domain.StatusDeclined, nil, nil, "declined", actorOr(r.decidedBy, "support"), r.v.DeclineReason)
			r.notice(activities.ToCustomer, "declined", map[string]string{"reason": r.v.DeclineReason})
			return errStop
		}
		// A request for information: the decision clock stops while the
		// customer answers and resumes with what was left.
		r.infoAsked, r.infoAnswer = false, nil
		now := r.now(ctx)
		remaining := decisionDue.Sub(now)
		infoDue := now.Add(r.p.Review.InfoWithin.D())
		r.transition(ctx, domain.StatusInfoRequested, domain.Wait(domain.WaitingCustomer), domain.DeadlineAt("info", infoDue), "awaiting_info", actorOr(r.decidedBy, "support"), "")
		r.notice(activities.ToCustomer, "info_requested", map[string]string{"answer_by": domain.FormatTime(infoDue)})
		round := r.infoRounds
		met, err := r.await(ctx, &wait{stage: stageInfo, until: func() bool { return r.infoAnswer != nil || r.decision != "" }, points: []point{
			{id: fmt.Sprintf("info-reminder-%d", round), at: infoDue.Add(-r.p.Review.InfoReminderBefore.D()), summary: "info reminder, due " + domain.FormatTime(infoDue),
				fire: func(ctx workflow.Context) (bool, error) {
					r.notice(activities.ToCustomer, "info_reminder", map[string]string{"answer_by": domain.FormatTime(infoDue)})
					return false, nil
				}},
			{id: fmt.Sprintf("info-deadline-%d", round), at: infoDue, summary: "customer answer due " + domain.FormatTime(infoDue),
				fire: func(workflow.Context) (bool, error) { return true, nil }},
		}})
		if err != nil {
			return err
		}
		if !met {
			return &expiredError{why: "no answer from the customer by " + domain.FormatTime(infoDue)}
		}
		decisionDue = r.now(ctx).Add(remaining)
		if r.decision == "" {
			by := "customer"
			if r.infoAnswer != nil {
				by = actorOr(r.infoAnswer.Actor, by)
			}
			r.transition(ctx, domain.StatusPendingReview, domain.Wait(domain.WaitingSupport), domain.DeadlineAt("decision_sla", decisionDue), "review_resumed", by, "decision clock resumed")
			r.notice(activities.ToSupport, "info_received", map[string]string{"decide_by": domain.FormatTime(decisionDue)})
		}
	}
}
