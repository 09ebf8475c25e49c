package domain

import (
	"sort"
	"time"
)

// The eligibility preview (POST /v1/returns/preview): what a customer may
// return and what they would get back, before any return exists. It runs
// the same pure rules as domain.Open and the refund computation, so the
// preview and the real return never disagree.

// ResolutionOption is one way a line may be resolved.
type ResolutionOption struct {
	Resolution Resolution `json:"resolution"`
	Available  bool       `json:"available"`
	Note       string     `json:"note,omitempty"`
}

// LinePreview is what one line may do.
type LinePreview struct {
	LineID      string             `json:"line_id"`
	Eligible    bool               `json:"eligible"`
	Reason      string             `json:"reason,omitempty"`
	WindowEnds  time.Time          `json:"window_ends"`
	NeedsReview bool               `json:"needs_review,omitempty"`
	Resolutions []ResolutionOption `json:"resolutions"`
	// RefundMethods are how a refund would be paid.
	RefundMethods []string `json:"refund_methods"`
	// FeesByReason are the fees each return reason carries for this line.
	FeesByReason map[Reason]LineFees `json:"fees_by_reason"`
	// RefundEstimate is the line's refund for its reason and resolution,
	// when the request gave them; RefundByReason the refund for each
	// reason otherwise.
	RefundEstimate *LineRefund      `json:"refund_estimate,omitempty"`
	RefundByReason map[Reason]Money `json:"refund_by_reason,omitempty"`
	Returnless     bool             `json:"returnless,omitempty"`
	Rule           string           `json:"rule,omitempty"`
}

// LineFees are the fees of one reason on one line, in money.
type LineFees struct {
	Handling       Money `json:"handling"`
	Restocking     Money `json:"restocking"`
	ReturnShipping Money `json:"return_shipping"`
}

// Preview is the answer for a whole request.
type Preview struct {
	Eligible bool   `json:"eligible"`
	Reason   string `json:"reason,omitempty"`
	// Review is auto_approved or review when every line gave a reason and
	// a resolution; else "" (it depends on them).
	Review        string        `json:"review,omitempty"`
	ReviewWhy     string        `json:"review_why,omitempty"`
	PolicyVersion int           `json:"policy_version,omitempty"`
	Preset        string        `json:"preset,omitempty"`
	Rules         []AppliedRule `json:"rules,omitempty"`
	Lines         []LinePreview `json:"lines"`
	RefundTotal   *Money        `json:"refund_total,omitempty"`
}

// StockOf answers a SKU's available stock, and whether it is known.
type StockOf func(sku string) (int, bool)

