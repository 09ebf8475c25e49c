package store

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"time"

	"github.com/rma-dev/rma/domain"
)

// KPIs are the design brief's indicators over returns created in [From, To).
// Rates and medians are nil when nothing qualifies (no data is not zero).
type KPIs struct {
	From                    time.Time `json:"from"`
	To                      time.Time `json:"to"`
	ReturnsTotal            int       `json:"returns_total"`
	CompletedTotal          int       `json:"completed_total"`
	DeclinedTotal           int       `json:"declined_total"`
	ExpiredTotal            int       `json:"expired_total"`
	CancelledTotal          int       `json:"cancelled_total"`
	DeclineRate             *float64  `json:"decline_rate"`
	InspectionPassRate      *float64  `json:"inspection_pass_rate"`
	ReviewSLAMetRate        *float64  `json:"review_sla_met_rate"`
	InspectionSLAMetRate    *float64  `json:"inspection_sla_met_rate"`
	MedianProcessingSeconds *float64  `json:"median_processing_seconds"`
	MedianLogisticsSeconds  *float64  `json:"median_logistics_seconds"`
	MedianRefundSeconds     *float64  `json:"median_refund_seconds"`
	SatisfactionAvg         *float64  `json:"satisfaction_avg"`
	// LegalRefundOnTimeRate is the share of returns with a legal refund
	// deadline (policy refund.due_within) refunded by it, among those
	// refunded or past it.
	LegalRefundOnTimeRate *float64 `json:"legal_refund_on_time_rate"`
	// ComplaintRate is the share of returns with a complaint: a disputed
	// inspection, an escalation to a supervisor (a missed decision SLA, a
	// legal refund deadline about to pass), or a survey score of 2 or less.
	ComplaintRate *float64 `json:"complaint_rate"`
	Complaints    int      `json:"complaints"`
	// KeepOffers are the partial refunds offered to keep an item (折价补偿),
	// KeepAccepted those the customer took, for KeepAcceptedAmount.
	KeepOffers         int   `json:"keep_offers"`
	KeepAccepted       int   `json:"keep_accepted"`
	KeepAcceptedAmount int64 `json:"keep_accepted_amount"`
	RefundedAmount     int64 `json:"refunded_amount"`
}

func ptr(n sql.NullFloat64) *float64 {
	if !n.Valid {
		return nil
	}
	v := n.Float64
	return &v
}

