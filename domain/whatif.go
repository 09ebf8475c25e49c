package domain

import (
	"fmt"
	"sort"
	"time"
)

// What-if replay: past returns run again through the pure rules
// (eligibility, review, fees) under the current policy and a proposed
// one, side by side. No workflow is touched; the customers' histories for
// the abuse rule are rebuilt from the same returns.

// WhatIfCase is one past return: its request and when it was made.
type WhatIfCase struct {
	ID      string
	Request Request
	At      time.Time
	Undated bool
}

// WhatIfCaseOf is the case of a return as the read model keeps it. A view
// written before views kept delivered_at counts as delivered when it was
// requested (inside any window), and is flagged Undated.
func WhatIfCaseOf(r Return) WhatIfCase {
	c := WhatIfCase{ID: r.ID, Request: r.Request(), At: r.CreatedAt}
	if c.Request.DeliveredAt.IsZero() {
		c.Request.DeliveredAt, c.Undated = r.CreatedAt, true
	}
	return c
}

// WhatIfFigures are one policy's results over the cases.
type WhatIfFigures struct {
	Returns          int     `json:"returns"`
	Eligible         int     `json:"eligible"`
	Ineligible       int     `json:"ineligible"`
	AutoApproved     int     `json:"auto_approved"`
	AutoApprovalRate float64 `json:"auto_approval_rate"`
	NeedHuman        int     `json:"need_human"`
	SupportHours     float64 `json:"support_hours"`
	Fees             Money   `json:"fees"`
	Refunds          Money   `json:"refunds"`
	Returnless       int     `json:"returnless"`
	ReturnlessValue  Money   `json:"returnless_value"`
}

// WhatIfChange is a return whose outcome the proposal changes.
type WhatIfChange struct {
	ID   string `json:"id"`
	From string `json:"from"`
	To   string `json:"to"`
	Why  string `json:"why"`
}

// WhatIfReport is the comparison.
type WhatIfReport struct {
	Cases int `json:"cases"`
	// Undated cases had no delivery date in the read model (see
	// WhatIfCaseOf).
	Undated  int            `json:"undated,omitempty"`
	Current  WhatIfFigures  `json:"current"`
	Proposed WhatIfFigures  `json:"proposed"`
	Changed  int            `json:"changed"`
	Changes  []WhatIfChange `json:"changes"`
}

// WhatIfOptions: how long a human review takes (for the support hours),
// and how many changed returns to list.
type WhatIfOptions struct {
	MinutesPerReview float64
	ListChanges      int
}

// whatIfOutcome is one case under one policy.
type whatIfOutcome struct {
	outcome string // ineligible, review, auto_approved
	why     string
	refund  int64
	fees    int64
}

// WhatIf replays the cases under both policies. Cases are taken in time
// order, so each one's abuse history is the customer's earlier returns.
func WhatIf(cases []WhatIfCase, current, proposed Policy, o WhatIfOptions) WhatIfReport {
	sorted := make([]WhatIfCase, len(cases))
	copy(sorted, cases)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].At.Before(sorted[j].At) })
	rep := WhatIfReport{Cases: len(sorted), Changes: []WhatIfChange{}}
	cur := DefaultCurrency
	if len(sorted) > 0 {
		cur = sorted[0].Request.Currency()
	}
	for _, f := range []*WhatIfFigures{&rep.Current, &rep.Proposed} {
		f.Fees, f.Refunds, f.ReturnlessValue = Zero(cur), Zero(cur), Zero(cur)
	}
	hc, hp := newHistories(), newHistories()
	for _, c := range sorted {
		if c.Undated {
			rep.Undated++
		}
		req := c.Request.Normalize()
		a := replayOne(current, req, c.At, hc.of(current, req, c.At), &rep.Current)
		b := replayOne(proposed, req, c.At, hp.of(proposed, req, c.At), &rep.Proposed)
		hc.add(req, c.At)
		hp.add(req, c.At)
		if a.outcome != b.outcome || a.refund != b.refund {
			rep.Changed++
			if len(rep.Changes) < o.ListChanges {
				ch := WhatIfChange{ID: c.ID, From: a.outcome, To: b.outcome, Why: b.why}
				if a.outcome == b.outcome {
					ch.Why = fmt.Sprintf("refund %s → %s", Money{Amount: a.refund, Currency: cur}, Money{Amount: b.refund, Currency: cur})
				}
				rep.Changes = append(rep.Changes, ch)
			}
		}
	}
	for _, f := range []*WhatIfFigures{&rep.Current, &rep.Proposed} {
		if f.Eligible > 0 {
			f.AutoApprovalRate = float64(f.AutoApproved) / float64(f.Eligible)
		}
		f.SupportHours = float64(f.NeedHuman) * o.MinutesPerReview / 60
	}
	return rep
}

func replayOne(p Policy, req Request, at time.Time, h CustomerHistory, f *WhatIfFigures) whatIfOutcome {
	f.Returns++
	e := CheckEligibility(p, req, at, h)
	if !e.Eligible {
		f.Ineligible++
		return whatIfOutcome{outcome: "ineligible", why: e.Reason}
	}
	f.Eligible++
	d := DecideReview(p, req, e)
	out := whatIfOutcome{outcome: "auto_approved", why: d.Why}
	if d.Auto {
		f.AutoApproved++
	} else {
		f.NeedHuman++
		out.outcome = "review"
	}
	var inputs []RefundInput
	label := false
	for _, l := range req.Lines {
		le := e.Line(l.LineID)
		if !le.Eligible {
			continue
		}
		if le.Returnless {
			f.Returnless++
			f.ReturnlessValue = f.ReturnlessValue.Add(l.Value())
		} else if l.NeedsReturnShipment() {
			label = true
		}
		if l.Resolution.PaysMoney() {
			inputs = append(inputs, p.RefundInputFor(req, l, l.Reason, l.Value()))
		}
	}
	for _, rf := range ComputeRefunds(p, inputs, label) {
		out.refund += rf.Net.Amount
		out.fees += rf.Fees.Amount
	}
	f.Refunds.Amount += out.refund
	f.Fees.Amount += out.fees
	return out
}

// histories are the customers' returns so far, for the abuse rule.
type histories map[string][]struct {
	at    time.Time
	value int64
}

func newHistories() histories { return histories{} }

func (h histories) of(p Policy, req Request, at time.Time) CustomerHistory {
	var out CustomerHistory
	from := at.Add(-p.Abuse.Period.D())
	for _, r := range h[req.Customer.ID] {
		if !r.at.Before(from) {
			out.Returns++
			out.Value += r.value
		}
	}
	return out
}

func (h histories) add(req Request, at time.Time) {
	h[req.Customer.ID] = append(h[req.Customer.ID], struct {
		at    time.Time
		value int64
	}{at, req.Total().Amount})
}
