package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/lib/pq"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/domain"
)

// Publish writes one publication of a return's workflow: the view, its lines
// and money movements, the new audit entries, the notices (into the outbox,
// waking the relay) and support's tasks. It is one SQL statement, so one
// round trip and one transaction: every wait of every return publishes, and
// round trips were most of what the read model cost. It is idempotent: a
// publication older than the stored one changes nothing (every part is
// guarded by the view's upsert), so a late retry never overwrites a newer
// view; audit entries, money movements and notices are keyed, so nothing is
// written twice. The same seq again is a retried local activity, or the
// same workflow task run twice: a worker that lost its task (to a timeout or
// a server restart) may still be running it while another worker re-runs
// it. The attempt with the longer history (Epoch) is the one the workflow
// goes on from, so the view is ordered by (seq, epoch): a superseded
// attempt's late write changes nothing.
func (s *Store) Publish(ctx context.Context, p activities.Publication) error {
	r := p.Return
	r.Seq = p.Seq
	doc, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode return: %w", err)
	}
	cols := viewColumns(r)
	args := append([]any{r.ID, p.Seq}, cols...)
	args = append(args, doc)
	parts, err := publicationParts(p)
	if err != nil {
		return err
	}
	args = append(args, parts...)
	args = append(args, p.Epoch)
	events, err := json.Marshal(webhookEvents(p))
	if err != nil {
		return fmt.Errorf("encode events of %s: %w", r.ID, err)
	}
	args = append(args, string(events))
	var stored int
	if err := s.queryRow(ctx, s.publishQ, args...).Scan(&stored, new(any), new(any)); err != nil {
		return fmt.Errorf("publish %s seq %d: %w", r.ID, p.Seq, err)
	}
	return nil
}

// viewColumns are the returns row's columns after rma_id and seq, in
// returnColumns order.
func viewColumns(r domain.Return) []any {
	var waiting, dlKind, dlAt any
	if r.WaitingOn != nil {
		waiting = string(*r.WaitingOn)
	}
	if r.Deadline != nil {
		dlKind, dlAt = r.Deadline.Kind, r.Deadline.At
	}
	var score, comment, surveyAt any
	if r.Survey != nil {
		score, comment, surveyAt = r.Survey.Score, r.Survey.Comment, r.Survey.At
	}
	var total int64
	for _, l := range r.Lines {
		total += l.Value().Amount
	}
	st := r.Stages
	return []any{r.OrderID, r.Customer.ID, r.Kind, r.Status, r.Channel, r.Customer.Tier, r.RefundTotal.Currency, total,
		r.RefundTotal.Amount, r.FeesTotal.Amount, waiting, dlKind, dlAt, r.TrackingNumber, r.ReplacementTrackingNumber,
		pq.Array(nonNil(r.SLABreaches)), score, comment, surveyAt, r.CreatedAt, r.UpdatedAt,
		ts(st, "requested"), ts(st, "review_requested"), ts(st, "approved"), ts(st, "label"), ts(st, "picked_up"), ts(st, "delivered"),
		ts(st, "received"), ts(st, "inspected"), ts(st, "refunded"), ts(st, "replacement_shipped"), ts(st, "resolved"), ts(st, "closed")}
}

// returnColumns lists the row's columns in viewColumns order.
const returnColumns = `order_id, customer_id, kind, status, channel, tier, currency, total_value, refund_total, fees_total,
  waiting_on, deadline_kind, deadline_at, tracking_number, replacement_tracking_number, sla_breaches, survey_score, survey_comment, survey_at,
  created_at, updated_at, requested_at, review_requested_at, approved_at, label_at, picked_up_at, delivered_at, received_at, inspected_at,
  refunded_at, replacement_shipped_at, resolved_at, closed_at`

// updatedColumns are the columns a newer view replaces; the survey columns
// keep an answer the view does not carry.
func updatedColumns() string {
	var set []string
	for _, c := range strings.Split(returnColumns, ",") {
		c = strings.TrimSpace(c)
		switch c {
		case "order_id", "customer_id", "kind", "channel", "tier", "currency", "total_value", "created_at":
			continue
		case "survey_score", "survey_comment", "survey_at":
			set = append(set, c+" = coalesce(EXCLUDED."+c+", returns."+c+")")
		default:
			set = append(set, c+" = EXCLUDED."+c)
		}
	}
	return strings.Join(set, ", ")
}

func placeholders(from, n int) string {
	var p []string
	for i := from; i < from+n; i++ {
		p = append(p, fmt.Sprintf("$%d", i))
	}
	return strings.Join(p, ",")
}

