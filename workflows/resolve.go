package workflows

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/domain"
)

func passed(l domain.LineState) bool { return l.Passed() }

// settles reports a line resolve settles as passed: passed inspection, or
// lost in transit on its way back (the carrier's claim covers it).
func (r *returnRun) settles(l domain.LineState) bool {
	return passed(l) || (r.parcel.lost && l.NeedsShipment())
}

// 6. Receive and inspect within the SLA from arrival; a breach escalates and
// earns the customer a compensation coupon at close.
func (r *returnRun) inspect(ctx workflow.Context) error {
	if !r.v.NeedsReturnShipment() || r.parcel.lost {
		return nil
	}
	due := r.parcel.arrivedAt.Add(r.p.Inspection.Within.D())
	all := func() bool {
		for _, l := range r.v.Lines {
			if l.NeedsShipment() && l.Inspection == nil {
				return false
			}
		}
		return true
	}
	_, err := r.await(ctx, &wait{stage: stageWarehouse, until: all, points: []point{
		{id: "inspection-sla", at: due, summary: "inspection SLA " + domain.FormatTime(due), fire: func(ctx workflow.Context) (bool, error) {
			r.breach(ctx, "inspection", "not inspected within "+r.p.Inspection.Within.String()+" of arrival")
			r.setDeadline(ctx, nil, "escalated", "inspection SLA breached; escalated")
			r.notice(activities.ToSupport, "inspection_escalated", map[string]string{"due": domain.FormatTime(due)})
			return false, nil
		}},
	}})
	if err != nil {
		return err
	}
	r.reach(ctx, "inspected")
	var failed []string
	for i := range r.v.Lines {
		l := &r.v.Lines[i]
		if l.Inspection == nil {
			continue
		}
		if r.in.Features >= 1 && failedUnits(*l) > 0 && l.Refund == nil {
			// (A line already refunded at the first scan is support's:
			// sending it back would give the goods away too.)
			// The customer answers for the failed units (answerFailed);
			// the passed units of a partial result move now.
			failed = append(failed, l.LineID)
			if l.Inspection.Result == domain.InspectionPartial {
				if err := r.moveUnits(ctx, l, l.Inspection.Disposition, l.Inspection.PassedUnits, "disposition"); err != nil {
					return err
				}
			}
		} else if err := r.applyDisposition(ctx, l); err != nil {
			return err
		}
		if from := l.Inspection.ReclassifiedFrom; from != "" {
			r.notice(activities.ToCustomer, "reason_reclassified", map[string]string{"line_id": l.LineID, "from": string(from), "to": string(l.Reason), "note": l.Inspection.Note})
		}
		if l.Inspection.Result == domain.InspectionPass {
			r.tell("inspection_passed", map[string]string{"line_id": l.LineID, "sku": l.SKU})
		}
		if in := l.Inspection; in.Result == domain.InspectionPartial {
			r.notice(activities.ToCustomer, "inspection_partial", map[string]string{"line_id": l.LineID, "sku": l.SKU,
				"passed": fmt.Sprint(in.PassedUnits), "failed": fmt.Sprint(l.Quantity - in.PassedUnits), "note": in.Note})
		}
		if l.Inspection.Result == domain.InspectionFail && r.in.Features < 1 {
			r.notice(activities.ToCustomer, "inspection_failed", map[string]string{"line_id": l.LineID, "note": l.Inspection.Note,
				"disposition": string(l.Inspection.Disposition), "options": "return_to_customer,dispose,dispute"})
		}
		if l.Inspection.Result == domain.InspectionFail {
			if l.Refund != nil {
				r.notice(activities.ToSupport, "fast_lane_inspection_failed", map[string]string{"line_id": l.LineID, "refunded": l.Refund.Net.String()})
			}
		}
	}
	if len(failed) > 0 {
		return r.answerFailed(ctx, failed)
	}
	return nil
}

