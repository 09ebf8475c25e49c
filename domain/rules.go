package domain

import (
	"fmt"
	"time"
)

// CustomerHistory is the customer's other returns within the abuse period.
type CustomerHistory struct {
	Returns int   `json:"returns"`
	Value   int64 `json:"value"`
}

// LineEligibility is the verdict on one line.
type LineEligibility struct {
	LineID     string `json:"line_id"`
	Eligible   bool   `json:"eligible"`
	Reason     string `json:"reason,omitempty"`
	Returnless bool   `json:"returnless,omitempty"`
}

// Eligibility is the verdict on a request. Ineligible lines are dropped; the
// request is ineligible only when no line is left.
type Eligibility struct {
	Eligible    bool              `json:"eligible"`
	Reason      string            `json:"reason,omitempty"`
	Lines       []LineEligibility `json:"lines"`
	AbuseFlag   bool              `json:"abuse_flag,omitempty"`
	AbuseReason string            `json:"abuse_reason,omitempty"`
}

// Line returns the verdict for one line ID.
func (e Eligibility) Line(id string) LineEligibility {
	for _, l := range e.Lines {
		if l.LineID == id {
			return l
		}
	}
	return LineEligibility{LineID: id}
}

// CheckEligibility applies the window, final-sale, abuse and returnless rules.
// It is pure: now and history are inputs so the same facts always give the
// same verdict (the workflow replays it).
func CheckEligibility(p Policy, r Request, now time.Time, h CustomerHistory) Eligibility {
	e := Eligibility{}
	for _, l := range r.Lines {
		le := LineEligibility{LineID: l.LineID, Eligible: true}
		lp := p.ForLine(r, l)
		window := lp.WindowFor(l.Category)
		closes := r.DeliveredAt.Add(window)
		switch {
		case excluded(lp, l) != "":
			le.Eligible, le.Reason = false, excluded(lp, l)
		case now.After(closes) && !l.Reason.MerchantFault():
			le.Eligible, le.Reason = false, fmt.Sprintf("return window of %s ended %s", Duration(window), closes.UTC().Format(time.RFC3339))
		case now.After(closes):
			// The seeds' window is for changes of mind; a defect the merchant
			// caused is still the merchant's, but a human must look.
			le.Reason = "outside the return window; merchant-fault claim goes to review"
		}
		if le.Eligible && l.Resolution == ResolutionKeep && l.Value().Amount <= lp.Returnless.MaxValue {
			le.Returnless = true
		}
		e.Lines = append(e.Lines, le)
		if le.Eligible {
			e.Eligible = true
		}
	}
	if !e.Eligible {
		e.Reason = e.Lines[0].Reason
		if len(e.Lines) > 1 {
			e.Reason = "no line is returnable: " + e.Reason
		}
		return e
	}
	if p.Abuse.MaxReturns > 0 && h.Returns >= p.Abuse.MaxReturns {
		e.AbuseFlag = true
		e.AbuseReason = fmt.Sprintf("%d returns in the last %s (limit %d)", h.Returns, p.Abuse.Period, p.Abuse.MaxReturns)
	} else if p.Abuse.MaxValue > 0 && h.Value+r.Total().Amount > p.Abuse.MaxValue {
		e.AbuseFlag = true
		e.AbuseReason = fmt.Sprintf("returned value %s in the last %s exceeds %s", Money{Amount: h.Value + r.Total().Amount, Currency: r.Currency()}, p.Abuse.Period, Money{Amount: p.Abuse.MaxValue, Currency: r.Currency()})
	}
	return e
}

// excluded says why a line may not be returned at all, or "". Statutory
// categories are excluded outright; a merchant's final-sale mark, and the
// confirmable categories, only where the customer confirmed it at purchase
// when the policy says so (cn-7day).
func excluded(p Policy, l Line) string {
	switch {
	case contains(p.Window.FinalSaleCategories, l.Category):
		return "final-sale item: not returnable"
	case l.FinalSale && (!p.Window.FinalSaleNeedsConfirmation || l.ExclusionConfirmed):
		return "final-sale item: not returnable"
	case l.ExclusionConfirmed && contains(p.Window.ConfirmableCategories, l.Category):
		return "category " + l.Category + ": not returnable, as the customer confirmed at purchase"
	}
	return ""
}

// ReviewDecision says whether a request is approved without a human, why, and
// who reviews it otherwise.
type ReviewDecision struct {
	Auto     bool   `json:"auto"`
	Why      string `json:"why"`
	Assignee string `json:"assignee"`
	Team     string `json:"team,omitempty"`
}

