package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/domain"
)

// 4. Prepare: reserve replacements, settle price differences, ship advance
// exchanges.
func (r *returnRun) prepare(ctx workflow.Context) error {
	for i := range r.v.Lines {
		l := &r.v.Lines[i]
		if !l.Eligible || l.Resolution != domain.ResolutionExchange {
			continue
		}
		if err := r.reserveReplacement(ctx, l); err != nil {
			return err
		}
		if l.Resolution != domain.ResolutionExchange {
			continue // converted to refund or store credit
		}
		if err := r.chargeDifference(ctx, l); err != nil {
			return err
		}
		if r.advanceExchange(l) {
			if err := r.shipAdvance(ctx, l); err != nil {
				return err
			}
		}
	}
	return nil
}

// reserveReplacement reserves the exchange SKU, asking the customer what to
// do when it is out of stock.
func (r *returnRun) reserveReplacement(ctx workflow.Context, l *domain.LineState) error {
	sku, backorder := l.ExchangeSKU, false
	var eta *time.Time
	for round := 0; ; round++ {
		req := activities.ReserveRequest{
			Key:   activities.Key(r.in.RMAID, l.LineID, "reserve", sku, fmt.Sprint(round)),
			RMAID: r.in.RMAID, LineID: l.LineID, SKU: sku, Quantity: l.Quantity, Backorder: backorder,
		}
		var res activities.Reservation
		s := step{name: "reserve-" + l.LineID, summary: fmt.Sprintf("reserve %d × %s for %s", l.Quantity, sku, l.LineID),
			doing: "reserving the replacement for " + l.LineID, class: classStock, cancelSafe: true}
		r.releaseOnUndo(l, sku)
		if err := r.do(ctx, s, act.ReserveStock, req, &res); err != nil {
			return err
		}
		r.maybeReserved[l.LineID] = res.Reserved
		if res.Reserved {
			l.Replacement = &domain.Replacement{SKU: sku, Reserved: true, Backordered: res.Backordered, UnitPrice: res.UnitPrice,
				PriceDiff: domain.PriceDifference(l.UnitPrice, res.UnitPrice, l.Quantity)}
			what := "reserved"
			if res.Backordered {
				what = "backordered"
				if r.in.Features >= 1 {
					// Waited for at resolve, until the ETA and a grace
					// period (or the policy's wait without an ETA).
					by := r.now(ctx).Add(r.p.Exchange.RestockWait.D())
					if eta != nil {
						by = eta.Add(r.p.Exchange.RestockGrace.D())
					}
					l.Replacement.RestockBy = &by
					r.v.AwaitingRestock = append(r.v.AwaitingRestock, sku)
					what += ", waited for until " + domain.FormatTime(by)
				}
			}
			r.addTimeline(ctx, "replacement_reserved", "inventory", fmt.Sprintf("%s: %s %s", l.LineID, sku, what))
			return nil
		}
		eta = res.RestockETA
		c, err := r.askExchangeChoice(ctx, l, sku, res, round)
		if err != nil {
			return err
		}
		switch c.Choice {
		case domain.ChoiceWait:
			backorder = true
		case domain.ChoiceVariant:
			sku = c.SKU
		case domain.ChoiceRefund:
			l.Resolution = domain.ResolutionRefund
			r.addTimeline(ctx, "exchange_converted", c.Actor, l.LineID+": refund instead of exchange")
			return nil
		case domain.ChoiceStoreCredit:
			l.Resolution = domain.ResolutionStoreCredit
			r.addTimeline(ctx, "exchange_converted", c.Actor, l.LineID+": store credit instead of exchange")
			return nil
		}
	}
}

// releaseOnUndo makes sure an undo releases what may be reserved for the
// line, registered before the reservation call: if that call fails and
// support is asked, a cancel must still release a reservation the call may
// have made (by its key; releasing none is a no-op). A definite "out of
// stock" answer clears it.
func (r *returnRun) releaseOnUndo(l *domain.LineState, sku string) {
	lineID, qty := l.LineID, l.Quantity
	if _, known := r.maybeReserved[lineID]; !known {
		r.addCompensation("release the reservation for "+lineID, func(ctx workflow.Context, _ bool) error {
			rep := r.v.Line(lineID).Replacement
			if !r.maybeReserved[lineID] || (rep != nil && rep.Shipped) {
				return nil
			}
			last := r.lastSKU[lineID]
			rel := activities.StockRequest{Key: activities.Key(r.in.RMAID, lineID, "release"), RMAID: r.in.RMAID, LineID: lineID, SKU: last, Quantity: qty}
			return r.do(ctx, step{name: "release-" + lineID, summary: "release reservation of " + last + " for " + lineID, class: classStock}, act.ReleaseStock, rel, nil)
		})
	}
	r.maybeReserved[lineID], r.lastSKU[lineID] = true, sku
}

