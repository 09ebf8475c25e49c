package domain

import (
	"testing"
	"time"
)

// The preview and the real opening agree, line by line, on a table of
// requests: eligibility and why, keep-it, and the review decision.
func TestPreviewAgreesWithOpen(t *testing.T) {
	cn, _ := Preset("cn-7day")
	seg := mustPolicy(t, segmentPolicy)
	tv := line("L1", 9900, ReasonChangedMind, ResolutionRefund)
	tv.Category = "electronics"
	food := line("L2", 3000, ReasonChangedMind, ResolutionRefund)
	food.Category = "fresh_food"
	withPhoto := func(l Line) Line { l.Photos = []string{"https://img.example/p.jpg"}; return l }
	vip := func(r Request) Request { r.Customer.Tier = TierVIP; return r }
	day := 24 * time.Hour
	cases := []struct {
		name string
		p    Policy
		r    Request
		at   time.Time
		h    CustomerHistory
	}{
		{"low value auto-approved", Defaults(), req(line("L1", 4000, ReasonChangedMind, ResolutionRefund)), delivered.Add(day), CustomerHistory{}},
		{"manual review", Defaults(), req(line("L1", 19900, ReasonSizeFit, ResolutionRefund)), delivered.Add(day), CustomerHistory{}},
		{"merchant fault with photo", Defaults(), req(withPhoto(line("L1", 19900, ReasonDefective, ResolutionRefund))), delivered.Add(day), CustomerHistory{}},
		{"out of window", Defaults(), req(line("L1", 19900, ReasonChangedMind, ResolutionRefund)), delivered.Add(9 * day), CustomerHistory{}},
		{"merchant fault out of window goes to review", Defaults(), req(withPhoto(line("L1", 19900, ReasonDefective, ResolutionRefund))), delivered.Add(9 * day), CustomerHistory{}},
		{"keep-it under the threshold", Defaults(), req(withPhoto(line("L1", 2000, ReasonDefective, ResolutionKeep))), delivered.Add(day), CustomerHistory{}},
		{"keep-it above the threshold", Defaults(), req(withPhoto(line("L1", 9000, ReasonDefective, ResolutionKeep))), delivered.Add(day), CustomerHistory{}},
		{"one line excluded of two", Defaults(), req(tv, food), delivered.Add(2 * day), CustomerHistory{}},
		{"abuse history", Defaults(), req(line("L1", 4000, ReasonChangedMind, ResolutionRefund)), delivered.Add(day), CustomerHistory{Returns: 9}},
		{"cn-7day food", cn, req(food), delivered.Add(day), CustomerHistory{}},
		{"segment rule window", seg, req(tv), delivered.Add(10 * day), CustomerHistory{}},
		{"segment rule VIP", seg, vip(req(line("L1", 90000, ReasonChangedMind, ResolutionRefund))), delivered.Add(day), CustomerHistory{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := Open(OpenInput{RMAID: "RMA-P", Request: c.r, Policy: c.p, At: c.at, History: c.h, PolicyVersion: 4})
			pv := PreviewRequest(c.p, 4, c.r, c.at, c.h, nil)
			if pv.Eligible != o.Eligibility.Eligible || pv.Reason != o.Eligibility.Reason || pv.PolicyVersion != 4 {
				t.Fatalf("eligible %v %q, open %v %q", pv.Eligible, pv.Reason, o.Eligibility.Eligible, o.Eligibility.Reason)
			}
			for i, l := range o.View.Lines {
				got := pv.Lines[i]
				if got.Eligible != l.Eligible || got.Reason != l.IneligibleReason && got.Eligible || got.Returnless != l.Returnless {
					t.Fatalf("line %s: preview %+v, open %+v", l.LineID, got, l)
				}
			}
			if o.Eligibility.Eligible {
				want := "review"
				if o.Next == NextProceed {
					want = "auto_approved"
				}
				if pv.Review != want || pv.ReviewWhy != o.Review.Why {
					t.Fatalf("review %s %q, open %s %q", pv.Review, pv.ReviewWhy, want, o.Review.Why)
				}
			}
			if len(pv.Rules) != len(o.View.PolicyRules) {
				t.Fatalf("rules %v, open %v", pv.Rules, o.View.PolicyRules)
			}
		})
	}
}

// Without a reason or a resolution the preview answers what each reason
// would cost and leaves the review open; with the stock known it says
// whether an exchange can ship.
func TestPreviewWithoutReasonOrResolution(t *testing.T) {
	l := line("L1", 19900, "", "")
	pv := PreviewRequest(Defaults(), 0, req(l), delivered.Add(24*time.Hour), CustomerHistory{}, func(sku string) (int, bool) { return 0, sku == "SKU-L1" })
	if !pv.Eligible || pv.Review != "" || pv.RefundTotal != nil {
		t.Fatalf("preview: %+v", pv)
	}
	got := pv.Lines[0]
	if got.RefundByReason[ReasonDefective].Amount != 19900 || got.RefundByReason[ReasonChangedMind].Amount != 19900-1000-1200 {
		t.Fatalf("refund by reason: %v", got.RefundByReason)
	}
	if f := got.FeesByReason[ReasonSizeFit]; f.Handling.Amount != 1000 || f.ReturnShipping.Amount != 1200 {
		t.Fatalf("fees: %+v", f)
	}
	if !got.WindowEnds.Equal(delivered.Add(7 * 24 * time.Hour)) {
		t.Fatalf("window ends %s", got.WindowEnds)
	}
	avail := map[Resolution]bool{}
	for _, r := range got.Resolutions {
		avail[r.Resolution] = r.Available
	}
	if !avail[ResolutionRefund] || !avail[ResolutionStoreCredit] || avail[ResolutionExchange] || avail[ResolutionKeep] || !avail[ResolutionRepair] {
		t.Fatalf("resolutions: %+v", got.Resolutions)
	}
}