// applyDisposition moves the inspected item where the warehouse said.
// Repairs of a repair-resolution line are driven by resolve.
func (r *returnRun) applyDisposition(ctx workflow.Context, l *domain.LineState) error {
	d := l.Inspection.Disposition
	if d == domain.DispositionReturnToCustomer {
		tracking, err := r.shipOut(ctx, l, l.SKU, activities.ShipBackToCustomer, "return-to-customer", "return-to-customer-",
			"send "+l.SKU+" back to the customer", "sending "+l.LineID+" back to the customer")
		l.OutboundTracking = tracking
		return err
	}
	if d == domain.DispositionRepair && l.Resolution == domain.ResolutionRepair && passed(*l) {
		return nil
	}
	if in := l.Inspection; in.Result == domain.InspectionPartial {
		// The units follow their verdict: the passed ones where the
		// warehouse said, the failed ones to their own place, each its
		// own movement.
		if err := r.moveUnits(ctx, l, d, in.PassedUnits, "disposition"); err != nil {
			return err
		}
		if in.FailDisposition == domain.DispositionReturnToCustomer {
			tracking, err := r.shipUnits(ctx, l, l.Quantity-in.PassedUnits, l.SKU, activities.ShipBackToCustomer, "return-to-customer", "return-to-customer-",
				fmt.Sprintf("send %d × %s back to the customer", l.Quantity-in.PassedUnits, l.SKU), "sending "+l.LineID+"'s failed units back")
			l.OutboundTracking = tracking
			return err
		}
		return r.moveUnits(ctx, l, in.FailDisposition, failedUnits(*l), failedPurpose(*l))
	}
	return r.moveUnits(ctx, l, d, l.Quantity, "disposition")
}

// moveUnits moves units of a line's item where a disposition says, keyed
// by the RMA, the line and purpose.
func (r *returnRun) moveUnits(ctx workflow.Context, l *domain.LineState, d domain.Disposition, units int, purpose string) error {
	to := map[domain.Disposition]string{domain.DispositionRestock: activities.MovementRestock, domain.DispositionQuarantine: activities.MovementQuarantine,
		domain.DispositionDispose: activities.MovementDispose, domain.DispositionRepair: activities.MovementRepairIntake}[d]
	mv := activities.MoveRequest{Key: activities.Key(r.in.RMAID, l.LineID, purpose), RMAID: r.in.RMAID, LineID: l.LineID, SKU: l.SKU, Batch: l.Batch, Quantity: units, To: to}
	name := purpose + "-" + l.LineID
	if purpose == "disposition" {
		name = "disposition-" + l.LineID
	}
	s := step{name: name, summary: fmt.Sprintf("%s %d × %s", to, units, l.SKU), class: classStock}
	return r.do(ctx, s, act.MoveStock, mv, nil)
}

// 7. Resolve: pay passed and returnless lines, ship replacements, reship
// missing items, run repairs.
func (r *returnRun) resolve(ctx workflow.Context) error {
	r.transition(ctx, domain.StatusResolving, domain.Wait(domain.WaitingSystem), nil, "resolving", "system", "")
	if r.parcel.lost {
		for i := range r.v.Lines {
			// A lost item cannot be repaired: its line is paid back.
			if l := &r.v.Lines[i]; l.Eligible && l.Resolution == domain.ResolutionRepair {
				l.Resolution = domain.ResolutionRefund
				r.addTimeline(ctx, "repair_converted", "system", l.LineID+": lost in transit, refunded instead")
			}
		}
	}
	if err := r.refundLines(ctx, "", func(l domain.LineState) bool { return l.Returnless || r.settles(l) }); err != nil {
		return err
	}
	for i := range r.v.Lines {
		l := &r.v.Lines[i]
		if !l.Eligible {
			continue
		}
		var err error
		switch l.Resolution {
		case domain.ResolutionExchange:
			err = r.settleExchange(ctx, l)
		case domain.ResolutionReship:
			err = r.reship(ctx, l)
		case domain.ResolutionRepair:
			if passed(*l) {
				err = r.repair(ctx, l)
			}
		}
		if err != nil {
			return err
		}
	}
	r.reach(ctx, "resolved")
	return nil
}