// publishSQL is the publication: the view's upsert guards every other part.
func publishSQL() string {
	return `WITH prev AS (
  SELECT status FROM returns WHERE rma_id = $1
), ret AS (
  INSERT INTO returns (rma_id, seq, ` + returnColumns + `, doc, started, epoch)
  VALUES ($1, $2, ` + placeholders(3, 33) + `, $36, true, $43)
  ON CONFLICT (rma_id) DO UPDATE SET seq = EXCLUDED.seq, epoch = EXCLUDED.epoch, ` + updatedColumns() + `, doc = EXCLUDED.doc, started = true, start_next_at = NULL
  WHERE (returns.seq, returns.epoch) <= (EXCLUDED.seq, EXCLUDED.epoch)
  RETURNING rma_id
), lines AS (
  INSERT INTO return_lines (rma_id, line_id, sku, batch, category, supplier, quantity, unit_price, reason, claimed_reason, resolution, eligible,
    inspection_result, disposition, inspected_at, refund_gross, refund_fees, refund_net)
  SELECT ret.rma_id, l.line_id, l.sku, l.batch, l.category, l.supplier, l.quantity, l.unit_price, l.reason, l.claimed_reason, l.resolution, l.eligible,
    l.inspection_result, l.disposition, l.inspected_at, l.refund_gross, l.refund_fees, l.refund_net
  FROM ret, jsonb_to_recordset($37::jsonb) AS l(line_id text, sku text, batch text, category text, supplier text, quantity int, unit_price bigint,
    reason text, claimed_reason text, resolution text, eligible boolean, inspection_result text, disposition text, inspected_at timestamptz,
    refund_gross bigint, refund_fees bigint, refund_net bigint)
  ON CONFLICT (rma_id, line_id) DO UPDATE SET reason = EXCLUDED.reason, claimed_reason = EXCLUDED.claimed_reason, resolution = EXCLUDED.resolution,
    eligible = EXCLUDED.eligible, inspection_result = EXCLUDED.inspection_result, disposition = EXCLUDED.disposition, inspected_at = EXCLUDED.inspected_at,
    refund_gross = EXCLUDED.refund_gross, refund_fees = EXCLUDED.refund_fees, refund_net = EXCLUDED.refund_net
), money AS (
  INSERT INTO money_movements (key, rma_id, kind, line_id, amount, currency, at)
  SELECT m.key, ret.rma_id, m.kind, m.line_id, m.amount, m.currency, m.at
  FROM ret, jsonb_to_recordset($38::jsonb) AS m(key text, kind text, line_id text, amount bigint, currency text, at timestamptz)
  ON CONFLICT (key) DO NOTHING
), entries AS (
  INSERT INTO audit (rma_id, entry_no, at, actor, command, detail)
  SELECT ret.rma_id, a.entry_no, a.at, a.actor, a.command, a.detail
  FROM ret, jsonb_to_recordset($39::jsonb) AS a(entry_no int, at timestamptz, actor text, command text, detail text)
  ON CONFLICT (rma_id, entry_no) DO NOTHING
), notices AS (
  INSERT INTO outbox (key, rma_id, notice)
  SELECT n.key, ret.rma_id, n.notice FROM ret, jsonb_to_recordset($40::jsonb) AS n(key text, notice jsonb)
  ON CONFLICT (key) DO NOTHING
  RETURNING 1
), released AS (
  UPDATE outbox SET held = false WHERE rma_id = $1 AND held AND EXISTS (SELECT 1 FROM ret)
  RETURNING 1
), opened AS (
  INSERT INTO tasks (key, rma_id, kind, detail)
  SELECT t.key, ret.rma_id, t.kind, t.detail FROM ret, jsonb_to_recordset($41::jsonb) AS t(key text, kind text, detail text)
  ON CONFLICT (key) DO NOTHING
), closed AS (
  UPDATE tasks SET closed_at = now()
  WHERE rma_id = $1 AND kind = '` + TaskNeedsAttention + `' AND closed_at IS NULL AND $42::boolean AND EXISTS (SELECT 1 FROM ret)
), evs AS (
  INSERT INTO webhook_events (event_id, rma_id, type, data)
  SELECT x.event_id, ret.rma_id, x.type, $36::jsonb FROM ret, (
    SELECT e.event_id, e.type, row_number() OVER () AS ord FROM jsonb_to_recordset($44::jsonb) AS e(event_id text, type text)
    UNION ALL
    SELECT 'evt_' || left(md5($1 || '/' || $2 || '/status_changed/' || ($36::jsonb->>'status')), 24), 'return.status_changed', 1000000
      FROM (SELECT 1) one LEFT JOIN prev ON true WHERE prev.status IS DISTINCT FROM ($36::jsonb->>'status')
  ) x ORDER BY x.ord
  ON CONFLICT (event_id) DO NOTHING
  RETURNING seq, rma_id, type
), ` + deliveriesCTE + `
SELECT (SELECT count(*) FROM ret),
  (SELECT pg_notify('` + OutboxChannel + `', '') WHERE EXISTS (SELECT 1 FROM notices) OR EXISTS (SELECT 1 FROM released)),
  (SELECT pg_notify('` + WebhookChannel + `', '') WHERE EXISTS (SELECT 1 FROM dels))`
}

