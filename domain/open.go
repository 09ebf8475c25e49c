package domain

import (
	"fmt"
	"time"
)

// FormatTime renders a time for summaries and notices: "2026-11-24 10:00 UTC".
func FormatTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 MST") }

// NewView is a return as it is requested, before any decision.
func NewView(rmaID string, req Request, at time.Time) Return {
	cur := req.Currency()
	v := Return{
		ID: rmaID, OrderID: req.OrderID, Kind: req.Kind, Status: StatusRequested,
		Channel: req.Channel, Customer: req.Customer,
		RefundTotal: Zero(cur), FeesTotal: Zero(cur), DeliveredAt: req.DeliveredAt, RefundMethod: req.RefundMethod, RefundAccount: MaskAccount(req.RefundAccount),
		Timeline: []TimelineEntry{}, Stages: map[string]time.Time{},
		CreatedAt: at, UpdatedAt: at,
	}
	for _, l := range req.Lines {
		v.Lines = append(v.Lines, LineState{Line: l, Eligible: true})
	}
	return v
}

// Log appends a timeline entry.
func (r *Return) Log(at time.Time, typ, actor, detail string) {
	r.Timeline = append(r.Timeline, TimelineEntry{At: at, Type: typ, Actor: actor, Detail: detail})
	r.UpdatedAt = at
}

// Move sets the status, who the return waits on and its deadline, and logs
// why.
func (r *Return) Move(at time.Time, s Status, waiting *WaitingOn, dl *Deadline, event, actor, detail string) {
	r.Status, r.WaitingOn, r.Deadline = s, waiting, dl
	r.Log(at, event, actor, detail)
}

// Reach records the first time a stage was reached (for the KPIs).
func (r *Return) Reach(stage string, at time.Time) {
	if _, ok := r.Stages[stage]; !ok {
		r.Stages[stage] = at
	}
}

// Wait is a *WaitingOn for w.
func Wait(w WaitingOn) *WaitingOn { return &w }

// DeadlineAt is a deadline of a kind.
func DeadlineAt(kind string, at time.Time) *Deadline { return &Deadline{Kind: kind, At: at} }

// NeedsShipment reports lines whose item travels back to the warehouse.
func (l LineState) NeedsShipment() bool {
	return l.Eligible && !l.Returnless && l.Resolution != ResolutionReship
}

// NeedsReturnShipment reports whether any line travels back.
func (r *Return) NeedsReturnShipment() bool {
	for _, l := range r.Lines {
		if l.NeedsShipment() {
			return true
		}
	}
	return false
}

// paysMoney reports an eligible line settled in money.
func (r *Return) paysMoney() bool {
	for _, l := range r.Lines {
		if l.Eligible && l.Resolution.PaysMoney() {
			return true
		}
	}
	return false
}

// PaysMoney reports an eligible line settled in money.
func (r *Return) PaysMoney() bool { return r.paysMoney() }

// needsPreparation reports eligible exchange lines: their replacement is
// reserved before the customer ships anything.
func (r *Return) needsPreparation() bool {
	for _, l := range r.Lines {
		if l.Eligible && l.Resolution == ResolutionExchange {
			return true
		}
	}
	return false
}

// EnterShippingChoice asks the customer for pickup or drop-off.
func (r *Return) EnterShippingChoice(p Policy, at time.Time) Notice {
	due := at.Add(p.Shipping.ChoiceWithin.D())
	r.Move(at, StatusAwaitingShipment, Wait(WaitingCustomer), DeadlineAt("shipping_choice", due), "awaiting_shipping_choice", "system", "pickup or drop-off?")
	return Notice{To: ToCustomer, Template: "choose_shipping", Params: map[string]string{"answer_by": FormatTime(due)}}
}

// InShippingChoice reports a return waiting for the customer's shipping
// choice.
func (r *Return) InShippingChoice() bool {
	return r.Status == StatusAwaitingShipment && r.Deadline != nil && r.Deadline.Kind == "shipping_choice"
}

// OpenInput is everything the first decisions on a return depend on. The
// API gathers it (the customer's history comes from the read model) and
// passes the same values to the workflow.
type OpenInput struct {
	RMAID   string
	Request Request
	Policy  Policy
	At      time.Time
	Actor   string
	History CustomerHistory
	// PolicyVersion is the stored version Policy is (0: not stored).
	PolicyVersion int
	// StageNotices: the customer hears of every stage (the request
	// received, under review, approved). Returns started before rma sent
	// them replay without.
	StageNotices bool
}

// Next says where the workflow goes on from an opening.
type Next int

// Where a return goes after it is opened.
const (
	// NextEnd: the request is ineligible; nothing more happens.
	NextEnd Next = iota
	// NextReview: a human must decide.
	NextReview
	// NextProceed: approved; the workflow prepares, ships and resolves.
	NextProceed
)

// Opening is a return as policy decides it the moment it is requested.
type Opening struct {
	View        Return
	Eligibility Eligibility
	Review      ReviewDecision
	Notices     []Notice
	Next        Next
}