// refundLines pays every picked money line not yet paid, fees deducted. The
// payment key is the RMA, the line and "refund": the fast lane and resolve
// can never both pay a line, and a retry never pays twice.
func (r *returnRun) refundLines(ctx workflow.Context, why string, pick func(domain.LineState) bool) error {
	var idx []int
	var inputs []domain.RefundInput
	for i, l := range r.v.Lines {
		if l.Eligible && l.Resolution.PaysMoney() && l.Refund == nil && pick(l) {
			idx = append(idx, i)
			// A partial inspection pays the passed units only; a loss of
			// value the inspection recorded is deducted.
			in := r.p.RefundInputFor(r.req, l.Line, l.Reason, l.PaidValue())
			if l.Inspection != nil && l.Inspection.ValueLoss != nil {
				in.Deduction = l.Inspection.ValueLoss.Amount
			}
			inputs = append(inputs, in)
		}
	}
	if len(inputs) == 0 {
		return nil
	}
	labelIssued := r.parcel.tracking != ""
	refunds := domain.ComputeRefunds(r.p, inputs, labelIssued && !r.shippingFeeSettled)
	r.shippingFeeSettled = labelIssued
	var total domain.Money
	for j, base := range refunds {
		l := &r.v.Lines[idx[j]]
		// Support's override, read here: one recorded while an earlier
		// line of this batch waited in needs_attention counts too.
		rf := l.Override.Apply(base)
		detail := why
		if l.Override != nil {
			detail = strings.TrimSpace(why + " override by " + l.Override.Actor + " (policy " + base.Net.String() + ")")
		}
		kind, method := activities.PayRefund, domain.ResolutionRefund
		via, account, purpose := r.refundMethod()
		if l.Resolution == domain.ResolutionStoreCredit || via == "store_credit" {
			kind, method, via, account, purpose = activities.PayStoreCredit, domain.ResolutionStoreCredit, "store_credit", "", "refund"
		}
		if rf.Net.Amount > 0 {
			// Each method is its own movement: a bank transfer's key is not
			// the original payment's, so the two can never be confused.
			pay := activities.PaymentRequest{Payment: r.req.Payment, Key: activities.Key(r.in.RMAID, l.LineID, purpose), Kind: kind, RMAID: r.in.RMAID, LineID: l.LineID,
				CustomerID: r.req.Customer.ID, Amount: rf.Net, Memo: fmt.Sprintf("%s %s, fees %s", kind, l.LineID, rf.Fees), Method: via, Account: account}
			if via == "original" {
				pay.Method = ""
			}
			s := step{name: "refund-" + l.LineID, summary: fmt.Sprintf("%s %s for %s (fees %s)", kind, rf.Net, l.LineID, rf.Fees),
				doing: "refunding " + l.LineID, class: classMoney, irrevocable: true}
			if err := r.do(ctx, s, act.MoveMoney, pay, nil); err != nil {
				return err
			}
			r.paid(ctx, pay)
		}
		l.Refund, l.RefundMethod, l.RefundVia = &rf, method, via
		r.v.RefundTotal = r.v.RefundTotal.Add(rf.Net)
		r.v.FeesTotal = r.v.FeesTotal.Add(rf.Fees)
		total = total.Add(rf.Net)
		r.addTimeline(ctx, "refunded", "payments", fmt.Sprintf("%s: %s %s (fees %s) %s", l.LineID, kind, rf.Net, rf.Fees, detail))
	}
	if err := r.refundOutboundShipping(ctx); err != nil {
		return err
	}
	r.reach(ctx, "refunded")
	r.notice(activities.ToCustomer, "refunded", map[string]string{"amount": total.String(), "fees": r.v.FeesTotal.String()})
	return nil
}

