package domain

import (
	"testing"
	"time"
)

// A crafted set of five returns, replayed under the defaults and under
// eu-crd with half the auto-approval value: every figure and every change
// is exact.
func TestWhatIfOnACraftedSet(t *testing.T) {
	at := delivered.Add(2 * 24 * time.Hour)
	mk := func(id, customer string, l Line, when time.Time) WhatIfCase {
		r := req(l)
		r.Customer.ID = customer
		return WhatIfCase{ID: id, Request: r, At: when}
	}
	withPhoto := func(l Line) Line { l.Photos = []string{"https://img.example/x.jpg"}; return l }
	cases := []WhatIfCase{
		mk("R1", "C1", line("L1", 4000, ReasonChangedMind, ResolutionRefund), at),
		mk("R2", "C2", withPhoto(line("L1", 19900, ReasonDefective, ResolutionRefund)), at),
		mk("R3", "C3", line("L1", 19900, ReasonChangedMind, ResolutionRefund), at),
		mk("R4", "C4", line("L1", 19900, ReasonChangedMind, ResolutionRefund), delivered.Add(10*24*time.Hour)),
		mk("R5", "C5", withPhoto(line("L1", 2000, ReasonDefective, ResolutionKeep)), at),
	}
	proposed := mustPolicy(t, "preset: eu-crd\nreview:\n  auto_approve:\n    max_value: 2500\n")
	rep := WhatIf(cases, Defaults(), proposed, WhatIfOptions{MinutesPerReview: 6, ListChanges: 10})

	cur := WhatIfFigures{Returns: 5, Eligible: 4, Ineligible: 1, AutoApproved: 3, AutoApprovalRate: 0.75, NeedHuman: 1, SupportHours: 0.1,
		Fees: cny(4400), Refunds: cny(41400), Returnless: 1, ReturnlessValue: cny(2000)}
	pro := WhatIfFigures{Returns: 5, Eligible: 5, Ineligible: 0, AutoApproved: 2, AutoApprovalRate: 0.4, NeedHuman: 3, SupportHours: 0.3,
		Fees: cny(0), Refunds: cny(65700), Returnless: 1, ReturnlessValue: cny(2000)}
	if rep.Current != cur {
		t.Errorf("current:\n got %+v\nwant %+v", rep.Current, cur)
	}
	if rep.Proposed != pro {
		t.Errorf("proposed:\n got %+v\nwant %+v", rep.Proposed, pro)
	}
	want := []WhatIfChange{
		{ID: "R1", From: "auto_approved", To: "review", Why: "manual review required by policy"},
		{ID: "R3", From: "review", To: "review", Why: "refund 177.00 CNY → 199.00 CNY"},
		{ID: "R4", From: "ineligible", To: "review", Why: "manual review required by policy"},
	}
	if rep.Changed != 3 || len(rep.Changes) != 3 {
		t.Fatalf("changed %d: %+v", rep.Changed, rep.Changes)
	}
	for i := range want {
		if rep.Changes[i] != want[i] {
			t.Errorf("change %d: got %+v, want %+v", i, rep.Changes[i], want[i])
		}
	}
	// The list is capped; the count is not.
	if short := WhatIf(cases, Defaults(), proposed, WhatIfOptions{ListChanges: 1}); short.Changed != 3 || len(short.Changes) != 1 {
		t.Fatalf("capped list: %d %d", short.Changed, len(short.Changes))
	}
}

// The abuse rule sees each customer's earlier returns in the set.
func TestWhatIfRebuildsCustomerHistory(t *testing.T) {
	var cases []WhatIfCase
	for i := 0; i < 7; i++ {
		r := req(line("L1", 1000, ReasonChangedMind, ResolutionRefund))
		cases = append(cases, WhatIfCase{ID: "R" + string(rune('0'+i)), Request: r, At: delivered.Add(time.Duration(i+1) * time.Hour)})
	}
	strict := mustPolicy(t, "abuse:\n  max_returns: 3\n")
	rep := WhatIf(cases, Defaults(), strict, WhatIfOptions{ListChanges: 10})
	// Defaults: 5 returns allowed, so the 6th and 7th go to a human; strict:
	// from the 4th.
	if rep.Current.NeedHuman != 2 || rep.Proposed.NeedHuman != 4 || rep.Changed != 2 {
		t.Fatalf("need human %d → %d, changed %d", rep.Current.NeedHuman, rep.Proposed.NeedHuman, rep.Changed)
	}
}

func BenchmarkWhatIf100k(b *testing.B) {
	cases := make([]WhatIfCase, 100_000)
	reasons := Reasons()
	for i := range cases {
		l := line("L1", int64(1000+i%30000), reasons[i%len(reasons)], ResolutionRefund)
		l.Category = []string{"", "electronics", "clothing", "fresh_food"}[i%4]
		r := req(l)
		r.Customer.ID = "C-" + string(rune('A'+i%26)) + string(rune('A'+(i/26)%26)) + string(rune('A'+(i/676)%26))
		cases[i] = WhatIfCase{ID: "R", Request: r, At: delivered.Add(time.Duration(i) * time.Minute)}
	}
	proposed, _ := Preset("eu-crd")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		WhatIf(cases, Defaults(), proposed, WhatIfOptions{MinutesPerReview: 6, ListChanges: 20})
	}
}
