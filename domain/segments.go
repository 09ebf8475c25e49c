package domain

import (
	"fmt"
	"maps"
	"strings"
)

// Rule overrides some settings for a segment: customers by tier, tag or
// country, products by category or tag, and the channel. A rule matches a
// line when every condition it sets holds for the line and its request;
// the first rule that matches, in the order written, is the line's. The
// request-level settings (auto-approval) come from the first rule that
// matches every line.
type Rule struct {
	Name string    `yaml:"name"`
	When RuleMatch `yaml:"when"`
	Set  RuleSet   `yaml:"set"`
}

// RuleMatch are a rule's conditions; empty ones always hold.
type RuleMatch struct {
	CustomerTier Tier    `yaml:"customer_tier,omitempty"`
	CustomerTag  string  `yaml:"customer_tag,omitempty"`
	Country      string  `yaml:"country,omitempty"`
	Channel      Channel `yaml:"channel,omitempty"`
	Category     string  `yaml:"category,omitempty"`
	ProductTag   string  `yaml:"product_tag,omitempty"`
}

// RuleSet are the settings a rule changes; unset ones keep the policy's.
type RuleSet struct {
	Window *Duration `yaml:"window,omitempty"`
	// Fees replace the policy's rows for the reasons they name.
	Fees map[Reason]ReasonFees `yaml:"fees,omitempty"`
	// AutoApprove true approves without a human (abuse and claims outside
	// the window still go to one); false always sends the return to one.
	AutoApprove        *bool    `yaml:"auto_approve,omitempty"`
	ReturnlessMaxValue *int64   `yaml:"returnless_max_value,omitempty"`
	RefundMethods      []string `yaml:"refund_methods,omitempty"`
}

// String says what a rule matches: "tier vip, category electronics".
func (m RuleMatch) String() string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+" "+v)
		}
	}
	add("tier", string(m.CustomerTier))
	add("customer tag", m.CustomerTag)
	add("country", m.Country)
	add("channel", string(m.Channel))
	add("category", m.Category)
	add("product tag", m.ProductTag)
	if len(parts) == 0 {
		return "everyone"
	}
	return strings.Join(parts, ", ")
}

func (r Rule) validate(pr *problems, at string) {
	if strings.TrimSpace(r.Name) == "" {
		pr.add(at+".name", "is required")
	}
	if r.When.CustomerTier != "" && r.When.CustomerTier != TierStandard && r.When.CustomerTier != TierVIP {
		pr.add(at+".when.customer_tier", "must be standard or vip")
	}
	if r.When.Channel != "" && !contains(Channels(), r.When.Channel) {
		pr.add(at+".when.channel", "is not a channel")
	}
	if r.Set.Window != nil && *r.Set.Window <= 0 {
		pr.add(at+".set.window", "must be a positive duration")
	}
	for reason, f := range r.Set.Fees {
		if !reason.Valid() {
			pr.add(at+".set.fees."+string(reason), "is not a reason")
		}
		if f.HandlingFee < 0 || f.ReturnShipping < 0 || f.GoodwillCoupon < 0 || f.RestockingBps < 0 || f.RestockingBps > 10000 {
			pr.add(at+".set.fees."+string(reason), "fees must be >= 0 and restocking_bps <= 10000")
		}
	}
	if r.Set.ReturnlessMaxValue != nil && *r.Set.ReturnlessMaxValue < 0 {
		pr.add(at+".set.returnless_max_value", "must not be negative")
	}
	for _, m := range r.Set.RefundMethods {
		if !contains(RefundMethods(), m) {
			pr.add(at+".set.refund_methods", "%q is not a refund method", m)
		}
	}
}

func (m RuleMatch) customer(req Request) bool {
	c := req.Customer
	return (m.CustomerTier == "" || m.CustomerTier == c.Tier) &&
		(m.CustomerTag == "" || contains(c.Tags, m.CustomerTag)) &&
		(m.Country == "" || strings.EqualFold(m.Country, c.Country)) &&
		(m.Channel == "" || m.Channel == req.Channel)
}

func (m RuleMatch) line(l Line) bool {
	return (m.Category == "" || m.Category == l.Category) && (m.ProductTag == "" || contains(l.Tags, m.ProductTag))
}

// RuleFor is the first rule matching a line of a request, or nil.
func (p Policy) RuleFor(req Request, l Line) *Rule {
	for i := range p.Rules {
		if r := &p.Rules[i]; r.When.customer(req) && r.When.line(l) {
			return r
		}
	}
	return nil
}

