package domain

import (
	"math"
	"sort"
)

// BatchStats are a batch's sales and returns, and those of the same SKU's
// other batches (its baseline).
type BatchStats struct {
	SKU              string `json:"sku"`
	Batch            string `json:"batch"`
	Sold             int    `json:"sold"`
	Returned         int    `json:"returned"`
	BaselineSold     int    `json:"baseline_sold"`
	BaselineReturned int    `json:"baseline_returned"`
}

// Anomaly is a batch whose return rate jumped above its SKU's baseline.
type Anomaly struct {
	SKU      string  `json:"sku"`
	Batch    string  `json:"batch"`
	Rate     float64 `json:"rate"`
	Baseline float64 `json:"baseline"`
	Sample   int     `json:"sample"`
	Returned int     `json:"returned"`
	Z        float64 `json:"z"`
}

// minBaselineRate keeps the test meaningful when the other batches had no
// returns at all (a zero variance would flag any single return).
const minBaselineRate = 0.005

// DetectAnomalies applies the rule: a batch is anomalous when
//   - it sold at least MinSample units, and so did the SKU's other batches;
//   - its return rate p = returned/sold is at least MinRatio times the
//     baseline p0 = the other batches' returned/sold; and
//   - the one-sided binomial z-test z = (p - p0) / sqrt(p0(1-p0)/n) is at
//     least MinZ (with p0 floored at 0.5%).
//
// Results are ordered by z, strongest first.
func DetectAnomalies(rule AnomalyPolicy, stats []BatchStats) []Anomaly {
	var out []Anomaly
	for _, s := range stats {
		if s.Sold < rule.MinSample || s.BaselineSold < rule.MinSample || s.Sold <= 0 {
			continue
		}
		p := float64(s.Returned) / float64(s.Sold)
		p0 := float64(s.BaselineReturned) / float64(s.BaselineSold)
		floor := math.Max(p0, minBaselineRate)
		z := (p - floor) / math.Sqrt(floor*(1-floor)/float64(s.Sold))
		if z >= rule.MinZ && p >= rule.MinRatio*floor {
			out = append(out, Anomaly{SKU: s.SKU, Batch: s.Batch, Rate: p, Baseline: p0, Sample: s.Sold, Returned: s.Returned, Z: math.Round(z*100) / 100})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Z > out[j].Z })
	return out
}