// PreviewRequest previews req as if it were opened at at. Lines may leave
// reason and resolution out. stock may be nil (exchange availability
// unknown).
func PreviewRequest(p Policy, version int, req Request, at time.Time, h CustomerHistory, stock StockOf) Preview {
	req = req.Normalize()
	complete := true
	filled := req
	filled.Lines = make([]Line, len(req.Lines))
	for i, l := range req.Lines {
		if l.Reason == "" || l.Resolution == "" {
			complete = false
		}
		if l.Reason == "" {
			l.Reason = ReasonChangedMind
		}
		if l.Resolution == "" {
			l.Resolution = ResolutionRefund
		}
		filled.Lines[i] = l
	}
	e := CheckEligibility(p, filled, at, h)
	out := Preview{Eligible: e.Eligible, Reason: e.Reason, PolicyVersion: version, Preset: p.Preset, Rules: p.AppliedRules(filled)}
	if complete && e.Eligible {
		d := DecideReview(p, filled, e)
		out.Review, out.ReviewWhy = "review", d.Why
		if d.Auto {
			out.Review = "auto_approved"
		}
	}
	label := false
	for _, l := range filled.Lines {
		le := e.Line(l.LineID)
		if le.Eligible && !le.Returnless && l.NeedsReturnShipment() {
			label = true
		}
	}
	var estimates []RefundInput
	for i, l := range filled.Lines {
		le := e.Line(l.LineID)
		lp := p.ForLine(filled, l)
		lv := LinePreview{LineID: l.LineID, Eligible: le.Eligible, Reason: le.Reason, WindowEnds: req.DeliveredAt.Add(lp.WindowFor(l.Category)),
			NeedsReview: le.Eligible && le.Reason != "", RefundMethods: lp.Refund.Methods, FeesByReason: map[Reason]LineFees{}, Returnless: le.Returnless}
		if r := p.RuleFor(filled, l); r != nil {
			lv.Rule = r.Name
		}
		cur := l.UnitPrice.Currency
		for _, reason := range Reasons() {
			f := lp.FeesFor(reason)
			lv.FeesByReason[reason] = LineFees{Handling: Money{Amount: f.HandlingFee, Currency: cur},
				Restocking: Money{Amount: l.Value().Amount * f.RestockingBps / 10000, Currency: cur}, ReturnShipping: Money{Amount: f.ReturnShipping, Currency: cur}}
		}
		if le.Eligible {
			lv.Resolutions = resolutionOptions(lp, l, req.Lines[i].Reason, stock)
		} else {
			lv.Resolutions = []ResolutionOption{}
		}
		given := req.Lines[i]
		switch {
		case !le.Eligible:
		case given.Reason != "" && given.Resolution != "":
			if l.Resolution.PaysMoney() {
				estimates = append(estimates, p.RefundInputFor(filled, l, l.Reason, l.Value()))
			}
		default:
			lv.RefundByReason = map[Reason]Money{}
			for _, reason := range Reasons() {
				fees := lp.FeesFor(reason)
				rf := ComputeRefunds(p, []RefundInput{{LineID: l.LineID, Value: l.Value(), Reason: reason, Fees: &fees}}, l.NeedsReturnShipment())
				lv.RefundByReason[reason] = rf[0].Net
			}
		}
		out.Lines = append(out.Lines, lv)
	}
	if len(estimates) > 0 {
		total := Zero(req.Currency())
		for _, rf := range ComputeRefunds(p, estimates, label) {
			for i := range out.Lines {
				if out.Lines[i].LineID == rf.LineID {
					rf := rf
					out.Lines[i].RefundEstimate = &rf
				}
			}
			total = total.Add(rf.Net)
		}
		if p.Refund.IncludeOutboundShipping && req.OutboundShipping != nil {
			total = total.Add(*req.OutboundShipping)
		}
		out.RefundTotal = &total
	}
	return out
}

// resolutionOptions lists what a line may become: money back (refund,
// store credit), an exchange (with the replacement's stock when known),
// keep-it (only up to the returnless threshold), repair (for a defect),
// and a reship (for a missing item).
func resolutionOptions(p Policy, l Line, reason Reason, stock StockOf) []ResolutionOption {
	out := []ResolutionOption{{Resolution: ResolutionRefund, Available: true}}
	out = append(out, ResolutionOption{Resolution: ResolutionStoreCredit, Available: contains(p.Refund.Methods, "store_credit")})
	ex := ResolutionOption{Resolution: ResolutionExchange, Available: true, Note: "stock unknown"}
	sku := l.ExchangeSKU
	if sku == "" {
		sku = l.SKU
	}
	if stock != nil {
		if n, ok := stock(sku); ok {
			ex.Available, ex.Note = n >= l.Quantity, ""
			if n < l.Quantity {
				ex.Note = sku + " is out of stock: wait, another variant, refund or store credit"
			}
		}
	}
	out = append(out, ex)
	keep := ResolutionOption{Resolution: ResolutionKeep, Available: l.Value().Amount <= p.Returnless.MaxValue}
	if !keep.Available {
		keep.Note = "keep-it only up to " + Money{Amount: p.Returnless.MaxValue, Currency: l.UnitPrice.Currency}.String()
	}
	out = append(out, keep)
	out = append(out, ResolutionOption{Resolution: ResolutionRepair, Available: reason == "" || reason == ReasonDefective, Note: "for a defect"})
	out = append(out, ResolutionOption{Resolution: ResolutionReship, Available: reason == "" || reason == ReasonMissingParts || reason == ReasonWrongItem, Note: "for a missing or wrong item"})
	sort.SliceStable(out, func(i, j int) bool { return out[i].Available && !out[j].Available })
	return out
}
