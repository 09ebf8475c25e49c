package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/domain"
)

// 5. Return shipment: the customer picks pickup or drop-off, we book the
// label, and the parcel must move before its deadline plus the logistics
// buffer or the return expires.
func (r *returnRun) returnShipment(ctx workflow.Context) error {
	if !r.v.NeedsReturnShipment() {
		return nil
	}
	if err := r.chooseShipping(ctx); err != nil {
		return err
	}
	if err := r.bookLabel(ctx); err != nil {
		return err
	}
	return r.followParcel(ctx)
}

func (r *returnRun) chooseShipping(ctx workflow.Context) error {
	if !r.v.InShippingChoice() {
		// An auto-approved return was asked already by domain.Open.
		n := r.v.EnterShippingChoice(r.p, r.now(ctx))
		r.notice(n.To, n.Template, n.Params)
	}
	due := r.v.Deadline.At
	met, err := r.await(ctx, &wait{stage: stageShippingChoice, until: func() bool { return r.parcel.method != "" }, points: []point{
		{id: "shipping-choice-reminder", at: due.Add(-r.p.Shipping.ChoiceReminderBefore.D()), summary: "shipping choice reminder, due " + domain.FormatTime(due),
			fire: func(workflow.Context) (bool, error) {
				r.notice(activities.ToCustomer, "shipping_choice_reminder", map[string]string{"answer_by": domain.FormatTime(due)})
				return false, nil
			}},
		{id: "shipping-choice-deadline", at: due, summary: "shipping choice due " + domain.FormatTime(due),
			fire: func(workflow.Context) (bool, error) { return true, nil }},
	}})
	if err != nil {
		return err
	}
	if !met {
		return &expiredError{why: "no shipping method chosen by " + domain.FormatTime(due)}
	}
	return nil
}

func (r *returnRun) shipWithin() time.Duration {
	if r.parcel.method == domain.ShippingPickup {
		return r.p.Shipping.PickupWithin.D()
	}
	return r.p.Shipping.DropoffWithin.D()
}

// bookLabel books the label; the activity routes its tracking number to this
// return in the same step, and hands back any scan that beat it.
func (r *returnRun) bookLabel(ctx workflow.Context) error {
	method := r.parcel.method
	req := activities.LabelRequest{Key: activities.Key(r.in.RMAID, "return-label"), RMAID: r.in.RMAID, Method: method,
		Customer: r.req.Customer, Parcels: 1, ShipWithinHours: int(r.shipWithin().Hours())}
	var res activities.LabelResult
	s := step{name: "create-label", summary: fmt.Sprintf("book %s label, ship by %s", method, domain.FormatTime(r.now(ctx).Add(r.shipWithin()))),
		doing: "booking the return label", class: classCarrier, cancelSafe: true}
	if err := r.do(ctx, s, act.CreateReturnLabel, req, &res); err != nil {
		return err
	}
	shipBy := r.now(ctx).Add(r.shipWithin())
	label := res.Label
	r.parcel.tracking, r.parcel.shipBy = label.TrackingNumber, shipBy
	r.v.TrackingNumber = label.TrackingNumber
	r.v.Label = &domain.ReturnLabel{Method: method, TrackingNumber: label.TrackingNumber, URL: label.LabelURL, ReturnAddress: label.ReturnAddress, ShipBy: shipBy}
	r.trackParcel(label.TrackingNumber)
	r.reach(ctx, "label")
	r.addCompensation("void label "+label.TrackingNumber, func(ctx workflow.Context, _ bool) error {
		void := activities.VoidLabelRequest{Key: activities.Key(r.in.RMAID, "return-label", "void"), RMAID: r.in.RMAID, TrackingNumber: label.TrackingNumber}
		return r.do(ctx, step{name: "void-label", summary: "void label " + label.TrackingNumber + " and cancel pickup", class: classCarrier}, act.VoidReturnLabel, void, nil)
	})
	waiting := domain.WaitingCustomer
	if method == domain.ShippingPickup {
		waiting = domain.WaitingCarrier
	}
	r.transition(ctx, domain.StatusAwaitingShipment, domain.Wait(waiting), domain.DeadlineAt(string(method), shipBy), "label_issued", "carrier",
		fmt.Sprintf("%s %s, ship by %s", method, label.TrackingNumber, domain.FormatTime(shipBy)))
	r.notice(activities.ToCustomer, "label_ready", map[string]string{"method": string(method), "tracking": label.TrackingNumber,
		"label_url": label.LabelURL, "return_address": label.ReturnAddress, "ship_by": domain.FormatTime(shipBy)})
	for _, e := range res.Events {
		r.onCarrierEvent(ctx, CarrierEvent{EventID: e.EventID, TrackingNumber: label.TrackingNumber, Type: e.Type, OccurredAt: e.OccurredAt, Detail: e.Detail})
	}
	return nil
}