// settleExchange ships a passed exchange and settles its money; a failed one
// releases the stock and keeps what the customer owes.
func (r *returnRun) settleExchange(ctx workflow.Context, l *domain.LineState) error {
	rep := l.Replacement
	if rep == nil {
		return nil
	}
	diff := rep.PriceDiff
	if r.settles(*l) && rep.Backordered && !rep.Shipped && rep.RestockBy != nil {
		// Waiting for restock really waits (returns started with Features
		// 1): no replacement ships from empty stock.
		ships, err := r.awaitRestock(ctx, l)
		if err != nil || !ships {
			if err == nil && diff.Amount > 0 {
				err = r.refundCharge(ctx, l.LineID, diff, "price-difference-reversal", activities.Key(r.in.RMAID, l.LineID, "price-difference"))
			}
			return err
		}
	}
	if r.settles(*l) {
		if !rep.Shipped {
			if err := r.shipReplacement(ctx, l); err != nil {
				return err
			}
		}
		if rep.HoldCaptured {
			// The hold window ran out in transit, but the item came back fine.
			if err := r.refundCharge(ctx, l.LineID, rep.UnitPrice.Mul(l.Quantity), "advance-hold-refund", activities.Key(r.in.RMAID, l.LineID, "advance-hold")); err != nil {
				return err
			}
		} else if err := r.settleHold(ctx, l.LineID, false); err != nil {
			return err
		}
		if diff.Amount < 0 {
			back := domain.Money{Amount: -diff.Amount, Currency: diff.Currency}
			if err := r.refundCharge(ctx, l.LineID, back, "price-difference-refund", ""); err != nil {
				return err
			}
			r.addTimeline(ctx, "price_difference_refunded", "payments", l.LineID+": "+back.String())
		}
		return nil
	}
	if !rep.Shipped {
		rel := activities.StockRequest{Key: activities.Key(r.in.RMAID, l.LineID, "release"), RMAID: r.in.RMAID, LineID: l.LineID, SKU: rep.SKU, Quantity: l.Quantity}
		if err := r.do(ctx, step{name: "release-" + l.LineID, summary: "release reservation of " + rep.SKU + " for " + l.LineID, class: classStock}, act.ReleaseStock, rel, nil); err != nil {
			return err
		}
	} else if err := r.settleHold(ctx, l.LineID, true); err != nil {
		return err
	}
	if diff.Amount > 0 {
		// The exchange did not happen: the difference charged for it goes
		// back (a captured hold already pays for a replacement kept).
		if err := r.refundCharge(ctx, l.LineID, diff, "price-difference-reversal", activities.Key(r.in.RMAID, l.LineID, "price-difference")); err != nil {
			return err
		}
	}
	r.addTimeline(ctx, "exchange_not_shipped", "system", l.LineID+": inspection failed")
	return nil
}

// reship sends a missing item again; nothing comes back.
func (r *returnRun) reship(ctx workflow.Context, l *domain.LineState) error {
	res := activities.ReserveRequest{Key: activities.Key(r.in.RMAID, l.LineID, "reship-reserve"), RMAID: r.in.RMAID, LineID: l.LineID, SKU: l.SKU, Quantity: l.Quantity, Backorder: true}
	if err := r.do(ctx, step{name: "reship-reserve-" + l.LineID, summary: fmt.Sprintf("reserve %d × %s to reship", l.Quantity, l.SKU), class: classStock, irrevocable: true}, act.ReserveStock, res, nil); err != nil {
		return err
	}
	commit := activities.StockRequest{Key: activities.Key(r.in.RMAID, l.LineID, "reship-commit"), RMAID: r.in.RMAID, LineID: l.LineID, SKU: l.SKU, Quantity: l.Quantity}
	if err := r.do(ctx, step{name: "reship-commit-" + l.LineID, summary: "commit " + l.SKU + " to reship", class: classStock, irrevocable: true}, act.CommitStock, commit, nil); err != nil {
		return err
	}
	tracking, err := r.shipOut(ctx, l, l.SKU, activities.ShipReship, "reship", "reship-", "reship missing "+l.SKU, "reshipping "+l.LineID)
	if err != nil {
		return err
	}
	l.OutboundTracking = tracking
	r.addTimeline(ctx, "reshipped", "carrier", l.LineID+": "+l.SKU+" "+tracking)
	r.notice(activities.ToCustomer, "reshipped", map[string]string{"sku": l.SKU, "tracking": tracking})
	return nil
}

