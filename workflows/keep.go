package workflows

import (
	"fmt"
	"slices"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/domain"
)

// Keep it at a discount (折价补偿): for a defect or a description mismatch,
// support (during review) or the policy (keep_discount.auto, at a human
// approval) offers a partial refund to keep the item instead of sending it
// back. After the approval the customer answers within
// keep_discount.answer_within: accepting ends the line with that refund and
// no shipment; declining, or no answer, continues the normal return.

func (r *returnRun) ruleKeepOffer(in KeepOfferInput) error {
	l := r.v.Line(in.LineID)
	switch {
	case l == nil:
		return refuse(ErrInvalidInput, "line_id: return %s has no line %q", r.in.RMAID, in.LineID)
	case !l.Eligible || !l.NeedsShipment():
		return refuse(ErrInvalidTransition, "cannot offer a discount to keep the item: line %s does not come back", in.LineID)
	case !slices.Contains(r.p.KeepDiscount.Reasons, l.Reason):
		return refuse(ErrInvalidTransition, "cannot offer a discount to keep the item: the policy offers it for %v, and line %s is %s", r.p.KeepDiscount.Reasons, in.LineID, l.Reason)
	case l.KeepOffer != nil || r.pendingLine(UpdateKeepOffer, in.LineID):
		return refuse(ErrInvalidTransition, "cannot offer a discount to keep the item: line %s already has an offer", in.LineID)
	case in.Amount.Currency != l.Value().Currency || in.Amount.Amount > l.Value().Amount:
		return refuse(ErrInvalidInput, "amount: must be in %s and at most the line's %s", l.Value().Currency, l.Value())
	case r.beyondSupport(in.Amount.Amount, in.ActorRoles):
		return refuse(ErrForbidden, "cannot offer a discount to keep the item: %s is beyond the support limit of %s; the admin role is needed",
			in.Amount, domain.Money{Amount: r.p.Overrides.SupportLimit, Currency: in.Amount.Currency})
	}
	return nil
}

func (r *returnRun) applyKeepOffer(ctx workflow.Context, in KeepOfferInput) error {
	l := r.v.Line(in.LineID)
	l.KeepOffer = &domain.KeepOffer{Amount: in.Amount, By: in.Actor, Reason: in.Reason}
	r.addTimeline(ctx, "keep_offer_made", in.Actor, fmt.Sprintf("%s: keep it for %s back %s", in.LineID, in.Amount, in.Reason))
	return nil
}

func (r *returnRun) ruleKeepAnswer(in KeepAnswerInput) error {
	if !r.awaiting["keep:"+in.LineID] {
		return refuse(ErrInvalidInput, "line_id: line %q has no open offer", in.LineID)
	}
	if _, done := r.keepAnswers[in.LineID]; done || r.pendingLine(UpdateKeepAnswer, in.LineID) {
		return refuse(ErrInvalidTransition, "cannot answer the keep offer: line %s is already answered", in.LineID)
	}
	return nil
}

func (r *returnRun) applyKeepAnswer(ctx workflow.Context, in KeepAnswerInput) error {
	r.keepAnswers[in.LineID] = in.Accept
	answer := "declined"
	if in.Accept {
		answer = "accepted"
	}
	r.addTimeline(ctx, "keep_offer_"+answer, actorOr(in.Actor, "customer"), in.LineID)
	return nil
}

// keepOffers puts the open offers to the customer after a human approval
// (the policy's own offer too, with keep_discount.auto) and applies the
// answers before anything is prepared or shipped.
func (r *returnRun) keepOffers(ctx workflow.Context) error {
	kd := r.p.KeepDiscount
	var open []string
	for i := range r.v.Lines {
		l := &r.v.Lines[i]
		if l.KeepOffer == nil && kd.Auto && kd.OfferBps > 0 && l.Eligible && l.NeedsShipment() && slices.Contains(kd.Reasons, l.Reason) {
			amount := domain.Money{Amount: l.Value().Amount * kd.OfferBps / 10000, Currency: l.Value().Currency}
			l.KeepOffer = &domain.KeepOffer{Amount: amount, By: "policy"}
			r.addTimeline(ctx, "keep_offer_made", "policy", fmt.Sprintf("%s: keep it for %s back", l.LineID, amount))
		}
		if l.KeepOffer != nil && l.KeepOffer.Answer == "" && l.Eligible && l.NeedsShipment() {
			open = append(open, l.LineID)
		}
	}
	if len(open) == 0 {
		return nil
	}
	due := r.now(ctx).Add(kd.AnswerWithin.D())
	for _, id := range open {
		l := r.v.Line(id)
		l.KeepOffer.Until = due
		r.awaiting["keep:"+id] = true
		r.notice(activities.ToCustomer, "keep_offer", map[string]string{"line_id": id, "sku": l.SKU, "amount": l.KeepOffer.Amount.String(), "answer_by": domain.FormatTime(due)})
	}
	r.transition(ctx, domain.StatusAwaitingChoice, domain.Wait(domain.WaitingCustomer), domain.DeadlineAt("keep_offer", due), "awaiting_keep_answer", "support", strings.Join(open, ", "))
	answered := func() bool {
		for _, id := range open {
			if _, ok := r.keepAnswers[id]; !ok {
				return false
			}
		}
		return true
	}
	if _, err := r.await(ctx, &wait{stage: stageKeepOffer, until: answered, points: []point{
		{id: "keep-offer-deadline", at: due, summary: "keep offer answer due " + domain.FormatTime(due), fire: func(workflow.Context) (bool, error) { return true, nil }},
	}}); err != nil {
		return err
	}
	for _, id := range open {
		delete(r.awaiting, "keep:"+id)
		l := r.v.Line(id)
		accept, answered := r.keepAnswers[id]
		switch {
		case !answered:
			l.KeepOffer.Answer = "expired"
			r.addTimeline(ctx, "keep_offer_expired", "policy", id+": no answer by "+domain.FormatTime(due)+"; the return goes on")
		case !accept:
			l.KeepOffer.Answer = "declined"
		default:
			// Kept: nothing comes back, and the offer is what the line pays.
			l.KeepOffer.Answer = "accepted"
			amount := l.KeepOffer.Amount
			l.Resolution, l.Returnless, l.Replacement = domain.ResolutionKeep, true, nil
			l.Override = &domain.RefundOverride{Amount: &amount, Reason: "kept at a discount", Actor: l.KeepOffer.By, At: r.now(ctx)}
		}
	}
	r.v.WaitingOn, r.v.Deadline = domain.Wait(domain.WaitingSystem), nil
	if !r.v.NeedsReturnShipment() {
		// Everything is kept: it resolves without a parcel; the approval
		// notice says nothing needs to come back.
		n := r.v.ApprovedNotice()
		r.tell(n.Template, n.Params)
	}
	return nil
}
