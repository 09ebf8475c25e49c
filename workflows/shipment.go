package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/domain"
)

func (r *returnRun) needsReturnShipment() bool {
	for _, l := range r.v.Lines {
		if needsShipment(l) {
			return true
		}
	}
	return false
}

// 5. Return shipment: the customer picks pickup or drop-off, we book the
// label, and the parcel must move before its deadline plus the logistics
// buffer or the return expires.
func (r *returnRun) returnShipment(ctx workflow.Context) error {
	if !r.needsReturnShipment() {
		return nil
	}
	if err := r.chooseShipping(ctx); err != nil {
		return err
	}
	if err := r.bookLabel(ctx); err != nil {
		return err
	}
	if err := r.awaitFirstScan(ctx); err != nil {
		return err
	}
	return r.awaitArrival(ctx)
}

func (r *returnRun) chooseShipping(ctx workflow.Context) error {
	if r.shipping != "" {
		return nil
	}
	due := workflow.Now(ctx).Add(r.p.Shipping.ChoiceWithin.D())
	r.transition(ctx, domain.StatusAwaitingShipment, waitOn(domain.WaitingCustomer), deadlineAt("shipping_choice", due), "awaiting_shipping_choice", "system", "pickup or drop-off?")
	r.notify(ctx, activities.ToCustomer, "choose_shipping", map[string]string{"answer_by": fmtTime(due)})
	rem := []reminder{{id: "shipping-choice-reminder", at: due.Add(-r.p.Shipping.ChoiceReminderBefore.D()), summary: "shipping choice reminder, due " + fmtTime(due), fire: func(ctx workflow.Context) {
		r.notify(ctx, activities.ToCustomer, "shipping_choice_reminder", map[string]string{"answer_by": fmtTime(due)})
	}}}
	met, err := r.waitUntil(ctx, due, "shipping choice due "+fmtTime(due), rem, func() bool { return r.shipping != "" })
	if err != nil {
		return err
	}
	if !met {
		return &expiredError{why: "no shipping method chosen by " + fmtTime(due)}
	}
	return nil
}

func (r *returnRun) shipWithin() time.Duration {
	if r.shipping == domain.ShippingPickup {
		return r.p.Shipping.PickupWithin.D()
	}
	return r.p.Shipping.DropoffWithin.D()
}

func (r *returnRun) bookLabel(ctx workflow.Context) error {
	shipBy := workflow.Now(ctx).Add(r.shipWithin())
	req := activities.LabelRequest{Key: activities.Key(r.in.RMAID, "return-label"), RMAID: r.in.RMAID, Method: r.shipping,
		Customer: r.req.Customer, Parcels: 1, PickupBy: shipBy}
	var label activities.Label
	summary := fmt.Sprintf("book %s label, ship by %s", r.shipping, fmtTime(shipBy))
	if err := r.do(ctx, "create-label", classCarrier, summary, act.CreateReturnLabel, req, &label); err != nil {
		return err
	}
	r.labelIssued = true
	r.v.TrackingNumber = label.TrackingNumber
	r.trackParcel(ctx, label.TrackingNumber)
	r.stage(ctx, "label")
	r.addCompensation("void label "+label.TrackingNumber, func(ctx workflow.Context, _ bool) error {
		return r.undoStep(ctx, classCarrier, "void label "+label.TrackingNumber+" and cancel pickup", act.VoidReturnLabel,
			activities.VoidLabelRequest{Key: activities.Key(r.in.RMAID, "return-label", "void"), RMAID: r.in.RMAID, TrackingNumber: label.TrackingNumber}, nil)
	})
	waiting := domain.WaitingCustomer
	if r.shipping == domain.ShippingPickup {
		waiting = domain.WaitingCarrier
	}
	r.transition(ctx, domain.StatusAwaitingShipment, waitOn(waiting), deadlineAt(string(r.shipping), shipBy), "label_issued", "carrier",
		fmt.Sprintf("%s %s, ship by %s", r.shipping, label.TrackingNumber, fmtTime(shipBy)))
	r.notify(ctx, activities.ToCustomer, "label_ready", map[string]string{"method": string(r.shipping), "tracking": label.TrackingNumber,
		"label_url": label.LabelURL, "return_address": label.ReturnAddress, "ship_by": fmtTime(shipBy)})
	r.shipBy = shipBy
	return nil
}