// RequestRule is the first rule matching every line of a request, or nil.
func (p Policy) RequestRule(req Request) *Rule {
	for i := range p.Rules {
		r := &p.Rules[i]
		if !r.When.customer(req) {
			continue
		}
		all := len(req.Lines) > 0
		for _, l := range req.Lines {
			all = all && r.When.line(l)
		}
		if all {
			return r
		}
	}
	return nil
}

// ForLine is the policy in force for one line: the rule's settings over
// the policy's. With no rule it is p itself.
func (p Policy) ForLine(req Request, l Line) Policy {
	r := p.RuleFor(req, l)
	if r == nil {
		return p
	}
	out := p
	if r.Set.Window != nil {
		out.Window.Default, out.Window.Categories = *r.Set.Window, nil
	}
	if len(r.Set.Fees) > 0 {
		// A copy, so the rule's rows never leak into the policy; no range
		// over a map, so workflowcheck sees it is deterministic.
		out.Fees.ByReason = maps.Clone(p.Fees.ByReason)
		if out.Fees.ByReason == nil {
			out.Fees.ByReason = map[Reason]ReasonFees{}
		}
		for _, reason := range Reasons() {
			if f, ok := r.Set.Fees[reason]; ok {
				out.Fees.ByReason[reason] = f
			}
		}
	}
	if r.Set.ReturnlessMaxValue != nil {
		out.Returnless.MaxValue = *r.Set.ReturnlessMaxValue
	}
	if len(r.Set.RefundMethods) > 0 {
		out.Refund.Methods = r.Set.RefundMethods
	}
	return out
}

// RefundInputFor is a line's input to ComputeRefunds under the policy: its
// value (the paid value, or the passed units' share), a reason, and the fee
// row of the line's segment rule if one matched. The workflow, the preview,
// what-if and the console all build it here, so they charge the same fees.
func (p Policy) RefundInputFor(req Request, l Line, reason Reason, value Money) RefundInput {
	fees := p.ForLine(req, l).FeesFor(reason)
	return RefundInput{LineID: l.LineID, Value: value, Reason: reason, Fees: &fees}
}

// AppliedRule says which rule decided what, for the return's view: "VIP
// (tier vip): auto-approved".
type AppliedRule struct {
	Rule   string `json:"rule"`
	LineID string `json:"line_id,omitempty"`
	Why    string `json:"why"`
}

func (a AppliedRule) String() string {
	if a.LineID != "" {
		return a.Rule + " on " + a.LineID + ": " + a.Why
	}
	return a.Rule + ": " + a.Why
}

// effects says what a rule's settings did.
func (r Rule) effects(cur string) []string {
	var out []string
	if r.Set.Window != nil {
		out = append(out, fmt.Sprintf("%s window", *r.Set.Window))
	}
	if len(r.Set.Fees) > 0 {
		var reasons []string
		for _, reason := range Reasons() {
			if f, ok := r.Set.Fees[reason]; ok {
				reasons = append(reasons, fmt.Sprintf("%s fees %s+%s shipping", reason, Money{Amount: f.HandlingFee, Currency: cur}, Money{Amount: f.ReturnShipping, Currency: cur}))
			}
		}
		out = append(out, strings.Join(reasons, ", "))
	}
	if r.Set.ReturnlessMaxValue != nil {
		out = append(out, "keep-it up to "+Money{Amount: *r.Set.ReturnlessMaxValue, Currency: cur}.String())
	}
	if len(r.Set.RefundMethods) > 0 {
		out = append(out, "refund methods "+strings.Join(r.Set.RefundMethods, ", "))
	}
	return out
}

// AppliedRules lists the rules a request ran under and why: each line's
// rule with its effects, and the request's rule for auto-approval.
func (p Policy) AppliedRules(req Request) []AppliedRule {
	var out []AppliedRule
	for _, l := range req.Lines {
		if r := p.RuleFor(req, l); r != nil {
			if eff := r.effects(req.Currency()); len(eff) > 0 {
				out = append(out, AppliedRule{Rule: r.Name, LineID: l.LineID, Why: r.When.String() + ": " + strings.Join(eff, "; ")})
			}
		}
	}
	if r := p.RequestRule(req); r != nil && r.Set.AutoApprove != nil {
		why := "always reviewed"
		if *r.Set.AutoApprove {
			why = "auto-approved"
		}
		out = append(out, AppliedRule{Rule: r.Name, Why: r.When.String() + ": " + why})
	}
	return out
}
