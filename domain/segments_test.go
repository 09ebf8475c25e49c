package domain

import (
	"strings"
	"testing"
	"time"
)

func mustPolicy(t *testing.T, yaml string) Policy {
	t.Helper()
	p, err := LoadPolicy([]byte(yaml))
	if err != nil {
		t.Fatalf("policy: %v\n%s", err, yaml)
	}
	return p
}

const segmentPolicy = `
rules:
  - name: vip
    when: {customer_tier: vip}
    set: {auto_approve: true}
  - name: electronics
    when: {category: electronics}
    set:
      window: 360h
      fees: {changed_mind: {handling_fee: 2000, return_shipping: 1200}}
  - name: de-web
    when: {country: DE, channel: web}
    set: {window: 720h, refund_methods: [original]}
  - name: outlet
    when: {product_tag: outlet}
    set: {auto_approve: false, returnless_max_value: 0}
  - name: electronics-again
    when: {category: electronics}
    set: {window: 24h}
`

// The first matching rule wins, in the order written; a rule's settings
// change only what they name; the view says which rules applied and why.
func TestSegmentRules(t *testing.T) {
	p := mustPolicy(t, segmentPolicy)
	tv := line("L1", 9900, ReasonChangedMind, ResolutionRefund)
	tv.Category = "electronics"
	shirt := line("L2", 9900, ReasonChangedMind, ResolutionRefund)
	outlet := line("L3", 2000, ReasonChangedMind, ResolutionKeep)
	outlet.Tags = []string{"outlet"}
	vip := func(r Request) Request { r.Customer.Tier = TierVIP; return r }
	german := func(r Request) Request { r.Customer.Country = "de"; return r }
	day := 24 * time.Hour
	cases := []struct {
		name     string
		r        Request
		line     Line
		rule     string
		window   time.Duration
		handling int64
		methods  string
	}{
		{"no rule: the policy's category window", req(shirt), shirt, "", 7 * day, 1000, "original,store_credit"},
		{"category rule: its window and fee row", req(tv), tv, "electronics", 15 * day, 2000, "original,store_credit"},
		{"first match wins over a later rule for the same category", req(tv), tv, "electronics", 15 * day, 2000, "original,store_credit"},
		{"country (any case) and channel", german(req(shirt)), shirt, "de-web", 30 * day, 1000, "original"},
		{"a VIP rule sets no line setting", vip(req(shirt)), shirt, "vip", 7 * day, 1000, "original,store_credit"},
		{"customer rule before category rule", vip(req(tv)), tv, "vip", 15 * day, 1000, "original,store_credit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := p.RuleFor(c.r, c.line)
			got := ""
			if r != nil {
				got = r.Name
			}
			if got != c.rule {
				t.Fatalf("rule %q, want %q", got, c.rule)
			}
			lp := p.ForLine(c.r, c.line)
			if w := lp.WindowFor(c.line.Category); w != c.window {
				t.Errorf("window %s, want %s", w, c.window)
			}
			if f := lp.FeesFor(c.line.Reason).HandlingFee; f != c.handling {
				t.Errorf("handling fee %d, want %d", f, c.handling)
			}
			if m := strings.Join(lp.Refund.Methods, ","); m != c.methods {
				t.Errorf("methods %s, want %s", m, c.methods)
			}
		})
	}
	if p.ForLine(req(tv), tv).Fees.ByReason[ReasonChangedMind].HandlingFee != 2000 || p.Fees.ByReason[ReasonChangedMind].HandlingFee != 1000 {
		t.Fatal("a rule's fee row leaked into the policy")
	}

	// Review: a VIP rule auto-approves a customer-fault return the policy
	// would send to a human; the outlet rule sends one to a human even
	// though it is low value; a request rule must match every line.
	at := delivered.Add(time.Hour)
	o := Open(OpenInput{RMAID: "RMA-1", Request: vip(req(line("L1", 90000, ReasonChangedMind, ResolutionRefund))), Policy: p, At: at})
	if o.Next != NextProceed || !strings.Contains(o.Review.Why, "rule vip (tier vip)") {
		t.Fatalf("vip: %v %q", o.Next, o.Review.Why)
	}
	if got := o.View.PolicyRules; len(got) != 1 || got[0].String() != "vip: tier vip: auto-approved" {
		t.Fatalf("applied rules: %v", got)
	}
	o = Open(OpenInput{RMAID: "RMA-2", Request: req(outlet), Policy: p, At: at})
	if o.Next != NextReview || !strings.Contains(o.Review.Why, "outlet") || o.View.Lines[0].Returnless {
		t.Fatalf("outlet: %v %q returnless %v", o.Next, o.Review.Why, o.View.Lines[0].Returnless)
	}
	o = Open(OpenInput{RMAID: "RMA-3", Request: req(outlet, line("L9", 2000, ReasonDefective, ResolutionRefund)), Policy: p, At: at})
	if strings.Contains(o.Review.Why, "outlet") {
		t.Fatalf("a rule matching one line of two decided the review: %q", o.Review.Why)
	}
	o = Open(OpenInput{RMAID: "RMA-4", Request: req(tv), Policy: p, At: delivered.Add(10 * day), PolicyVersion: 7})
	if !o.Eligibility.Eligible || o.View.PolicyVersion != 7 {
		t.Fatalf("electronics on day 10 under a 15-day rule: %+v, version %d", o.Eligibility, o.View.PolicyVersion)
	}
	if got := o.View.PolicyRules; len(got) != 1 || got[0].String() != "electronics on L1: category electronics: 360h window; changed_mind fees 20.00 CNY+12.00 CNY shipping" {
		t.Fatalf("applied rules: %v", got)
	}
}