// maxChoiceRounds bounds how often a customer is asked: after that the
// policy default applies without asking again.
const maxChoiceRounds = 3

// askExchangeChoice offers the alternatives and waits for the customer, with
// the policy default at the deadline.
func (r *returnRun) askExchangeChoice(ctx workflow.Context, l *domain.LineState, sku string, res activities.Reservation, round int) (ExchangeChoiceInput, error) {
	def := ExchangeChoiceInput{Actor: "policy", Choice: r.p.Exchange.ChoiceDefault}
	if round >= maxChoiceRounds {
		r.addTimeline(ctx, "exchange_default", "policy", fmt.Sprintf("%s: out of stock %d times; %s applied", l.LineID, round+1, def.Choice))
		return def, nil
	}
	due := r.now(ctx).Add(r.p.Exchange.ChoiceWithin.D())
	params := map[string]string{"line_id": l.LineID, "sku": sku, "alternatives": strings.Join(res.Alternatives, ","), "answer_by": domain.FormatTime(due), "default": string(def.Choice)}
	detail := fmt.Sprintf("%s: %s out of stock", l.LineID, sku)
	if res.RestockETA != nil {
		params["restock_eta"] = domain.FormatTime(*res.RestockETA)
		detail += ", restock " + domain.FormatTime(*res.RestockETA)
	}
	r.awaiting[l.LineID] = true
	r.transition(ctx, domain.StatusAwaitingChoice, domain.Wait(domain.WaitingCustomer), domain.DeadlineAt("exchange_choice", due), "out_of_stock", "inventory", detail)
	r.notice(activities.ToCustomer, "out_of_stock", params)
	met, err := r.await(ctx, &wait{stage: stageExchangeChoice,
		until: func() bool { _, answered := r.choices[l.LineID]; return answered },
		points: []point{
			{id: fmt.Sprintf("choice-reminder-%s-%d", l.LineID, round), at: due.Add(-r.p.Exchange.ChoiceReminderBefore.D()), summary: "exchange choice reminder, due " + domain.FormatTime(due),
				fire: func(workflow.Context) (bool, error) {
					r.notice(activities.ToCustomer, "choice_reminder", params)
					return false, nil
				}},
			{id: fmt.Sprintf("choice-deadline-%s-%d", l.LineID, round), at: due, summary: "exchange choice due " + domain.FormatTime(due) + " (default " + string(def.Choice) + ")",
				fire: func(workflow.Context) (bool, error) { return true, nil }},
		}})
	if err != nil {
		return def, err
	}
	delete(r.awaiting, l.LineID)
	c := def
	if met {
		c = r.choices[l.LineID]
	} else {
		r.addTimeline(ctx, "exchange_default", "policy", fmt.Sprintf("%s: no answer by %s; %s applied", l.LineID, domain.FormatTime(due), def.Choice))
	}
	delete(r.choices, l.LineID)
	r.v.WaitingOn, r.v.Deadline = domain.Wait(domain.WaitingSystem), nil
	r.addTimeline(ctx, "exchange_choice_applied", c.Actor, l.LineID+": "+string(c.Choice))
	return c, nil
}

// chargeDifference charges a dearer replacement now; a cheaper one is
// refunded at resolve, once the return has passed inspection.
func (r *returnRun) chargeDifference(ctx workflow.Context, l *domain.LineState) error {
	diff := l.Replacement.PriceDiff
	if diff.Amount <= 0 {
		return nil
	}
	key := activities.Key(r.in.RMAID, l.LineID, "price-difference")
	pay := activities.PaymentRequest{Payment: r.req.Payment, Key: key, Kind: activities.PayCharge, RMAID: r.in.RMAID, LineID: l.LineID, CustomerID: r.req.Customer.ID, Amount: diff, Memo: "exchange price difference"}
	// Charging is revocable: a cancel refunds it.
	s := step{name: "charge-difference-" + l.LineID, summary: "charge price difference " + diff.String() + " for " + l.LineID, doing: "charging the price difference for " + l.LineID, class: classMoney}
	if err := r.do(ctx, s, act.MoveMoney, pay, nil); err != nil {
		return err
	}
	r.paid(ctx, pay)
	r.addTimeline(ctx, "price_difference_charged", "payments", l.LineID+": "+diff.String())
	lineID := l.LineID
	r.addCompensation("refund price difference for "+lineID, func(ctx workflow.Context, _ bool) error {
		return r.refundCharge(ctx, lineID, diff, "price-difference-reversal", key)
	})
	return nil
}

