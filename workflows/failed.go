package workflows

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/domain"
)

// A failed inspection is the customer's to answer (returns started with
// Features 1): accept the item back (at the merchant's cost for a
// merchant-fault reason, at the customer's otherwise), let the merchant
// dispose of it, or dispute the verdict, which opens a support review with
// the customer's evidence. Without an answer by inspection.answer_within
// the policy's inspection.failed_default applies.

// failedUnits are a line's units that failed inspection.
func failedUnits(l domain.LineState) int {
	switch {
	case l.Inspection == nil:
		return 0
	case l.Inspection.Result == domain.InspectionFail:
		return l.Quantity
	case l.Inspection.Result == domain.InspectionPartial:
		return l.Quantity - l.Inspection.PassedUnits
	}
	return 0
}

// failedPurpose is the key purpose of moving a line's failed units: the
// line's only movement when it failed whole, a second one beside the
// passed units' for a partial result.
func failedPurpose(l domain.LineState) string {
	if l.Inspection.Result == domain.InspectionPartial {
		return "disposition-failed"
	}
	return "disposition"
}

// answerFailed asks the customer about every failed line and carries out
// the answers; disputes go to support.
func (r *returnRun) answerFailed(ctx workflow.Context, lines []string) error {
	due := r.now(ctx).Add(r.p.Inspection.AnswerWithin.D())
	def := AnswerAccept
	if r.p.Inspection.FailedDefault == "dispose" {
		def = AnswerDispose
	}
	for _, id := range lines {
		l := r.v.Line(id)
		r.awaiting["failed:"+id] = true
		r.notice(activities.ToCustomer, "inspection_failed_answer", map[string]string{"line_id": id, "sku": l.SKU, "units": fmt.Sprint(failedUnits(*l)),
			"note": l.Inspection.Note, "answer_by": domain.FormatTime(due), "fee": r.returnFee(*l).String()})
	}
	r.transition(ctx, domain.StatusInspecting, domain.Wait(domain.WaitingCustomer), domain.DeadlineAt("inspection_answer", due), "awaiting_inspection_answer", "warehouse", strings.Join(lines, ", "))
	answered := func() bool {
		for _, id := range lines {
			if _, ok := r.answers[id]; !ok {
				return false
			}
		}
		return true
	}
	if _, err := r.await(ctx, &wait{stage: stageFailedAnswer, until: answered, points: []point{
		{id: "inspection-answer-deadline", at: due, summary: "answer to the failed inspection due " + domain.FormatTime(due) + " (default " + def + ")",
			fire: func(workflow.Context) (bool, error) { return true, nil }},
	}}); err != nil {
		return err
	}
	var disputed []string
	for _, id := range lines {
		delete(r.awaiting, "failed:"+id)
		a, ok := r.answers[id]
		if !ok {
			a = InspectionAnswerInput{Actor: "policy", Choice: def}
			r.addTimeline(ctx, "inspection_answer_default", "policy", fmt.Sprintf("%s: no answer by %s; %s", id, domain.FormatTime(due), def))
		}
		if a.Choice == AnswerDispute {
			disputed = append(disputed, id)
			continue
		}
		if err := r.settleFailed(ctx, r.v.Line(id), a.Choice); err != nil {
			return err
		}
	}
	if len(disputed) > 0 {
		return r.reviewDisputes(ctx, disputed, def)
	}
	return nil
}

// returnFee is what sending a failed line back costs the customer: nothing
// when the reason is the merchant's.
func (r *returnRun) returnFee(l domain.LineState) domain.Money {
	if l.Reason.MerchantFault() {
		return domain.Zero(l.UnitPrice.Currency)
	}
	return domain.Money{Amount: r.p.Inspection.ReturnFee, Currency: l.UnitPrice.Currency}
}

// settleFailed carries out accept (ship the failed units back, charging
// the customer's fee first when the reason is theirs) or dispose.
func (r *returnRun) settleFailed(ctx workflow.Context, l *domain.LineState, choice string) error {
	units := failedUnits(*l)
	if choice == AnswerDispose {
		return r.moveUnits(ctx, l, domain.DispositionDispose, units, failedPurpose(*l))
	}
	if fee := r.returnFee(*l); fee.Amount > 0 {
		key := activities.Key(r.in.RMAID, l.LineID, "return-to-customer-fee")
		pay := activities.PaymentRequest{Payment: r.req.Payment, Key: key, Kind: activities.PayCharge, RMAID: r.in.RMAID, LineID: l.LineID, CustomerID: r.req.Customer.ID, Amount: fee, Memo: "shipping the failed item back"}
		s := step{name: "return-fee-" + l.LineID, summary: "charge " + fee.String() + " to send " + l.LineID + " back", doing: "charging the return fee for " + l.LineID, class: classMoney, irrevocable: true}
		if err := r.do(ctx, s, act.MoveMoney, pay, nil); err != nil {
			return err
		}
		r.paid(ctx, pay)
	}
	tracking, err := r.shipUnits(ctx, l, units, l.SKU, activities.ShipBackToCustomer, "return-to-customer", "return-to-customer-",
		fmt.Sprintf("send %d × %s back to the customer", units, l.SKU), "sending "+l.LineID+" back to the customer")
	if err != nil {
		return err
	}
	l.OutboundTracking = tracking
	r.tell("failed_item_returned", map[string]string{"line_id": l.LineID, "sku": l.SKU, "tracking": tracking})
	return nil
}