// repair sends the item to repair and back, within the repair SLA.
func (r *returnRun) repair(ctx workflow.Context, l *domain.LineState) error {
	mv := activities.MoveRequest{Key: activities.Key(r.in.RMAID, l.LineID, "repair-intake"), RMAID: r.in.RMAID, LineID: l.LineID, SKU: l.SKU, Batch: l.Batch, Quantity: l.Quantity, To: activities.MovementRepairIntake}
	if err := r.do(ctx, step{name: "repair-intake-" + l.LineID, summary: "send " + l.SKU + " to repair", class: classStock}, act.MoveStock, mv, nil); err != nil {
		return err
	}
	due := r.now(ctx).Add(r.p.Repair.Within.D())
	key := "repair:" + l.LineID
	r.awaiting[key] = true
	r.transition(ctx, domain.StatusResolving, domain.Wait(domain.WaitingWarehouse), domain.DeadlineAt("repair", due), "repair_started", "warehouse", l.LineID)
	lineID := l.LineID
	_, err := r.await(ctx, &wait{stage: stageRepair, until: func() bool { return r.repairs[lineID] }, points: []point{
		{id: "repair-due-" + lineID, at: due, summary: "repair due " + domain.FormatTime(due), fire: func(ctx workflow.Context) (bool, error) {
			r.breach(ctx, "repair", "repair not done within "+r.p.Repair.Within.String())
			r.setDeadline(ctx, nil, "escalated", "repair overdue; escalated")
			r.notice(activities.ToSupport, "repair_overdue", map[string]string{"line_id": lineID})
			return false, nil
		}},
	}})
	if err != nil {
		return err
	}
	delete(r.awaiting, key)
	tracking, err := r.shipOut(ctx, l, l.SKU, activities.ShipRepairReturn, "repair-return", "repair-return-", "ship repaired "+l.SKU+" back", "shipping the repaired "+l.LineID+" back")
	if err != nil {
		return err
	}
	l.OutboundTracking = tracking
	r.transition(ctx, domain.StatusResolving, domain.Wait(domain.WaitingSystem), nil, "repair_shipped", "carrier", l.LineID+": "+tracking)
	r.notice(activities.ToCustomer, "repair_shipped", map[string]string{"sku": l.SKU, "tracking": tracking})
	return nil
}

// 8. Close: coupons owed, then completion. The survey is answered through
// the API for policy.survey.window after completion and stored in the read
// model: keeping the workflow open (and a timer running) only to receive it
// would cost a billable timer on every return.
func (r *returnRun) close(ctx workflow.Context) error {
	var reasons []domain.Reason
	for _, l := range r.v.Lines {
		if l.Eligible && (l.Returnless || r.settles(l) || l.Resolution == domain.ResolutionReship) {
			reasons = append(reasons, l.Reason)
		}
	}
	if c := domain.GoodwillCoupon(r.p, reasons); c > 0 {
		m := domain.Money{Amount: c, Currency: r.req.Currency()}
		if err := r.coupon(ctx, "goodwill", m); err != nil {
			return err
		}
		r.v.GoodwillCoupon = &m
		r.tell("goodwill_coupon_granted", map[string]string{"amount": m.String()})
	}
	if r.parcel.lost {
		if err := r.followClaim(ctx); err != nil {
			return err
		}
	}
	if err := r.compensate(ctx); err != nil {
		return err
	}
	r.reach(ctx, "closed")
	surveyUntil := r.now(ctx).Add(r.p.Survey.Window.D())
	r.v.SurveyUntil = &surveyUntil
	r.transition(ctx, domain.StatusCompleted, nil, nil, "completed", "system", fmt.Sprintf("refunded %s, fees %s", r.v.RefundTotal, r.v.FeesTotal))
	r.notice(activities.ToCustomer, "completed", map[string]string{"refund_total": r.v.RefundTotal.String(),
		"replacement_tracking": r.v.ReplacementTrackingNumber, "survey_until": domain.FormatTime(surveyUntil)})
	r.tell("survey_open", map[string]string{"survey_until": domain.FormatTime(surveyUntil)})
	return nil
}