// refundCharge gives money back that we took (a reversed charge, a hold
// captured too early, a cheaper replacement). of is the key of the
// movement it gives back, empty for the order's own payment: a provider
// refunds the payment the money came from.
func (r *returnRun) refundCharge(ctx workflow.Context, lineID string, amount domain.Money, purpose, of string) error {
	pay := activities.PaymentRequest{Payment: r.req.Payment, Key: activities.Key(r.in.RMAID, lineID, purpose), Kind: activities.PayRefund, RMAID: r.in.RMAID, LineID: lineID, CustomerID: r.req.Customer.ID, Amount: amount, Memo: purpose, RefundOf: of}
	s := step{name: purpose + "-" + lineID, summary: "refund " + amount.String() + " (" + purpose + ") for " + lineID, doing: "refunding " + lineID, class: classMoney, irrevocable: true}
	if err := r.do(ctx, s, act.MoveMoney, pay, nil); err != nil {
		return err
	}
	r.paid(ctx, pay)
	return nil
}

func (r *returnRun) advanceExchange(l *domain.LineState) bool {
	return r.p.Exchange.AdvanceForVIP && r.req.Customer.Tier == domain.TierVIP &&
		l.Replacement != nil && !l.Replacement.Backordered && l.NeedsShipment()
}

// shipAdvance ships the replacement before the return arrives, under a
// payment hold worth the replacement.
func (r *returnRun) shipAdvance(ctx workflow.Context, l *domain.LineState) error {
	holdKey := activities.Key(r.in.RMAID, l.LineID, "advance-hold")
	amount := l.Replacement.UnitPrice.Mul(l.Quantity)
	hold := activities.PaymentRequest{Payment: r.req.Payment, Key: holdKey, Kind: activities.PayHold, RMAID: r.in.RMAID, LineID: l.LineID, CustomerID: r.req.Customer.ID,
		Amount: amount, ExpiresIn: r.p.Exchange.AdvanceHoldWindow.D(), Memo: "advance exchange hold"}
	s := step{name: "advance-hold-" + l.LineID, summary: "hold " + amount.String() + " for advance exchange of " + l.LineID, doing: "placing the advance-exchange hold for " + l.LineID, class: classMoney}
	if err := r.do(ctx, s, act.MoveMoney, hold, nil); err != nil {
		return err
	}
	r.paid(ctx, hold)
	r.holdAt[l.LineID] = r.now(ctx)
	l.Replacement.Advance = true
	r.addTimeline(ctx, "advance_hold", "payments", l.LineID+": "+amount.String()+" held")
	lineID := l.LineID
	// On cancel the hold is voided, or captured if the replacement has left
	// (see settleHold): the customer never keeps goods for free.
	r.addCompensation("settle advance-exchange hold for "+lineID, func(ctx workflow.Context, expiring bool) error {
		rep := r.v.Line(lineID).Replacement
		return r.settleHold(ctx, lineID, expiring || rep.Shipped)
	})
	return r.shipReplacement(ctx, l)
}

// settleHold captures the hold (the goods left and the return never came)
// or voids it.
func (r *returnRun) settleHold(ctx workflow.Context, lineID string, capture bool) error {
	l := r.v.Line(lineID)
	rep := l.Replacement
	if rep == nil || !rep.Advance || rep.HoldCaptured || rep.HoldReleased {
		return nil
	}
	kind, purpose := activities.PayVoidHold, "advance-hold-void"
	if capture {
		kind, purpose = activities.PayCapture, "advance-hold-capture"
	}
	amount := rep.UnitPrice.Mul(l.Quantity)
	pay := activities.PaymentRequest{Payment: r.req.Payment, Key: activities.Key(r.in.RMAID, lineID, purpose), Kind: kind, RMAID: r.in.RMAID, LineID: lineID, CustomerID: r.req.Customer.ID,
		Amount: amount, HoldKey: activities.Key(r.in.RMAID, lineID, "advance-hold"), Memo: purpose}
	s := step{name: purpose + "-" + lineID, summary: kind + " advance-exchange hold " + amount.String() + " for " + lineID, doing: "settling the advance-exchange hold for " + lineID, class: classMoney, irrevocable: true}
	if err := r.do(ctx, s, act.MoveMoney, pay, nil); err != nil {
		return err
	}
	r.paid(ctx, pay)
	rep.HoldCaptured, rep.HoldReleased = capture, !capture
	if capture {
		r.addTimeline(ctx, "advance_hold_captured", "payments", lineID+": "+amount.String())
	}
	return nil
}