// reviewDisputes waits for support's decision on each disputed line:
// overturned, the line passes (its units go back on the shelf and resolve
// pays it); upheld, the policy's default applies. Past the decision SLA
// the supervisor is told; the review still waits for a decision.
func (r *returnRun) reviewDisputes(ctx workflow.Context, lines []string, def string) error {
	due := r.now(ctx).Add(r.p.Review.DecisionSLA.D())
	for _, id := range lines {
		a := r.answers[id]
		r.awaiting["dispute:"+id] = true
		r.addTimeline(ctx, "inspection_disputed", actorOr(a.Actor, "customer"), fmt.Sprintf("%s: %s (%d photo(s))", id, a.Evidence, len(a.Photos)))
		r.notice(activities.ToSupport, "inspection_disputed", map[string]string{"line_id": id, "evidence": a.Evidence, "photos": strings.Join(a.Photos, " "), "decide_by": domain.FormatTime(due)})
	}
	r.transition(ctx, domain.StatusInspecting, domain.Wait(domain.WaitingSupport), domain.DeadlineAt("dispute", due), "dispute_review", "customer", strings.Join(lines, ", "))
	decided := func() bool {
		for _, id := range lines {
			if _, ok := r.decisions[id]; !ok {
				return false
			}
		}
		return true
	}
	if _, err := r.await(ctx, &wait{stage: stageDispute, until: decided, points: []point{
		{id: "dispute-sla", at: due, summary: "dispute decision due " + domain.FormatTime(due), fire: func(ctx workflow.Context) (bool, error) {
			r.breach(ctx, "dispute", "disputed inspection not decided within "+r.p.Review.DecisionSLA.String())
			r.notice(activities.ToSupervisor, "dispute_overdue", map[string]string{"lines": strings.Join(lines, ","), "due": domain.FormatTime(due)})
			return false, nil
		}},
	}}); err != nil {
		return err
	}
	for _, id := range lines {
		delete(r.awaiting, "dispute:"+id)
		d, l := r.decisions[id], r.v.Line(id)
		if d.Decision == "overturn" {
			units, purpose := failedUnits(*l), failedPurpose(*l)
			l.Inspection.Result, l.Inspection.PassedUnits, l.Inspection.Disposition = domain.InspectionPass, 0, domain.DispositionRestock
			r.addTimeline(ctx, "inspection_overturned", d.Actor, strings.TrimSpace(id+": "+d.Note))
			r.tell("dispute_overturned", map[string]string{"line_id": id, "sku": l.SKU})
			if err := r.moveUnits(ctx, l, domain.DispositionRestock, units, purpose); err != nil {
				return err
			}
			continue
		}
		r.addTimeline(ctx, "inspection_upheld", d.Actor, strings.TrimSpace(id+": "+d.Note))
		r.tell("dispute_upheld", map[string]string{"line_id": id, "sku": l.SKU, "note": d.Note})
		if err := r.settleFailed(ctx, l, def); err != nil {
			return err
		}
	}
	return nil
}

// answerLine picks the failed line an answer is for.
func (r *returnRun) answerLine(lineID, prefix string) (string, error) {
	if lineID != "" {
		if !r.awaiting[prefix+lineID] {
			return "", refuse(ErrInvalidInput, "line_id: line %q does not wait for this", lineID)
		}
		return lineID, nil
	}
	var ids []string
	for _, l := range r.v.Lines {
		if r.awaiting[prefix+l.LineID] {
			ids = append(ids, l.LineID)
		}
	}
	if len(ids) != 1 {
		return "", refuse(ErrInvalidInput, "line_id: is required: lines %v wait", ids)
	}
	return ids[0], nil
}

func (r *returnRun) ruleInspectionAnswer(in InspectionAnswerInput) error {
	id, err := r.answerLine(in.LineID, "failed:")
	if err != nil {
		return err
	}
	if _, done := r.answers[id]; done || r.pendingLine(UpdateInspectionAnswer, id) {
		return refuse(ErrInvalidTransition, "cannot answer the inspection: line %s is already answered", id)
	}
	return nil
}

func (r *returnRun) applyInspectionAnswer(ctx workflow.Context, in InspectionAnswerInput) error {
	id, err := r.answerLine(in.LineID, "failed:")
	if err != nil {
		return err
	}
	in.LineID, in.Actor = id, actorOr(in.Actor, "customer")
	r.answers[id] = in
	r.addTimeline(ctx, "inspection_answer", in.Actor, id+": "+in.Choice)
	return nil
}

func (r *returnRun) ruleDisputeDecision(in DisputeDecisionInput) error {
	if _, err := r.answerLine(in.LineID, "dispute:"); err != nil {
		return err
	}
	if _, done := r.decisions[in.LineID]; done || r.pendingLine(UpdateDisputeDecision, in.LineID) {
		return refuse(ErrInvalidTransition, "cannot decide the dispute: line %s is already decided", in.LineID)
	}
	return nil
}

func (r *returnRun) applyDisputeDecision(ctx workflow.Context, in DisputeDecisionInput) error {
	r.decisions[in.LineID] = in
	r.addTimeline(ctx, "dispute_decision", in.Actor, in.LineID+": "+in.Decision)
	return nil
}

func (in InspectionAnswerInput) commandLine() string { return in.LineID }

func (in DisputeDecisionInput) commandLine() string { return in.LineID }