// compensate gives what the policy owes for the merchant's own SLA
// breaches: a coupon, and loyalty points (returns started with Features 1).
// Each is its own money movement, keyed by the RMA and its purpose.
func (r *returnRun) compensate(ctx workflow.Context) error {
	if len(r.v.SLABreaches) == 0 {
		return nil
	}
	if c := r.p.Compensation.CouponOnBreach; c > 0 && r.v.Compensation == nil {
		m := domain.Money{Amount: c, Currency: r.req.Currency()}
		if err := r.coupon(ctx, "sla-compensation", m); err != nil {
			return err
		}
		r.v.Compensation = &m
		r.tell("compensation_coupon_granted", map[string]string{"amount": m.String()})
	}
	if pts := r.p.Compensation.PointsOnBreach; pts > 0 && r.in.Features >= 1 && r.v.CompensationPoints == 0 {
		m := domain.Money{Amount: pts, Currency: "PTS"}
		pay := activities.PaymentRequest{Payment: r.req.Payment, Key: activities.Key(r.in.RMAID, "sla-compensation-points"), Kind: activities.PayPoints, RMAID: r.in.RMAID,
			CustomerID: r.req.Customer.ID, Amount: m, Memo: "loyalty points for an SLA breach"}
		s := step{name: "sla-compensation-points", summary: fmt.Sprintf("grant %d loyalty points", pts), doing: "granting points", class: classMoney, irrevocable: true}
		if err := r.do(ctx, s, act.MoveMoney, pay, nil); err != nil {
			return err
		}
		r.paid(ctx, pay)
		r.v.CompensationPoints = pts
		r.addTimeline(ctx, "sla_compensation_points", "payments", fmt.Sprintf("%d points", pts))
		r.tell("compensation_points_granted", map[string]string{"points": fmt.Sprint(pts)})
	}
	return nil
}

func (r *returnRun) coupon(ctx workflow.Context, purpose string, m domain.Money) error {
	pay := activities.PaymentRequest{Payment: r.req.Payment, Key: activities.Key(r.in.RMAID, purpose), Kind: activities.PayCoupon, RMAID: r.in.RMAID, CustomerID: r.req.Customer.ID, Amount: m, Memo: purpose}
	if err := r.do(ctx, step{name: purpose, summary: purpose + " coupon " + m.String(), doing: "issuing a coupon", class: classMoney, irrevocable: true}, act.MoveMoney, pay, nil); err != nil {
		return err
	}
	r.paid(ctx, pay)
	r.addTimeline(ctx, purpose+"_coupon", "payments", m.String())
	return nil
}

// refundMethod is how money goes back: the method chosen by update, else
// the request's, else the original payment; the account for a bank
// transfer or an e-wallet; and the purpose part of the payment key.
func (r *returnRun) refundMethod() (method, account, purpose string) {
	method, account = r.v.RefundMethod, r.account
	if account == "" {
		account = r.req.RefundAccount
	}
	switch method {
	case "", "original":
		return "original", "", "refund"
	case "store_credit":
		return method, "", "refund"
	}
	return method, account, "refund-" + method
}

// refundOutboundShipping pays back the order's standard delivery with the
// first refund, where the policy says so (eu-crd, art. 13(1)): its own
// money movement, keyed by the RMA and its purpose.
func (r *returnRun) refundOutboundShipping(ctx workflow.Context) error {
	ship := r.req.OutboundShipping
	if !r.p.Refund.IncludeOutboundShipping || ship == nil || ship.Amount <= 0 {
		return nil
	}
	key := activities.Key(r.in.RMAID, "outbound-shipping", "refund")
	for _, p := range r.v.Payments {
		if p.Key == key {
			return nil
		}
	}
	pay := activities.PaymentRequest{Payment: r.req.Payment, Key: key, Kind: activities.PayRefund, RMAID: r.in.RMAID, CustomerID: r.req.Customer.ID, Amount: *ship, Memo: "standard delivery"}
	s := step{name: "refund-outbound-shipping", summary: "refund the standard delivery " + ship.String(), doing: "refunding the delivery", class: classMoney, irrevocable: true}
	if err := r.do(ctx, s, act.MoveMoney, pay, nil); err != nil {
		return err
	}
	r.paid(ctx, pay)
	r.v.RefundTotal = r.v.RefundTotal.Add(*ship)
	r.addTimeline(ctx, "refunded", "payments", "standard delivery "+ship.String())
	return nil
}