// shipOut sends goods to the customer (replacement, reship, repaired or
// rejected item) and makes the parcel trackable. The key is the RMA, the
// line and the purpose, so a retry never ships twice.
func (r *returnRun) shipOut(ctx workflow.Context, l *domain.LineState, sku, purpose, keyPurpose, stepName, summary, doing string) (string, error) {
	return r.shipUnits(ctx, l, l.Quantity, sku, purpose, keyPurpose, stepName, summary, doing)
}

// shipUnits is shipOut for some of the line's units (a partial result's
// failed ones).
func (r *returnRun) shipUnits(ctx workflow.Context, l *domain.LineState, units int, sku, purpose, keyPurpose, stepName, summary, doing string) (string, error) {
	ship := activities.ShipRequest{Key: activities.Key(r.in.RMAID, l.LineID, keyPurpose), RMAID: r.in.RMAID, LineID: l.LineID, SKU: sku,
		Quantity: units, Purpose: purpose, Customer: r.req.Customer}
	var sh activities.Shipment
	s := step{name: stepName + l.LineID, summary: summary, doing: doing, class: classCarrier, irrevocable: true}
	if err := r.do(ctx, s, act.ShipToCustomer, ship, &sh); err != nil {
		return "", err
	}
	r.trackParcel(sh.TrackingNumber)
	return sh.TrackingNumber, nil
}

// shipReplacement commits the reservation and ships the replacement.
func (r *returnRun) shipReplacement(ctx workflow.Context, l *domain.LineState) error {
	rep := l.Replacement
	stock := activities.StockRequest{Key: activities.Key(r.in.RMAID, l.LineID, "commit"), RMAID: r.in.RMAID, LineID: l.LineID, SKU: rep.SKU, Quantity: l.Quantity}
	s := step{name: "commit-" + l.LineID, summary: "commit reservation of " + rep.SKU + " for " + l.LineID, doing: "shipping the replacement for " + l.LineID, class: classStock, irrevocable: true}
	if err := r.do(ctx, s, act.CommitStock, stock, nil); err != nil {
		return err
	}
	tracking, err := r.shipOut(ctx, l, rep.SKU, activities.ShipReplacement, "replacement", "ship-replacement-", "ship replacement "+rep.SKU+" for "+l.LineID, "shipping the replacement for "+l.LineID)
	if err != nil {
		return err
	}
	rep.Shipped, rep.TrackingNumber = true, tracking
	r.v.ReplacementTrackingNumber = tracking
	r.reach(ctx, "replacement_shipped")
	r.addTimeline(ctx, "replacement_shipped", "carrier", l.LineID+": "+rep.SKU+" "+tracking)
	r.notice(activities.ToCustomer, "replacement_shipped", map[string]string{"sku": rep.SKU, "tracking": tracking})
	return nil
}

// onRestock records that a SKU the return waits for is back in stock; the
// wait at resolve reserves it.
func (r *returnRun) onRestock(ctx workflow.Context, ev RestockEvent) {
	for _, sku := range r.v.AwaitingRestock {
		if sku == ev.SKU && !r.restocked[sku] {
			r.restocked[sku] = true
			r.addTimeline(ctx, "restock_event", "inventory", fmt.Sprintf("%s back in stock (%d available)", sku, ev.Available))
			return
		}
	}
}

