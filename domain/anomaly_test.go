package domain

import "testing"

func TestDetectAnomalies(t *testing.T) {
	rule := Defaults().Anomaly
	cases := []struct {
		name string
		s    BatchStats
		want bool
	}{
		{"jump: 12% against a 2% baseline on 200 units", BatchStats{"S", "B2", 200, 24, 1000, 20}, true},
		{"same rate as baseline", BatchStats{"S", "B2", 200, 4, 1000, 20}, false},
		{"higher but not significant: 3/100 vs 2%", BatchStats{"S", "B2", 100, 3, 1000, 20}, false},
		{"too small a sample", BatchStats{"S", "B2", 20, 10, 1000, 20}, false},
		{"no baseline to compare with", BatchStats{"S", "B2", 200, 50, 10, 0}, false},
		{"zero-return baseline: floor keeps one return from alarming", BatchStats{"S", "B2", 100, 1, 500, 0}, false},
		{"zero-return baseline: many returns still alarm", BatchStats{"S", "B2", 100, 8, 500, 0}, true},
		{"significant but under the ratio", BatchStats{"S", "B2", 100000, 2200, 100000, 2000}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := DetectAnomalies(rule, []BatchStats{c.s})
			if (len(got) == 1) != c.want {
				t.Fatalf("got %+v, want anomaly=%v", got, c.want)
			}
			if c.want && (got[0].Sample != c.s.Sold || got[0].Rate != float64(c.s.Returned)/float64(c.s.Sold)) {
				t.Fatalf("fields: %+v", got[0])
			}
		})
	}
	// Ordered by strength.
	got := DetectAnomalies(rule, []BatchStats{{"S", "weak", 200, 16, 1000, 20}, {"S", "strong", 200, 40, 1000, 20}})
	if len(got) != 2 || got[0].Batch != "strong" {
		t.Fatalf("order: %+v", got)
	}
}