func TestRulesAreValidated(t *testing.T) {
	_, err := LoadPolicy([]byte("rules:\n  - when: {customer_tier: gold, channel: fax}\n    set: {window: -1h, refund_methods: [cash]}\n"))
	if err == nil {
		t.Fatal("a bad rule loaded")
	}
	for _, want := range []string{"rules[0].name", "rules[0].when.customer_tier", "rules[0].when.channel", "rules[0].set.window", `"cash" is not a refund method`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

// Each preset loads, cites its sources, is what rma policy show --preset
// prints, and can be overridden by a file naming it.
func TestLegalPresets(t *testing.T) {
	if got := strings.Join(Presets(), ","); got != "cn-7day,eu-crd" {
		t.Fatalf("presets: %s", got)
	}
	cn, err := Preset("cn-7day")
	if err != nil {
		t.Fatal(err)
	}
	day := 24 * time.Hour
	if cn.Window.Default.D() != 7*day || len(cn.Window.Categories) != 0 || cn.Refund.DueWithin.D() != 7*day || cn.Refund.DueFrom != DueFromReceipt ||
		!cn.Window.FinalSaleNeedsConfirmation || strings.Join(cn.Inspection.Checks["electronics"], ",") != "activation,serial_number" ||
		cn.FeesFor(ReasonChangedMind).HandlingFee != 0 || cn.FeesFor(ReasonChangedMind).ReturnShipping == 0 || cn.FeesFor(ReasonDefective).ReturnShipping != 0 {
		t.Fatalf("cn-7day: %+v", cn)
	}
	eu, err := Preset("eu-crd")
	if err != nil {
		t.Fatal(err)
	}
	if eu.Window.Default.D() != 14*day || eu.Refund.DueWithin.D() != 14*day || eu.Refund.DueFrom != DueFromRequest || !eu.Refund.IncludeOutboundShipping ||
		!eu.Inspection.ValueLossDeduction || eu.FeesFor(ReasonChangedMind) != (ReasonFees{}) || eu.Currency != "EUR" {
		t.Fatalf("eu-crd: %+v", eu)
	}
	for _, name := range Presets() {
		src, _ := PresetSource(name)
		for _, cite := range map[string][]string{"cn-7day": {"[CRPL art. 25", "[SAMR art. 18]"}, "eu-crd": {"[CRD art. 9(1)", "[CRD art. 13(1)]", "[CRD art. 16]"}}[name] {
			if !strings.Contains(string(src), cite) {
				t.Errorf("%s does not cite %s", name, cite)
			}
		}
	}
	over := mustPolicy(t, "preset: eu-crd\nrefund:\n  due_within: 240h\n")
	if over.Preset != "eu-crd" || over.Refund.DueWithin.D() != 10*day || !over.Refund.IncludeOutboundShipping {
		t.Fatalf("override of a preset: %+v", over.Refund)
	}
	out, _ := over.YAML()
	again := mustPolicy(t, string(out))
	if again.Refund.DueWithin != over.Refund.DueWithin || again.Preset != "eu-crd" || again.Currency != "EUR" {
		t.Fatalf("the effective YAML does not load back:\n%s", out)
	}
	if _, err := LoadPolicy([]byte("preset: us-ca\n")); err == nil || !strings.Contains(err.Error(), "cn-7day, eu-crd") {
		t.Fatalf("unknown preset: %v", err)
	}
}

// cn-7day: statutory categories are excluded outright; a confirmable
// category and a merchant's final-sale mark only where the customer
// confirmed it at purchase; the window is seven days from receipt.
func TestCN7DayEligibility(t *testing.T) {
	p, _ := Preset("cn-7day")
	mk := func(category string, finalSale, confirmed bool) Line {
		l := line("L1", 9900, ReasonChangedMind, ResolutionRefund)
		l.Category, l.FinalSale, l.ExclusionConfirmed = category, finalSale, confirmed
		return l
	}
	at := delivered.Add(2 * 24 * time.Hour)
	cases := []struct {
		name     string
		l        Line
		at       time.Time
		eligible bool
	}{
		{"fresh food is excluded by law", mk("fresh_food", false, false), at, false},
		{"made to order is excluded by law", mk("made_to_order", false, false), at, false},
		{"personal care without confirmation is returnable", mk("personal_care", false, false), at, true},
		{"personal care confirmed at purchase is excluded", mk("personal_care", false, true), at, false},
		{"a final-sale mark without confirmation does not bind", mk("clothing", true, false), at, true},
		{"a confirmed final-sale mark binds", mk("clothing", true, true), at, false},
		{"day 7 is inside the window", mk("clothing", false, false), delivered.Add(7*24*time.Hour - time.Minute), true},
		{"day 8 is outside", mk("clothing", false, false), delivered.Add(7*24*time.Hour + time.Minute), false},
	}
	for _, c := range cases {
		e := CheckEligibility(p, req(c.l), c.at, CustomerHistory{})
		if e.Eligible != c.eligible {
			t.Errorf("%s: eligible %v (%s), want %v", c.name, e.Eligible, e.Reason, c.eligible)
		}
	}
}

func TestDiffPolicyYAML(t *testing.T) {
	a, _ := Defaults().YAML()
	p := mustPolicy(t, "review:\n  auto_approve:\n    max_value: 2500\nwindow:\n  final_sale_categories: [clearance]\nrules:\n  - name: vip\n    when: {customer_tier: vip}\n    set: {auto_approve: true}\n")
	b, _ := p.YAML()
	changes, err := DiffPolicyYAML(a, b)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range changes {
		got = append(got, c.String())
	}
	want := []string{
		"~ review.auto_approve.max_value: 5000 → 2500",
		"~ rules: [] → [{name: vip, when: {customer_tier: vip}, set: {auto_approve: true}}]",
		"~ window.final_sale_categories: [clearance, personal_care] → [clearance]",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("diff:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if same, _ := DiffPolicyYAML(a, a); len(same) != 0 {
		t.Fatalf("a policy differs from itself: %v", same)
	}
}