type lineRow struct {
	LineID           string     `json:"line_id"`
	SKU              string     `json:"sku"`
	Batch            string     `json:"batch"`
	Category         string     `json:"category"`
	Supplier         string     `json:"supplier"`
	Quantity         int        `json:"quantity"`
	UnitPrice        int64      `json:"unit_price"`
	Reason           string     `json:"reason"`
	ClaimedReason    string     `json:"claimed_reason"`
	Resolution       string     `json:"resolution"`
	Eligible         bool       `json:"eligible"`
	InspectionResult *string    `json:"inspection_result"`
	Disposition      *string    `json:"disposition"`
	InspectedAt      *time.Time `json:"inspected_at"`
	RefundGross      *int64     `json:"refund_gross"`
	RefundFees       *int64     `json:"refund_fees"`
	RefundNet        *int64     `json:"refund_net"`
}

type moneyRow struct {
	Key      string    `json:"key"`
	Kind     string    `json:"kind"`
	LineID   string    `json:"line_id"`
	Amount   int64     `json:"amount"`
	Currency string    `json:"currency"`
	At       time.Time `json:"at"`
}

type auditRow struct {
	EntryNo int       `json:"entry_no"`
	At      time.Time `json:"at"`
	Actor   string    `json:"actor"`
	Command string    `json:"command"`
	Detail  string    `json:"detail"`
}

type noticeRow struct {
	Key    string                  `json:"key"`
	Notice activities.Notification `json:"notice"`
}

type taskRow struct {
	Key    string `json:"key"`
	Kind   string `json:"kind"`
	Detail string `json:"detail"`
}

// publicationParts are the statement's JSON record sets ($37 to $41) and
// whether needs_attention tasks close ($42).
func publicationParts(p activities.Publication) ([]any, error) {
	r := p.Return
	lines, money := lineRows(r), moneyRows(r)
	audit := make([]auditRow, 0, len(p.Audit))
	for i, e := range p.Audit {
		audit = append(audit, auditRow{EntryNo: p.AuditFrom + i, At: e.At, Actor: e.Actor, Command: e.Type, Detail: e.Detail})
	}
	notices := make([]noticeRow, 0, len(p.Notices))
	for _, n := range p.Notices {
		notices = append(notices, noticeRow{Key: n.Key, Notice: n})
	}
	tasks := []taskRow{}
	if r.ClaimError != "" {
		tasks = append(tasks, taskRow{Key: r.ID + "/claim", Kind: TaskClaimFailed, Detail: "carrier claim for " + r.TrackingNumber + " not filed: " + r.ClaimError})
	}
	if a := r.Attention; a != nil {
		tasks = append(tasks, taskRow{Key: fmt.Sprintf("%s/attention/%d", r.ID, a.Since.UnixNano()), Kind: TaskNeedsAttention, Detail: a.Step + ": " + a.Error})
	}
	var out []any
	for _, v := range []any{lines, money, audit, notices, tasks} {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("encode publication of %s: %w", r.ID, err)
		}
		out = append(out, string(b))
	}
	return append(out, r.Attention == nil), nil
}

// lineRows are the return_lines rows of a view.
func lineRows(r domain.Return) []lineRow {
	lines := make([]lineRow, 0, len(r.Lines))
	for _, l := range r.Lines {
		row := lineRow{LineID: l.LineID, SKU: l.SKU, Batch: l.Batch, Category: l.Category, Supplier: l.Supplier, Quantity: l.Quantity,
			UnitPrice: l.UnitPrice.Amount, Reason: string(l.Reason), ClaimedReason: string(l.Reason), Resolution: string(l.Resolution), Eligible: l.Eligible}
		if in := l.Inspection; in != nil {
			res, disp, at := string(in.Result), string(in.Disposition), in.At
			row.InspectionResult, row.Disposition, row.InspectedAt = &res, &disp, &at
			if in.ReclassifiedFrom != "" {
				row.ClaimedReason = string(in.ReclassifiedFrom)
			}
		}
		if rf := l.Refund; rf != nil {
			g, f, n := rf.Gross.Amount, rf.Fees.Amount, rf.Net.Amount
			row.RefundGross, row.RefundFees, row.RefundNet = &g, &f, &n
		}
		lines = append(lines, row)
	}
	return lines
}

// moneyRows are the money_movements rows of a view.
func moneyRows(r domain.Return) []moneyRow {
	money := make([]moneyRow, 0, len(r.Payments))
	for _, m := range r.Payments {
		money = append(money, moneyRow{Key: m.Key, Kind: m.Kind, LineID: m.LineID, Amount: m.Amount.Amount, Currency: m.Amount.Currency, At: m.At})
	}
	return money
}