// followParcel follows the parcel to the warehouse, in one wait whose points
// depend on where the parcel is. Before the first scan: reminders, the
// deadline and the logistics buffer, then expiry. After it: the transit
// deadline (support is alerted), the advance-exchange hold window, and the
// VIP refund at the first scan. It ends when the parcel is delivered or
// received.
func (r *returnRun) followParcel(ctx workflow.Context) error {
	kind := string(r.parcel.method)
	shipBy := r.parcel.shipBy
	bufferEnd := shipBy.Add(r.p.Shipping.LogisticsBuffer.D())
	before := r.p.Shipping.DropoffReminderBefore.D()
	if r.parcel.method == domain.ShippingPickup {
		before = r.p.Shipping.PickupReminderBefore.D()
	}
	notScanned := func() bool { return !r.parcel.pickedUp && !r.parcel.received }
	points := []point{
		{id: kind + "-reminder", at: shipBy.Add(-before), summary: kind + " reminder, deadline " + domain.FormatTime(shipBy), active: notScanned,
			fire: func(workflow.Context) (bool, error) {
				r.notice(activities.ToCustomer, kind+"_reminder", map[string]string{"ship_by": domain.FormatTime(shipBy), "tracking": r.parcel.tracking})
				return false, nil
			}},
		{id: kind + "-deadline", at: shipBy, summary: kind + " deadline " + domain.FormatTime(shipBy), active: notScanned,
			fire: func(ctx workflow.Context) (bool, error) {
				r.setDeadline(ctx, domain.DeadlineAt(kind+"_buffer", bufferEnd), "deadline_passed",
					fmt.Sprintf("%s deadline passed; logistics buffer until %s", kind, domain.FormatTime(bufferEnd)))
				r.notice(activities.ToCustomer, "shipping_overdue", map[string]string{"expires_at": domain.FormatTime(bufferEnd)})
				return false, nil
			}},
		{id: kind + "-buffer", at: bufferEnd, summary: kind + " deadline + logistics buffer " + domain.FormatTime(bufferEnd), active: notScanned,
			fire: func(workflow.Context) (bool, error) { return true, nil }},
	}
	// The transit deadline runs from the first scan, so its point is made
	// when the scan is applied (see work below).
	transit := func() bool { return r.parcel.pickedUp && !r.parcel.delivered && !r.parcel.received }
	for _, l := range r.v.Lines {
		if rep := l.Replacement; rep != nil && rep.Advance && rep.Shipped {
			lineID := l.LineID
			holdDue := r.holdAt[lineID].Add(r.p.Exchange.AdvanceHoldWindow.D())
			points = append(points, point{id: "hold-window-" + lineID, at: holdDue, summary: "advance-exchange hold window ends " + domain.FormatTime(holdDue), fixed: true,
				active: func() bool { return !r.parcel.delivered && !r.parcel.received },
				fire: func(ctx workflow.Context) (bool, error) {
					// The return has not arrived within the hold window:
					// capture; if it arrives and passes, resolve refunds it.
					return false, r.settleHold(ctx, lineID, true)
				}})
		}
	}
	fastLane := r.fastLane()
	inTransit := false
	w := wait{stage: stageParcel, until: func() bool { return r.parcel.delivered || r.parcel.received }, points: points}
	w.work = func(ctx workflow.Context) error {
		if !r.parcel.pickedUp || inTransit {
			return nil
		}
		inTransit = true
		if fastLane {
			if err := r.refundLines(ctx, "fast lane: refunded at first carrier scan", func(l domain.LineState) bool { return l.NeedsShipment() }); err != nil {
				return err
			}
		}
		if r.parcel.delivered || r.parcel.received {
			return nil
		}
		transitDue := r.parcel.pickedUpAt.Add(r.p.Shipping.TransitWithin.D())
		r.transition(ctx, domain.StatusInTransit, domain.Wait(domain.WaitingCarrier), domain.DeadlineAt("transit", transitDue), "in_transit", "carrier", r.parcel.tracking)
		w.points = append(w.points, point{id: "transit-deadline", at: transitDue, summary: "transit deadline " + domain.FormatTime(transitDue), active: transit,
			fire: func(ctx workflow.Context) (bool, error) {
				if r.in.Features >= 1 && r.p.Shipping.LostParcel == "settle" {
					return true, r.lostInTransit(ctx)
				}
				r.setDeadline(ctx, nil, "transit_overdue", "parcel not delivered within "+r.p.Shipping.TransitWithin.String()+"; support alerted")
				r.notice(activities.ToSupport, "transit_overdue", map[string]string{"tracking": r.parcel.tracking})
				return false, nil
			}})
		return nil
	}
	met, err := r.await(ctx, &w)
	if err != nil {
		return err
	}
	if !met && r.parcel.lost {
		return nil // settled as lost: resolve pays, the claim is followed at close
	}
	if !met {
		return &expiredError{why: fmt.Sprintf("parcel not handed to the carrier by %s (deadline %s + buffer %s)", domain.FormatTime(bufferEnd), domain.FormatTime(shipBy), r.p.Shipping.LogisticsBuffer)}
	}
	if !r.parcel.received {
		r.transition(ctx, domain.StatusInTransit, domain.Wait(domain.WaitingWarehouse), r.inspectionDeadline(), "delivered", "carrier", "delivered to the warehouse")
	}
	return nil
}