// Open runs the first stages of a return that need no partner and no wait:
// the request is recorded, eligibility checked, and the review decided (and
// for an approved return that only has to come back, the customer asked for
// pickup or drop-off). It is pure, so the API can answer a create call with
// the decision and write it to the read model, and the workflow starts from
// exactly the same state by calling it with the same input.
func Open(in OpenInput) Opening {
	p, req, at := in.Policy, in.Request.Normalize(), in.At
	o := Opening{View: NewView(in.RMAID, req, at)}
	v := &o.View
	actor := in.Actor
	if actor == "" {
		actor = "backend"
	}
	v.Reach("requested", at)
	v.Log(at, "requested", actor, fmt.Sprintf("%s via %s: %d line(s), %s", req.Kind, req.Channel, len(req.Lines), req.Total()))
	v.PolicyVersion, v.PolicyRules = in.PolicyVersion, p.AppliedRules(req)

	// 2. Eligibility by policy.
	o.Eligibility = CheckEligibility(p, req, at, in.History)
	for i := range v.Lines {
		l := &v.Lines[i]
		le := o.Eligibility.Line(l.LineID)
		l.Eligible, l.IneligibleReason, l.Returnless = le.Eligible, le.Reason, le.Returnless
		if !le.Eligible && o.Eligibility.Eligible {
			v.Log(at, "line_excluded", "policy", l.LineID+": "+le.Reason)
		}
		if l.Resolution == ResolutionKeep && le.Eligible && !le.Returnless {
			v.Log(at, "returnless_refused", "policy", fmt.Sprintf("%s: keep-it only up to %s; the item must come back", l.LineID, Money{Amount: p.Returnless.MaxValue, Currency: req.Currency()}))
		}
	}
	if !o.Eligibility.Eligible {
		v.IneligibleReason = o.Eligibility.Reason
		v.Move(at, StatusIneligible, nil, nil, "ineligible", "policy", o.Eligibility.Reason)
		o.Notices = append(o.Notices, Notice{To: ToCustomer, Template: "ineligible", Params: map[string]string{"reason": o.Eligibility.Reason}})
		o.Next = NextEnd
		return o
	}

	if p.Refund.DueWithin > 0 && p.Refund.DueFrom == DueFromRequest && v.paysMoney() {
		// The legal refund clock runs from the withdrawal (eu-crd).
		due := at.Add(p.Refund.DueWithin.D())
		v.RefundDueAt = &due
	}

	if in.StageNotices {
		o.Notices = append(o.Notices, Notice{To: ToCustomer, Template: "request_received", Params: map[string]string{"lines": fmt.Sprint(len(req.Lines)), "total": req.Total().String()}})
	}

	// 3. Review: auto-approve what policy allows, else a human within SLA.
	o.Review = DecideReview(p, req, o.Eligibility)
	v.Assignee, v.Team = o.Review.Assignee, o.Review.Team
	if !o.Review.Auto {
		replyDue := at.Add(p.Review.ReplySLA.D())
		v.Reach("review_requested", at)
		v.Move(at, StatusPendingReview, Wait(WaitingSupport), DeadlineAt("reply_sla", replyDue), "review_requested", "policy", o.Review.Why+"; routed to "+o.Review.Assignee)
		o.Notices = append(o.Notices, Notice{To: ToSupport, Template: "review_requested", Params: map[string]string{"why": o.Review.Why, "reply_by": FormatTime(replyDue)}})
		if in.StageNotices {
			o.Notices = append(o.Notices, Notice{To: ToCustomer, Template: "under_review", Params: map[string]string{"decide_by": FormatTime(at.Add(p.Review.DecisionSLA.D()))}})
		}
		o.Next = NextReview
		return o
	}
	v.Decision = "approved"
	v.Reach("approved", at)
	v.Log(at, "approved", "policy", "auto-approved: "+o.Review.Why)
	v.WaitingOn = Wait(WaitingSystem)
	o.Next = NextProceed
	if !v.needsPreparation() && v.NeedsReturnShipment() {
		o.Notices = append(o.Notices, v.EnterShippingChoice(p, at))
	} else if in.StageNotices {
		o.Notices = append(o.Notices, v.ApprovedNotice())
	}
	return o
}

// ApprovedNotice tells the customer the return is approved and what
// happens next: nothing to send back (keep-it, a reship), or a replacement
// to reserve first. A return that must come back at once hears it from
// choose_shipping instead.
func (r *Return) ApprovedNotice() Notice {
	switch {
	case !r.NeedsReturnShipment():
		return Notice{To: ToCustomer, Template: "approved_nothing_back"}
	case r.needsPreparation():
		return Notice{To: ToCustomer, Template: "approved_reserving"}
	}
	return Notice{To: ToCustomer, Template: "approved"}
}

// ShipsAtOnce reports an approved return asked for pickup or drop-off as
// soon as it is approved (its choose_shipping notice says approved).
func (r *Return) ShipsAtOnce() bool { return !r.needsPreparation() && r.NeedsReturnShipment() }