// awaitFirstScan waits for the carrier's first scan (or the warehouse, for a
// parcel that arrives unscanned). Past the deadline the logistics buffer
// covers carrier delays; past the buffer the return expires.
func (r *returnRun) awaitFirstScan(ctx workflow.Context) error {
	kind := string(r.shipping)
	bufferEnd := r.shipBy.Add(r.p.Shipping.LogisticsBuffer.D())
	before := r.p.Shipping.DropoffReminderBefore.D()
	if r.shipping == domain.ShippingPickup {
		before = r.p.Shipping.PickupReminderBefore.D()
	}
	rem := []reminder{
		{id: kind + "-reminder", at: r.shipBy.Add(-before), summary: kind + " reminder, deadline " + fmtTime(r.shipBy), fire: func(ctx workflow.Context) {
			r.notify(ctx, activities.ToCustomer, kind+"_reminder", map[string]string{"ship_by": fmtTime(r.shipBy), "tracking": r.v.TrackingNumber})
		}},
		{id: kind + "-deadline", at: r.shipBy, summary: kind + " deadline " + fmtTime(r.shipBy), fire: func(ctx workflow.Context) {
			r.setDeadline(ctx, deadlineAt(kind+"_buffer", bufferEnd), "deadline_passed",
				fmt.Sprintf("%s deadline passed; logistics buffer until %s", kind, fmtTime(bufferEnd)))
			r.notify(ctx, activities.ToCustomer, "shipping_overdue", map[string]string{"expires_at": fmtTime(bufferEnd)})
		}},
	}
	met, err := r.waitUntil(ctx, bufferEnd, kind+" deadline + logistics buffer "+fmtTime(bufferEnd), rem, func() bool { return r.pickedUp || r.received })
	if err != nil {
		return err
	}
	if !met {
		return &expiredError{why: fmt.Sprintf("parcel not handed to the carrier by %s (deadline %s + buffer %s)", fmtTime(bufferEnd), fmtTime(r.shipBy), r.p.Shipping.LogisticsBuffer)}
	}
	return nil
}

// awaitArrival follows the parcel to the warehouse. VIPs are refunded at the
// first scan; an advance-exchange hold is captured if the return has not
// arrived within the hold window.
func (r *returnRun) awaitArrival(ctx workflow.Context) error {
	if r.received {
		return nil
	}
	if r.p.FastLane.Enabled && r.req.Customer.Tier == domain.TierVIP {
		if err := r.refundLines(ctx, "fast lane: refunded at first carrier scan", func(l domain.LineState) bool { return needsShipment(l) }); err != nil {
			return err
		}
	}
	if r.delivered {
		r.transition(ctx, domain.StatusInTransit, waitOn(domain.WaitingWarehouse), deadlineAt("inspection", r.arrivedAt.Add(r.p.Inspection.Within.D())), "delivered", "carrier", "delivered to the warehouse")
		return nil
	}
	transitDue := r.v.Stages["picked_up"].Add(r.p.Shipping.TransitWithin.D())
	r.transition(ctx, domain.StatusInTransit, waitOn(domain.WaitingCarrier), deadlineAt("transit", transitDue), "in_transit", "carrier", r.v.TrackingNumber)
	var rem []reminder
	for _, l := range r.v.Lines {
		if rep := l.Replacement; rep != nil && rep.Advance && rep.Shipped {
			lineID := l.LineID
			holdDue := r.v.Stages["replacement_shipped"].Add(r.p.Exchange.AdvanceHoldWindow.D())
			rem = append(rem, reminder{id: "hold-window-" + lineID, at: holdDue, summary: "advance-exchange hold window ends " + fmtTime(holdDue), fire: func(ctx workflow.Context) {
				if err := r.settleHold(ctx, lineID, true); err != nil {
					r.addTimeline(ctx, "hold_capture_failed", "system", err.Error())
				}
			}})
		}
	}
	arrived := func() bool { return r.delivered || r.received }
	met, err := r.waitUntil(ctx, transitDue, "transit deadline "+fmtTime(transitDue), rem, arrived)
	if err != nil {
		return err
	}
	if !met {
		r.setDeadline(ctx, nil, "transit_overdue", "parcel not delivered within "+r.p.Shipping.TransitWithin.String()+"; support alerted")
		r.notify(ctx, activities.ToSupport, "transit_overdue", map[string]string{"tracking": r.v.TrackingNumber})
		if err := r.await(ctx, arrived); err != nil {
			return err
		}
	}
	if !r.received {
		r.transition(ctx, domain.StatusInTransit, waitOn(domain.WaitingWarehouse), deadlineAt("inspection", r.arrivedAt.Add(r.p.Inspection.Within.D())), "delivered", "carrier", "delivered to the warehouse")
	}
	return nil
}
