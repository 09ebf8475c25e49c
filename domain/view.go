package domain

import (
	"maps"
	"time"
)

// Return is a return as API.md shows it. The workflow owns and mutates it; the
// status query, the read model and the API all serve this one shape.
type Return struct {
	ID                        string          `json:"id"`
	OrderID                   string          `json:"order_id"`
	Kind                      Kind            `json:"kind"`
	Status                    Status          `json:"status"`
	Channel                   Channel         `json:"channel"`
	Customer                  Customer        `json:"customer"`
	Lines                     []LineState     `json:"lines"`
	RefundTotal               Money           `json:"refund_total"`
	FeesTotal                 Money           `json:"fees_total"`
	Deadline                  *Deadline       `json:"deadline"`
	WaitingOn                 *WaitingOn      `json:"waiting_on"`
	Timeline                  []TimelineEntry `json:"timeline"`
	TrackingNumber            string          `json:"tracking_number"`
	ReplacementTrackingNumber string          `json:"replacement_tracking_number,omitempty"`
	ShippingMethod            ShippingMethod  `json:"shipping_method,omitempty"`
	Assignee                  string          `json:"assignee,omitempty"`
	// Team is the support team the policy routes the return to; Assignee
	// is who works it (the team until an agent claims it, or a dedicated
	// agent for VIP and bulk returns).
	Team             string `json:"team,omitempty"`
	Decision         string `json:"decision,omitempty"`
	DeclineReason    string `json:"decline_reason,omitempty"`
	IneligibleReason string `json:"ineligible_reason,omitempty"`
	ClaimID          string `json:"claim_id,omitempty"`
	// ClaimError says why the carrier claim could not be filed; support
	// files it by hand.
	ClaimError string `json:"claim_error,omitempty"`
	// ClaimResult is the carrier's answer to the claim (approved or
	// rejected, and why); Lost marks a parcel settled as lost in transit.
	ClaimResult    string     `json:"claim_result,omitempty"`
	Lost           bool       `json:"lost,omitempty"`
	Attention      *Attention `json:"attention,omitempty"`
	SLABreaches    []string   `json:"sla_breaches,omitempty"`
	Compensation   *Money     `json:"compensation,omitempty"`
	GoodwillCoupon *Money     `json:"goodwill_coupon,omitempty"`
	// RefundMethod is how the customer wants money back (original when
	// empty); RefundAccount the bank or e-wallet account, masked.
	RefundMethod  string `json:"refund_method,omitempty"`
	RefundAccount string `json:"refund_account,omitempty"`
	// AwaitingRestock lists the backordered SKUs the return waits for
	// (the inventory webhook finds the returns to tell by it).
	AwaitingRestock []string `json:"awaiting_restock,omitempty"`
	// CompensationPoints are loyalty points granted for an SLA breach.
	CompensationPoints int64 `json:"compensation_points,omitempty"`
	// Goodwill is the credit support granted on the return, beyond the
	// policy's coupons.
	Goodwill []GoodwillGrant `json:"goodwill,omitempty"`
	Survey   *Survey         `json:"survey,omitempty"`
	// SurveyUntil is when the survey closes (completed returns only).
	SurveyUntil *time.Time      `json:"survey_until,omitempty"`
	Notes       []TimelineEntry `json:"notes,omitempty"`
	// Label is the return label once it is booked: the storefront shows the
	// customer where and by when to send the parcel from here, whether or
	// not the label_ready notice reached them.
	Label *ReturnLabel `json:"label,omitempty"`
	// Payments lists every money movement made for the return.
	Payments []PaymentRecord `json:"payments,omitempty"`
	// DeliveredAt is when the order reached the customer (the window
	// runs from it).
	DeliveredAt time.Time `json:"delivered_at"`
	// PolicyVersion is the stored policy version the return runs under
	// (0: a policy file, not a stored version); PolicyRules the segment
	// rules that applied, and why.
	PolicyVersion int           `json:"policy_version,omitempty"`
	PolicyRules   []AppliedRule `json:"policy_rules,omitempty"`
	// RefundDueAt is the legal refund deadline (refund.due_within), once
	// its clock runs.
	RefundDueAt *time.Time `json:"refund_due_at,omitempty"`
	// Stages records when each stage was reached (requested, approved,
	// label, picked_up, delivered, received, inspected, resolved, closed)
	// for the read model's KPIs.
	Stages    map[string]time.Time `json:"stages,omitempty"`
	CreatedAt time.Time            `json:"created_at"`
	UpdatedAt time.Time            `json:"updated_at"`
	// Seq is this view's version: every change the workflow makes raises
	// it, and a command's answer names the seq that shows its effect.
	Seq int64 `json:"seq"`
}

// ReturnLabel is a booked return label.
type ReturnLabel struct {
	Method         ShippingMethod `json:"method"`
	TrackingNumber string         `json:"tracking_number"`
	URL            string         `json:"url"`
	ReturnAddress  string         `json:"return_address"`
	ShipBy         time.Time      `json:"ship_by"`
}