// lostInTransit settles a parcel the carrier did not deliver in time: a
// claim is opened with the tracking record (unless one is open), the
// customer is told, and the return goes on as if the parcel had arrived
// and passed: resolve refunds the money lines and ships the exchanges'
// replacements; close follows the claim to its result.
func (r *returnRun) lostInTransit(ctx workflow.Context) error {
	r.parcel.lost, r.v.Lost = true, true
	r.breach(ctx, "transit", "parcel not delivered within "+r.p.Shipping.TransitWithin.String()+"; settled as lost")
	if r.v.ClaimID == "" && r.claim == nil {
		// A claim that could not be filed earlier (an exception's) is
		// filed again, same key, and waited for.
		r.v.ClaimError, r.claimThrough = "", ""
		r.fileClaim(ctx, "lost in transit: not delivered within "+r.p.Shipping.TransitWithin.String())
	}
	r.transition(ctx, domain.StatusResolving, domain.Wait(domain.WaitingSystem), nil, "lost_in_transit", "carrier", r.parcel.tracking+" lost; settling the customer")
	r.notice(activities.ToSupport, "parcel_lost", map[string]string{"tracking": r.parcel.tracking})
	r.tell("parcel_lost", map[string]string{"tracking": r.parcel.tracking})
	return nil
}

// followClaim waits, up to shipping.claim_within, for the carrier's answer
// to a lost parcel's claim (a claim_settled event on the parcel). A
// rejection, a claim that could not be filed, or no answer in time becomes
// support's task: the customer was settled already.
func (r *returnRun) followClaim(ctx workflow.Context) error {
	due := r.now(ctx).Add(r.p.Shipping.ClaimWithin.D())
	r.transition(ctx, domain.StatusResolving, domain.Wait(domain.WaitingCarrier), domain.DeadlineAt("claim", due), "awaiting_claim", "carrier", "claim "+r.v.ClaimID)
	met, err := r.await(ctx, &wait{stage: stageClaim, until: func() bool { return r.v.ClaimResult != "" || r.v.ClaimError != "" }, points: []point{
		{id: "claim-deadline", at: due, summary: "carrier claim answer due " + domain.FormatTime(due), fire: func(workflow.Context) (bool, error) { return true, nil }},
	}})
	switch {
	case err != nil:
		return err
	case !met:
		r.addTimeline(ctx, "claim_unanswered", "system", "no answer to claim "+r.v.ClaimID+" by "+domain.FormatTime(due))
		r.notice(activities.ToSupport, "claim_unanswered", map[string]string{"claim_id": r.v.ClaimID, "tracking": r.parcel.tracking})
	case strings.HasPrefix(r.v.ClaimResult, "rejected"):
		r.notice(activities.ToSupport, "claim_rejected", map[string]string{"claim_id": r.v.ClaimID, "result": r.v.ClaimResult})
	}
	return nil
}