// DecideReview applies the auto-approval rules and routing. Abuse and claims
// outside the window always go to a human.
func DecideReview(p Policy, r Request, e Eligibility) ReviewDecision {
	d := ReviewDecision{Assignee: p.Review.Routing.Team, Team: p.Review.Routing.Team}
	switch {
	case r.Customer.Tier == TierVIP && p.Review.Routing.VIPAgent != "":
		d.Assignee = p.Review.Routing.VIPAgent
	case (r.Wholesale || (p.Review.Routing.BulkQuantity > 0 && r.Quantity() >= p.Review.Routing.BulkQuantity)) && p.Review.Routing.BulkAgent != "":
		d.Assignee = p.Review.Routing.BulkAgent
	}
	if e.AbuseFlag {
		d.Why = "abuse limit: " + e.AbuseReason
		return d
	}
	for _, l := range e.Lines {
		if l.Eligible && l.Reason != "" {
			d.Why = "needs review: " + l.Reason
			return d
		}
	}
	if rule := p.RequestRule(r); rule != nil && rule.Set.AutoApprove != nil {
		if *rule.Set.AutoApprove {
			d.Auto, d.Why = true, "rule "+rule.Name+" ("+rule.When.String()+")"
		} else {
			d.Why = "rule " + rule.Name + " (" + rule.When.String() + "): always reviewed"
		}
		return d
	}
	a := p.Review.AutoApprove
	eligible := eligibleLines(r, e)
	switch {
	case a.VIP && r.Customer.Tier == TierVIP:
		d.Auto, d.Why = true, "VIP customer"
	case a.MerchantFaultWithPhoto && allMerchantFaultWithPhoto(eligible):
		d.Auto, d.Why = true, "merchant-fault reason with photo evidence"
	case a.MaxValue > 0 && valueOf(eligible).Amount <= a.MaxValue:
		d.Auto, d.Why = true, fmt.Sprintf("low value (at most %s)", Money{Amount: a.MaxValue, Currency: r.Currency()})
	default:
		d.Why = "manual review required by policy"
	}
	return d
}

func eligibleLines(r Request, e Eligibility) []Line {
	var out []Line
	for _, l := range r.Lines {
		if e.Line(l.LineID).Eligible {
			out = append(out, l)
		}
	}
	return out
}

func allMerchantFaultWithPhoto(ls []Line) bool {
	for _, l := range ls {
		if !l.Reason.MerchantFault() || len(l.Photos) == 0 {
			return false
		}
	}
	return len(ls) > 0
}

func valueOf(ls []Line) Money {
	var m Money
	for _, l := range ls {
		m = m.Add(l.Value())
	}
	return m
}

// RefundInput is one line to settle: its paid value, the reason in force
// (after any reclassification at inspection), and whether it paid out.
type RefundInput struct {
	LineID string
	Value  Money
	Reason Reason
	// Fees, when set, is the line's fee row (a segment rule's); else the
	// policy's row for Reason.
	Fees *ReasonFees
	// Deduction is the loss of value the inspection recorded (eu-crd),
	// deducted like a fee.
	Deduction int64
}

// LineRefund is how much one line pays back and why.
type LineRefund struct {
	LineID string `json:"line_id"`
	Gross  Money  `json:"gross"`
	Fees   Money  `json:"fees"`
	Net    Money  `json:"net"`
}

// ComputeRefunds applies the fee table. Handling and restocking fees are per
// line; return shipping is one parcel, so it is charged once per return (the
// highest fee among the lines' reasons, on the first customer-fault line) and
// only when we issued a label. Fees never exceed what a line pays back.
func ComputeRefunds(p Policy, lines []RefundInput, labelIssued bool) []LineRefund {
	out := make([]LineRefund, len(lines))
	var shipping int64
	shippingLine := -1
	for i, l := range lines {
		f := p.FeesFor(l.Reason)
		if l.Fees != nil {
			f = *l.Fees
		}
		fee := f.HandlingFee + l.Value.Amount*f.RestockingBps/10000 + l.Deduction
		out[i] = LineRefund{LineID: l.LineID, Gross: l.Value, Fees: Money{Amount: fee, Currency: l.Value.Currency}}
		if labelIssued && f.ReturnShipping > shipping {
			shipping = f.ReturnShipping
			if shippingLine < 0 {
				shippingLine = i
			}
		}
	}
	if shippingLine >= 0 {
		out[shippingLine].Fees.Amount += shipping
	}
	for i := range out {
		if out[i].Fees.Amount > out[i].Gross.Amount {
			out[i].Fees.Amount = out[i].Gross.Amount
		}
		out[i].Net = out[i].Gross.Sub(out[i].Fees)
	}
	return out
}

// GoodwillCoupon is the coupon owed for merchant-fault reasons: the highest
// among the lines, once per return.
func GoodwillCoupon(p Policy, reasons []Reason) int64 {
	var c int64
	for _, r := range reasons {
		if v := p.FeesFor(r).GoodwillCoupon; v > c {
			c = v
		}
	}
	return c
}

// PriceDifference is what the customer owes (positive) or is owed (negative)
// when the replacement costs more or less than what was paid.
func PriceDifference(paid, replacement Money, qty int) Money {
	return replacement.Mul(qty).Sub(paid.Mul(qty))
}