// awaitRestock waits for a backordered replacement: at each restock event
// it reserves for real (a new reservation, its own key) and goes on to
// ship; past the line's restock deadline the policy's default applies
// (refund when the default is to wait), the backorder is released and the
// customer told. It reports whether the replacement can ship.
func (r *returnRun) awaitRestock(ctx workflow.Context, l *domain.LineState) (bool, error) {
	rep := l.Replacement
	due := *rep.RestockBy
	r.transition(ctx, domain.StatusResolving, domain.Wait(domain.WaitingSystem), domain.DeadlineAt("restock", due), "awaiting_restock", "inventory", l.LineID+": "+rep.SKU+" until "+domain.FormatTime(due))
	for attempt := 0; ; attempt++ {
		lineID, sku := l.LineID, rep.SKU
		met, err := r.await(ctx, &wait{stage: stageRestock, until: func() bool { return r.restocked[sku] }, points: []point{
			{id: "restock-deadline-" + lineID, at: due, summary: "restock of " + sku + " due " + domain.FormatTime(due),
				fire: func(workflow.Context) (bool, error) { return true, nil }},
		}})
		if err != nil {
			return false, err
		}
		if !met {
			return false, r.restockExpired(ctx, l)
		}
		// One reservation at a time: the backorder is released, then the
		// stock reserved; if it went elsewhere the backorder is booked
		// again. Each call has its own key per attempt.
		n := fmt.Sprint(attempt)
		rel := activities.StockRequest{Key: activities.Key(r.in.RMAID, lineID, "release-backorder", n), RMAID: r.in.RMAID, LineID: lineID, SKU: sku, Quantity: l.Quantity}
		if err := r.do(ctx, step{name: "release-backorder-" + lineID, summary: "release the backorder of " + sku + " for " + lineID, class: classStock}, act.ReleaseStock, rel, nil); err != nil {
			return false, err
		}
		req := activities.ReserveRequest{Key: activities.Key(r.in.RMAID, lineID, "restock-reserve", n), RMAID: r.in.RMAID, LineID: lineID, SKU: sku, Quantity: l.Quantity, Backorder: true}
		var res activities.Reservation
		s := step{name: "restock-reserve-" + lineID, summary: fmt.Sprintf("reserve %d × %s, back in stock, for %s", l.Quantity, sku, lineID), class: classStock}
		if err := r.do(ctx, s, act.ReserveStock, req, &res); err != nil {
			return false, err
		}
		if res.Reserved && !res.Backordered {
			rep.Backordered = false
			r.stopAwaiting(sku)
			r.addTimeline(ctx, "replacement_reserved", "inventory", lineID+": "+sku+" reserved from the restock")
			return true, nil
		}
		// The stock went elsewhere: wait for the next restock. (A success
		// leaves the mark, so other lines waiting for the SKU try too.)
		delete(r.restocked, sku)
		r.addTimeline(ctx, "restock_missed", "inventory", lineID+": "+sku+" restocked but taken; still waiting")
	}
}

func (r *returnRun) stopAwaiting(sku string) {
	for i, s := range r.v.AwaitingRestock {
		if s == sku {
			r.v.AwaitingRestock = append(r.v.AwaitingRestock[:i], r.v.AwaitingRestock[i+1:]...)
			return
		}
	}
}

// restockExpired gives up on a backordered replacement: the backorder is
// released and the line is paid back as the policy's default says.
func (r *returnRun) restockExpired(ctx workflow.Context, l *domain.LineState) error {
	rep := l.Replacement
	rel := activities.StockRequest{Key: activities.Key(r.in.RMAID, l.LineID, "release"), RMAID: r.in.RMAID, LineID: l.LineID, SKU: rep.SKU, Quantity: l.Quantity}
	if err := r.do(ctx, step{name: "release-" + l.LineID, summary: "release the backorder of " + rep.SKU + " for " + l.LineID, class: classStock}, act.ReleaseStock, rel, nil); err != nil {
		return err
	}
	r.maybeReserved[l.LineID] = false
	r.stopAwaiting(rep.SKU)
	l.Resolution = domain.ResolutionRefund
	if r.p.Exchange.ChoiceDefault == domain.ChoiceStoreCredit {
		l.Resolution = domain.ResolutionStoreCredit
	}
	r.addTimeline(ctx, "restock_expired", "policy", fmt.Sprintf("%s: %s not back by %s; %s instead", l.LineID, rep.SKU, domain.FormatTime(*rep.RestockBy), l.Resolution))
	params := map[string]string{"line_id": l.LineID, "sku": rep.SKU}
	if l.Resolution == domain.ResolutionStoreCredit {
		r.notice(activities.ToCustomer, "restock_expired_store_credit", params)
	} else {
		r.notice(activities.ToCustomer, "restock_expired", params)
	}
	return r.refundLines(ctx, "restock expired", func(x domain.LineState) bool { return x.LineID == l.LineID })
}