// PaymentRecord is one money movement, keyed like the payment itself.
type PaymentRecord struct {
	Key    string    `json:"key"`
	Kind   string    `json:"kind"`
	LineID string    `json:"line_id,omitempty"`
	Amount Money     `json:"amount"`
	At     time.Time `json:"at"`
}

// Deadline is the next deadline the return waits on.
type Deadline struct {
	Kind string    `json:"kind"`
	At   time.Time `json:"at"`
}

// TimelineEntry is one thing that happened, for humans.
type TimelineEntry struct {
	At     time.Time `json:"at"`
	Type   string    `json:"type"`
	Actor  string    `json:"actor"`
	Detail string    `json:"detail,omitempty"`
}

// Attention says what failed when a return needs a human.
type Attention struct {
	Step  string    `json:"step"`
	Error string    `json:"error"`
	Since time.Time `json:"since"`
	// Resume is the status the return goes back to once the step succeeds.
	Resume Status `json:"resume"`
	// Compensating is set when the failed step undoes a cancelled or expired
	// return.
	Compensating bool `json:"compensating,omitempty"`
}

// Survey is the customer's satisfaction answer.
type Survey struct {
	Score   int       `json:"score"`
	Comment string    `json:"comment,omitempty"`
	At      time.Time `json:"at"`
}

// LineState is a line with what happened to it.
type LineState struct {
	Line
	Eligible         bool        `json:"eligible"`
	IneligibleReason string      `json:"ineligible_reason,omitempty"`
	Returnless       bool        `json:"returnless,omitempty"`
	Inspection       *Inspection `json:"inspection,omitempty"`
	Refund           *LineRefund `json:"refund,omitempty"`
	RefundMethod     Resolution  `json:"refund_method,omitempty"`
	// Replacement is set for exchanges: the reserved SKU and its state.
	Replacement *Replacement `json:"replacement,omitempty"`
	// OutboundTracking is the parcel sent to the customer for reship,
	// repair or return-to-customer.
	OutboundTracking string `json:"outbound_tracking,omitempty"`
	// RefundVia is how the line's money went: original, store_credit,
	// bank_transfer or e_wallet.
	RefundVia string `json:"refund_via,omitempty"`
	// KeepOffer is a partial refund offered to keep the item (折价补偿).
	KeepOffer *KeepOffer `json:"keep_offer,omitempty"`
	// Override is support's change to the line's refund, applied when the
	// line is refunded.
	Override *RefundOverride `json:"override,omitempty"`
}

// KeepOffer is a partial refund offered for keeping a line's item: who
// offered it (support or policy), for how much, until when, and the
// customer's answer (accepted, declined, expired; "" while open).
type KeepOffer struct {
	Amount Money     `json:"amount"`
	By     string    `json:"by"`
	Reason string    `json:"reason,omitempty"`
	Until  time.Time `json:"until"`
	Answer string    `json:"answer,omitempty"`
}

// Inspection is the warehouse verdict on a line.
type Inspection struct {
	Result           InspectionResult `json:"result"`
	Disposition      Disposition      `json:"disposition"`
	Note             string           `json:"note,omitempty"`
	Photos           []string         `json:"photos,omitempty"`
	ReclassifiedFrom Reason           `json:"reclassified_from,omitempty"`
	At               time.Time        `json:"at"`
	// Checks are the category's checks as recorded (true: ok).
	Checks map[string]bool `json:"checks,omitempty"`
	// ValueLoss is deducted from the refund (eu-crd).
	ValueLoss *Money `json:"value_loss,omitempty"`
	// PassedUnits and FailDisposition split a partial result: the passed
	// units go to Disposition and are paid for, the rest to
	// FailDisposition.
	PassedUnits     int         `json:"passed_units,omitempty"`
	FailDisposition Disposition `json:"fail_disposition,omitempty"`
}

// Passed reports a line whose inspection passed, wholly or in part.
func (l LineState) Passed() bool {
	return l.Inspection != nil && (l.Inspection.Result == InspectionPass || l.Inspection.Result == InspectionPartial)
}

// PaidValue is what the line's passed units were paid: its whole value,
// or for a partial inspection the passed units' share.
func (l LineState) PaidValue() Money {
	if l.Inspection != nil && l.Inspection.Result == InspectionPartial {
		return l.UnitPrice.Mul(l.Inspection.PassedUnits)
	}
	return l.Value()
}

// Replacement tracks an exchange's new item.
type Replacement struct {
	SKU            string `json:"sku"`
	Reserved       bool   `json:"reserved"`
	Backordered    bool   `json:"backordered,omitempty"`
	UnitPrice      Money  `json:"unit_price"`
	PriceDiff      Money  `json:"price_difference"`
	Advance        bool   `json:"advance,omitempty"`
	HoldCaptured   bool   `json:"hold_captured,omitempty"`
	HoldReleased   bool   `json:"hold_released,omitempty"`
	Shipped        bool   `json:"shipped,omitempty"`
	TrackingNumber string `json:"tracking_number,omitempty"`
	Delivered      bool   `json:"delivered,omitempty"`
	// RestockBy is how long a backordered replacement is waited for.
	RestockBy *time.Time `json:"restock_by,omitempty"`
}