// KPIs computes the indicators in one pass over the range:
//   - processing: request to refund or to replacement shipped;
//   - logistics: carrier pickup to arrival at the warehouse;
//   - refund: arrival at the warehouse (request, for returnless) to refund;
//   - review SLA met: returns reviewed by a human with no reply or decision
//     breach; inspection SLA met: inspected returns without a breach.
func (s *Store) KPIs(ctx context.Context, from, to time.Time) (KPIs, error) {
	k := KPIs{From: from, To: to}
	var decl, pass, rev, insp, proc, logi, refund, sat, legal, complaints sql.NullFloat64
	err := s.db.QueryRowContext(ctx, `
SELECT count(*),
  count(*) FILTER (WHERE status = 'completed'),
  count(*) FILTER (WHERE status = 'declined'),
  count(*) FILTER (WHERE status = 'expired'),
  count(*) FILTER (WHERE status = 'cancelled'),
  (count(*) FILTER (WHERE status = 'declined'))::float8 / nullif(count(*), 0),
  (SELECT (count(*) FILTER (WHERE l.inspection_result = 'pass'))::float8 / nullif(count(*) FILTER (WHERE l.inspection_result IS NOT NULL), 0)
     FROM return_lines l JOIN returns x USING (rma_id) WHERE x.created_at >= $1 AND x.created_at < $2),
  (count(*) FILTER (WHERE review_requested_at IS NOT NULL AND NOT sla_breaches && ARRAY['review_reply', 'review_decision']))::float8
     / nullif(count(*) FILTER (WHERE review_requested_at IS NOT NULL), 0),
  (count(*) FILTER (WHERE inspected_at IS NOT NULL AND NOT 'inspection' = ANY (sla_breaches)))::float8
     / nullif(count(*) FILTER (WHERE inspected_at IS NOT NULL), 0),
  percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM coalesce(refunded_at, replacement_shipped_at) - requested_at))
     FILTER (WHERE coalesce(refunded_at, replacement_shipped_at) IS NOT NULL),
  percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM coalesce(delivered_at, received_at) - picked_up_at))
     FILTER (WHERE picked_up_at IS NOT NULL AND coalesce(delivered_at, received_at) IS NOT NULL),
  percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM refunded_at - coalesce(delivered_at, received_at, requested_at)))
     FILTER (WHERE refunded_at IS NOT NULL),
  avg(survey_score)::float8,
  coalesce(sum(refund_total), 0),
  (count(*) FILTER (WHERE doc ? 'refund_due_at' AND refunded_at <= (doc->>'refund_due_at')::timestamptz))::float8
     / nullif(count(*) FILTER (WHERE doc ? 'refund_due_at' AND (refunded_at IS NOT NULL OR (doc->>'refund_due_at')::timestamptz < now())), 0),
  (count(*) FILTER (WHERE survey_score <= 2 OR EXISTS (SELECT 1 FROM audit a WHERE a.rma_id = returns.rma_id
     AND a.command IN ('inspection_disputed', 'escalated_supervisor', 'legal_refund_escalated'))))::float8
FROM returns WHERE created_at >= $1 AND created_at < $2`, from, to).Scan(
		&k.ReturnsTotal, &k.CompletedTotal, &k.DeclinedTotal, &k.ExpiredTotal, &k.CancelledTotal,
		&decl, &pass, &rev, &insp, &proc, &logi, &refund, &sat, &k.RefundedAmount, &legal, &complaints)
	if err != nil {
		return k, fmt.Errorf("kpis: %w", err)
	}
	k.DeclineRate, k.InspectionPassRate, k.ReviewSLAMetRate, k.InspectionSLAMetRate = ptr(decl), ptr(pass), ptr(rev), ptr(insp)
	k.MedianProcessingSeconds, k.MedianLogisticsSeconds, k.MedianRefundSeconds, k.SatisfactionAvg = ptr(proc), ptr(logi), ptr(refund), ptr(sat)
	k.LegalRefundOnTimeRate = ptr(legal)
	k.Complaints = int(complaints.Float64)
	if k.ReturnsTotal > 0 {
		rate := complaints.Float64 / float64(k.ReturnsTotal)
		k.ComplaintRate = &rate
	}
	if err := s.db.QueryRowContext(ctx, `
SELECT count(*), count(*) FILTER (WHERE l->'keep_offer'->>'answer' = 'accepted'),
  coalesce(sum((l->'keep_offer'->'amount'->>'amount')::bigint) FILTER (WHERE l->'keep_offer'->>'answer' = 'accepted'), 0)
FROM returns, jsonb_array_elements(CASE WHEN jsonb_typeof(doc->'lines') = 'array' THEN doc->'lines' ELSE '[]'::jsonb END) l
WHERE created_at >= $1 AND created_at < $2 AND l ? 'keep_offer'`, from, to).Scan(&k.KeepOffers, &k.KeepAccepted, &k.KeepAcceptedAmount); err != nil {
		return k, fmt.Errorf("kpis: keep offers: %w", err)
	}
	return k, nil
}

// ReasonRow is one group of returned lines.
type ReasonRow struct {
	Key      string         `json:"key"`
	Lines    int            `json:"lines"`
	Units    int            `json:"units"`
	ByReason map[string]int `json:"by_reason"`
}

// GroupBy columns for Reasons.
var groupColumns = map[string]string{"sku": "l.sku", "batch": "l.batch", "reason": "l.reason", "category": "l.category", "supplier": "l.supplier"}

// ValidGroupBy reports a supported grouping.
func ValidGroupBy(g string) bool { _, ok := groupColumns[g]; return ok }

// Reasons counts returned units by reason within each group (SKU, batch,
// reason, category or supplier), most returned first.
func (s *Store) Reasons(ctx context.Context, groupBy string, from, to time.Time) ([]ReasonRow, error) {
	col, ok := groupColumns[groupBy]
	if !ok {
		return nil, fmt.Errorf("group_by must be sku, batch, reason, category or supplier, not %q", groupBy)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+col+`, l.reason, count(*), sum(l.quantity)
  FROM return_lines l JOIN returns r USING (rma_id)
  WHERE r.created_at >= $1 AND r.created_at < $2 GROUP BY 1, 2`, from, to)
	if err != nil {
		return nil, fmt.Errorf("reasons: %w", err)
	}
	defer rows.Close()
	byKey := map[string]*ReasonRow{}
	for rows.Next() {
		var key, reason string
		var lines, units int
		if err := rows.Scan(&key, &reason, &lines, &units); err != nil {
			return nil, fmt.Errorf("reasons: %w", err)
		}
		row := byKey[key]
		if row == nil {
			row = &ReasonRow{Key: key, ByReason: map[string]int{}}
			byKey[key] = row
		}
		row.Lines += lines
		row.Units += units
		row.ByReason[reason] += units
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reasons: %w", err)
	}
	out := make([]ReasonRow, 0, len(byKey))
	for _, r := range byKey {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Units != out[j].Units {
			return out[i].Units > out[j].Units
		}
		return out[i].Key < out[j].Key
	})
	return out, nil
}

// Sale is one batch's units sold.
type Sale struct {
	SKU       string `json:"sku"`
	Batch     string `json:"batch"`
	UnitsSold int    `json:"units_sold"`
}

// ImportSales upserts units sold per batch.
func (s *Store) ImportSales(ctx context.Context, sales []Sale) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	for _, x := range sales {
		if x.SKU == "" || x.Batch == "" || x.UnitsSold < 0 {
			return fmt.Errorf("sale %+v: sku and batch are required and units_sold must be >= 0", x)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO batch_sales (sku, batch, units_sold) VALUES ($1, $2, $3)
  ON CONFLICT (sku, batch) DO UPDATE SET units_sold = EXCLUDED.units_sold, updated_at = now()`, x.SKU, x.Batch, x.UnitsSold); err != nil {
			return fmt.Errorf("import sale %s/%s: %w", x.SKU, x.Batch, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// BatchStats gives, for every batch with imported sales, its returned units
// and those of the SKU's other batches (the baseline). Lines that were not
// eligible are not returns and do not count.
func (s *Store) BatchStats(ctx context.Context) ([]domain.BatchStats, error) {
	rows, err := s.db.QueryContext(ctx, `
WITH returned AS (
  SELECT l.sku, l.batch, sum(l.quantity) AS units FROM return_lines l WHERE l.eligible GROUP BY l.sku, l.batch
), sku AS (
  SELECT s.sku, sum(s.units_sold) AS sold, (SELECT coalesce(sum(units), 0) FROM returned r WHERE r.sku = s.sku
     AND r.batch IN (SELECT batch FROM batch_sales b WHERE b.sku = s.sku)) AS returned
  FROM batch_sales s GROUP BY s.sku
)
SELECT s.sku, s.batch, s.units_sold, coalesce(r.units, 0), k.sold - s.units_sold, k.returned - coalesce(r.units, 0)
FROM batch_sales s JOIN sku k USING (sku) LEFT JOIN returned r ON r.sku = s.sku AND r.batch = s.batch
ORDER BY s.sku, s.batch`)
	if err != nil {
		return nil, fmt.Errorf("batch stats: %w", err)
	}
	defer rows.Close()
	var out []domain.BatchStats
	for rows.Next() {
		var b domain.BatchStats
		if err := rows.Scan(&b.SKU, &b.Batch, &b.Sold, &b.Returned, &b.BaselineSold, &b.BaselineReturned); err != nil {
			return nil, fmt.Errorf("batch stats: %w", err)
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// Anomalies applies the anomaly rule to the current batch statistics.
func (s *Store) Anomalies(ctx context.Context, rule domain.AnomalyPolicy) ([]domain.Anomaly, error) {
	stats, err := s.BatchStats(ctx)
	if err != nil {
		return nil, err
	}
	found := domain.DetectAnomalies(rule, stats)
	if found == nil {
		found = []domain.Anomaly{}
	}
	return found, nil
}