// Line returns a pointer to the line with that ID, or nil.
func (r *Return) Line(id string) *LineState {
	for i := range r.Lines {
		if r.Lines[i].LineID == id {
			return &r.Lines[i]
		}
	}
	return nil
}

// Clone is a deep copy: the workflow hands it to a local activity, which
// may outlive an attempt, while the workflow goes on changing its own.
func (r Return) Clone() Return {
	c := r
	c.Lines = make([]LineState, len(r.Lines))
	for i, l := range r.Lines {
		c.Lines[i] = l.clone()
	}
	c.Timeline = append([]TimelineEntry(nil), r.Timeline...)
	c.Notes = append([]TimelineEntry(nil), r.Notes...)
	c.Payments = append([]PaymentRecord(nil), r.Payments...)
	c.SLABreaches = append([]string(nil), r.SLABreaches...)
	c.Stages = maps.Clone(r.Stages)
	c.Deadline = clonePtr(r.Deadline)
	c.WaitingOn = clonePtr(r.WaitingOn)
	c.Attention = clonePtr(r.Attention)
	c.Compensation = clonePtr(r.Compensation)
	c.GoodwillCoupon = clonePtr(r.GoodwillCoupon)
	c.Goodwill = append([]GoodwillGrant(nil), r.Goodwill...)
	c.AwaitingRestock = append([]string(nil), r.AwaitingRestock...)
	c.Survey = clonePtr(r.Survey)
	c.SurveyUntil = clonePtr(r.SurveyUntil)
	c.Label = clonePtr(r.Label)
	c.PolicyRules = append([]AppliedRule(nil), r.PolicyRules...)
	c.RefundDueAt = clonePtr(r.RefundDueAt)
	return c
}

func (l LineState) clone() LineState {
	c := l
	c.Photos = append([]string(nil), l.Photos...)
	if l.Inspection != nil {
		ins := *l.Inspection
		ins.Photos = append([]string(nil), l.Inspection.Photos...)
		ins.Checks = maps.Clone(l.Inspection.Checks)
		ins.ValueLoss = clonePtr(l.Inspection.ValueLoss)
		c.Inspection = &ins
	}
	c.Refund = clonePtr(l.Refund)
	c.KeepOffer = clonePtr(l.KeepOffer)
	c.Replacement = clonePtr(l.Replacement)
	if l.Override != nil {
		o := *l.Override
		o.Amount = clonePtr(l.Override.Amount)
		c.Override = &o
	}
	return c
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// staffOnlyEvent reports whether a timeline entry is staff's business:
// internal notes, failures and their handling, SLA bookkeeping.
func staffOnlyEvent(typ string) bool {
	switch typ {
	case "note", "needs_attention", "failed", "retry", "compensated", "sla_breach", "claim_failed",
		"carrier_events_capped", "abandoned", "attention_retry", "attention_abandon", "assigned", "refund_overridden":
		return true
	}
	return false
}

// CustomerView is the return as its own customer sees it: without support's
// notes, the assignee, what failed inside (attention, claim errors), SLA
// breaches, payment keys, suppliers and batches, inspection notes, and the
// timeline entries that are staff's business. Staff who acted show as
// "merchant", without what they wrote; self is the customer's own actor
// name.
func (r Return) CustomerView(self string) Return {
	c := r.Clone()
	c.Notes, c.Assignee, c.Team, c.Attention, c.ClaimError, c.SLABreaches, c.Payments = nil, "", "", nil, "", nil, nil
	c.Timeline = c.Timeline[:0]
	for _, e := range r.Timeline {
		if staffOnlyEvent(e.Type) {
			continue
		}
		switch e.Actor {
		case self, "customer", "system", "policy", "carrier":
		default:
			// What staff wrote is for staff (a note with an approval, a
			// warehouse remark, a disposition), except the decline reason,
			// which the customer is told anyway.
			e.Actor = "merchant"
			if e.Type != "declined" {
				e.Detail = ""
			}
		}
		c.Timeline = append(c.Timeline, e)
	}
	for i := range c.Lines {
		c.Lines[i].Supplier, c.Lines[i].Batch = "", ""
		if c.Lines[i].Inspection != nil {
			c.Lines[i].Inspection.Note = ""
		}
		// What support changed shows in the refund; why is staff's.
		c.Lines[i].Override = nil
	}
	for i := range c.Goodwill {
		c.Goodwill[i].Reason, c.Goodwill[i].Actor = "", ""
	}
	return c
}

// Request is the request a return was opened with, as far as the view
// keeps it (the payment reference and wholesale flag aside): what-if
// replays and previews run the policy on it again.
func (r Return) Request() Request {
	req := Request{OrderID: r.OrderID, Kind: r.Kind, DeliveredAt: r.DeliveredAt, Channel: r.Channel, Customer: r.Customer}
	for _, l := range r.Lines {
		line := l.Line
		if l.Inspection != nil && l.Inspection.ReclassifiedFrom != "" {
			line.Reason = l.Inspection.ReclassifiedFrom // as the customer gave it
		}
		req.Lines = append(req.Lines, line)
	}
	return req
}
