package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lib/pq"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/domain"
)

// Opening is what a create call writes before it starts the workflow: the
// idempotency key with the request's hash, the workflow's start input, and
// the opening publication (seq 1).
type Opening struct {
	Key         string
	RequestHash string
	StartInput  json.RawMessage
	Publication activities.Publication
}

// Existing is a return an idempotency key already opened.
type Existing struct {
	RMAID       string
	RequestHash string
	Started     bool
	StartInput  json.RawMessage
}

// ErrKeyExists means the idempotency key (or the RMA ID it maps to) already
// opened a return; Existing says which.
var ErrKeyExists = errors.New("idempotency key already used")

// LookupKey finds the return an idempotency key opened.
func (s *Store) LookupKey(ctx context.Context, key string) (*Existing, error) {
	var e Existing
	var input []byte
	err := s.queryRow(ctx, `SELECT rma_id, coalesce(request_hash, ''), started, coalesce(start_input, 'null')
  FROM returns WHERE idempotency_key = $1`, key).Scan(&e.RMAID, &e.RequestHash, &e.Started, &input)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up idempotency key: %w", err)
	}
	e.StartInput = input
	return &e, nil
}

// Unstarted is the opening of a return whose workflow has not started, or
// nil.
func (s *Store) Unstarted(ctx context.Context, id string) (*Existing, error) {
	var e Existing
	var input []byte
	err := s.queryRow(ctx, `SELECT rma_id, coalesce(request_hash, ''), started, coalesce(start_input, 'null')
  FROM returns WHERE rma_id = $1 AND NOT started`, id).Scan(&e.RMAID, &e.RequestHash, &e.Started, &input)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up opening %s: %w", id, err)
	}
	e.StartInput = input
	return &e, nil
}

// Open writes a return's opening with its notices held until MarkStarted,
// and wakes the launchers (NOTIFY rma_opened). From here the return exists:
// reads show it, and its workflow is started by the caller or a launcher. A
// concurrent create with the same key loses the race here and gets
// ErrKeyExists.
func (s *Store) Open(ctx context.Context, o Opening) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	p := o.Publication
	// Two creates with the same key map to the same RMA ID: the second
	// waits here for the first and then finds its row.
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, p.Return.ID); err != nil {
		return fmt.Errorf("lock %s: %w", p.Return.ID, err)
	}
	var exists bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM returns WHERE rma_id = $1)`, p.Return.ID).Scan(&exists); err != nil {
		return fmt.Errorf("check %s: %w", p.Return.ID, err)
	}
	if exists {
		return ErrKeyExists
	}
	if err := insertOpening(ctx, tx, o); err != nil {
		return err
	}
	if err := writeAudit(ctx, tx, p.Return.ID, p.AuditFrom, p.Audit); err != nil {
		return err
	}
	if _, err := enqueue(ctx, tx, p.Notices, true); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `NOTIFY `+OpenedChannel); err != nil {
		return fmt.Errorf("notify launchers: %w", err)
	}
	if err := tx.Commit(); err != nil {
		var pe *pq.Error
		if errors.As(err, &pe) && pe.Code == "23505" {
			return ErrKeyExists
		}
		return fmt.Errorf("commit opening: %w", err)
	}
	return nil
}

func startTaskKey(rmaID string) string { return rmaID + "/start" }

// insertOpening writes the opening's row (the view, the idempotency key,
// the start input, queued for its start at once), its lines and its money
// movements, with the same columns and rows a publication writes.
func insertOpening(ctx context.Context, tx tx, o Opening) error {
	p := o.Publication
	r := p.Return
	r.Seq = p.Seq
	doc, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode return: %w", err)
	}
	var key any
	if o.Key != "" {
		key = o.Key
	}
	args := append([]any{r.ID, p.Seq}, viewColumns(r)...)
	args = append(args, doc, key, o.RequestHash, []byte(o.StartInput))
	if _, err := tx.ExecContext(ctx, `INSERT INTO returns (rma_id, seq, `+returnColumns+`, doc, started,
  idempotency_key, request_hash, start_input, start_next_at)
VALUES ($1, $2, `+placeholders(3, 33)+`, $36, false, $37, $38, $39, now())`, args...); err != nil {
		var pe *pq.Error
		if errors.As(err, &pe) && pe.Code == "23505" {
			return ErrKeyExists
		}
		return fmt.Errorf("insert return %s: %w", r.ID, err)
	}
	for _, l := range lineRows(r) {
		if _, err := tx.ExecContext(ctx, `INSERT INTO return_lines (rma_id, line_id, sku, batch, category, supplier, quantity, unit_price, reason,
  claimed_reason, resolution, eligible, inspection_result, disposition, inspected_at, refund_gross, refund_fees, refund_net)
  VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18)`,
			r.ID, l.LineID, l.SKU, l.Batch, l.Category, l.Supplier, l.Quantity, l.UnitPrice, l.Reason, l.ClaimedReason, l.Resolution, l.Eligible,
			l.InspectionResult, l.Disposition, l.InspectedAt, l.RefundGross, l.RefundFees, l.RefundNet); err != nil {
			return fmt.Errorf("insert line %s: %w", l.LineID, err)
		}
	}
	for _, m := range moneyRows(r) {
		if _, err := tx.ExecContext(ctx, `INSERT INTO money_movements (key, rma_id, kind, line_id, amount, currency, at) VALUES ($1,$2,$3,$4,$5,$6,$7)
  ON CONFLICT (key) DO NOTHING`, m.Key, r.ID, m.Kind, m.LineID, m.Amount, m.Currency, m.At); err != nil {
			return fmt.Errorf("insert money movement %s: %w", m.Key, err)
		}
	}
	// return.created (and return.approved when the policy approved it),
	// queued for the endpoints in the same transaction.
	events, err := json.Marshal(webhookEvents(p))
	if err != nil {
		return fmt.Errorf("encode events of %s: %w", r.ID, err)
	}
	if _, err := tx.ExecContext(ctx, `WITH evs AS (
  INSERT INTO webhook_events (event_id, rma_id, type, data)
  SELECT e.event_id, $1, e.type, $2::jsonb FROM jsonb_to_recordset($3::jsonb) AS e(event_id text, type text)
  ON CONFLICT (event_id) DO NOTHING RETURNING seq, rma_id, type
), `+deliveriesCTE+`
SELECT pg_notify('`+WebhookChannel+`', '') WHERE EXISTS (SELECT 1 FROM dels)`, r.ID, doc, string(events)); err != nil {
		return fmt.Errorf("queue events of %s: %w", r.ID, err)
	}
	return nil
}

// MarkStarted records that an opened return's workflow runs: it releases
// the return's notices and closes support's task about a start that kept
// failing.
func (s *Store) MarkStarted(ctx context.Context, rmaID string) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `UPDATE returns SET started = true, start_next_at = NULL WHERE rma_id = $1`, rmaID); err != nil {
		return fmt.Errorf("mark %s started: %w", rmaID, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE outbox SET held = false WHERE rma_id = $1 AND held`, rmaID); err != nil {
		return fmt.Errorf("release notices: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE tasks SET closed_at = now() WHERE key = $1 AND closed_at IS NULL`, startTaskKey(rmaID)); err != nil {
		return fmt.Errorf("close start task: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `NOTIFY `+OutboxChannel); err != nil {
		return fmt.Errorf("notify relay: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// OpenedChannel is the NOTIFY channel that wakes launchers when an opening
// waits for its workflow.
const OpenedChannel = "rma_opened"

// Unstarted is an opening whose workflow has not started yet.
type Unstarted struct {
	RMAID      string
	StartInput json.RawMessage
	Attempts   int
}

// ClaimUnstarted leases up to n openings due for a start attempt; the lease
// keeps other launchers off them, and lets another take over if this one
// dies. Each claim counts an attempt.
func (s *Store) ClaimUnstarted(ctx context.Context, n int, lease time.Duration) ([]Unstarted, error) {
	rows, err := s.query(ctx, `UPDATE returns SET start_attempts = start_attempts + 1, start_next_at = now() + $2 * interval '1 millisecond'
  WHERE rma_id IN (SELECT rma_id FROM returns WHERE NOT started AND start_next_at <= now() ORDER BY start_next_at LIMIT $1 FOR UPDATE SKIP LOCKED)
  RETURNING rma_id, coalesce(start_input, 'null'), start_attempts`, n, lease.Milliseconds())
	if err != nil {
		return nil, fmt.Errorf("claim openings: %w", err)
	}
	defer rows.Close()
	var out []Unstarted
	for rows.Next() {
		var u Unstarted
		var raw []byte
		if err := rows.Scan(&u.RMAID, &raw, &u.Attempts); err != nil {
			return nil, fmt.Errorf("scan opening: %w", err)
		}
		u.StartInput = raw
		out = append(out, u)
	}
	return out, rows.Err()
}

// RetryStart schedules another start attempt after a backoff (on the
// database's clock, which the claims read); after many it also opens a task
// for support.
func (s *Store) RetryStart(ctx context.Context, u Unstarted, after time.Duration, cause string) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `UPDATE returns SET start_next_at = now() + $2 * interval '1 millisecond' WHERE rma_id = $1 AND NOT started`,
		u.RMAID, after.Milliseconds()); err != nil {
		return fmt.Errorf("reschedule start of %s: %w", u.RMAID, err)
	}
	if u.Attempts >= 10 {
		if err := openTask(ctx, tx, startTaskKey(u.RMAID), u.RMAID, TaskStartFailed, fmt.Sprintf("workflow not started after %d attempts (retrying): %s", u.Attempts, cause)); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// NextStartAt is when the earliest unstarted opening is due (ok false:
// none).
func (s *Store) NextStartAt(ctx context.Context) (time.Time, bool, error) {
	var at sql.NullTime
	if err := s.queryRow(ctx, `SELECT min(start_next_at) FROM returns WHERE NOT started`).Scan(&at); err != nil {
		return time.Time{}, false, fmt.Errorf("next start: %w", err)
	}
	return at.Time, at.Valid, nil
}

// Survey errors.
var (
	// ErrSurveyClosed: the return is not completed, or its window ended.
	ErrSurveyClosed = errors.New("the survey is not open")
	// ErrSurveyAnswered: a return takes one answer.
	ErrSurveyAnswered = errors.New("the survey is already answered")
)

// SurveyRefusal says why a survey answer is refused.
type SurveyRefusal struct {
	Status domain.Status
	Why    error
	Detail string
}

func (e *SurveyRefusal) Error() string { return e.Why.Error() + ": " + e.Detail }
func (e *SurveyRefusal) Unwrap() error { return e.Why }

// AnswerSurvey stores the customer's answer on a completed return within its
// survey window. The workflow has ended by then, so the read model is the
// only writer left; the audit gets the entry too.
func (s *Store) AnswerSurvey(ctx context.Context, id string, sv domain.Survey, actor string, now time.Time) (domain.Return, error) {
	return s.amend(ctx, id, func(_ tx, r *domain.Return) (domain.TimelineEntry, error) {
		switch {
		case r.Status != domain.StatusCompleted:
			return domain.TimelineEntry{}, &SurveyRefusal{Status: r.Status, Why: ErrSurveyClosed, Detail: "it opens when the return is completed; return " + id + " is " + string(r.Status)}
		case r.Survey != nil:
			return domain.TimelineEntry{}, &SurveyRefusal{Status: r.Status, Why: ErrSurveyAnswered, Detail: "return " + id}
		case r.SurveyUntil != nil && now.After(*r.SurveyUntil):
			return domain.TimelineEntry{}, &SurveyRefusal{Status: r.Status, Why: ErrSurveyClosed, Detail: "its window closed at " + domain.FormatTime(*r.SurveyUntil)}
		}
		sv.At = now
		r.Survey = &sv
		return domain.TimelineEntry{At: now, Type: "survey", Actor: actor, Detail: fmt.Sprintf("score %d", sv.Score)}, nil
	})
}

// amend changes the stored view of a return whose workflow has ended (the
// read model is the only writer left then). Under the row's lock, change
// edits the view (it may write more in tx) and names the timeline entry
// that records it; the view is stored one seq later, every column from it,
// and the entry appended to the audit. A refusal from change is returned
// with the view as it stands, and nothing is written.
func (s *Store) amend(ctx context.Context, id string, change func(tx tx, r *domain.Return) (domain.TimelineEntry, error)) (domain.Return, error) {
	tx, err := s.begin(ctx)
	if err != nil {
		return domain.Return{}, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	var doc []byte
	var seq int64
	err = tx.QueryRowContext(ctx, `SELECT doc, seq FROM returns WHERE rma_id = $1 AND started FOR UPDATE`, id).Scan(&doc, &seq)
	r, err := viewFrom(id, doc, err)
	if err != nil {
		return r, err
	}
	entry, err := change(tx, &r)
	if err != nil {
		return r, err
	}
	r.Timeline = append(r.Timeline, entry)
	r.UpdatedAt, r.Seq = entry.At, seq+1
	out, err := json.Marshal(r)
	if err != nil {
		return r, fmt.Errorf("encode return: %w", err)
	}
	args := append([]any{id, r.Seq, out}, viewColumns(r)...)
	if _, err := tx.ExecContext(ctx, s.amendQ, args...); err != nil {
		return r, fmt.Errorf("store return %s: %w", id, err)
	}
	if err := appendAudit(ctx, tx, id, entry); err != nil {
		return r, err
	}
	if err := tx.Commit(); err != nil {
		return r, fmt.Errorf("commit %s: %w", entry.Type, err)
	}
	return r, nil
}

// amendSQL stores an amended view: its seq, doc and every column
// (viewColumns from $4).
func amendSQL() string {
	var set []string
	for i, c := range strings.Split(returnColumns, ",") {
		set = append(set, fmt.Sprintf("%s = $%d", strings.TrimSpace(c), i+4))
	}
	return `UPDATE returns SET seq = $2, doc = $3, ` + strings.Join(set, ", ") + ` WHERE rma_id = $1`
}

// appendAudit adds one entry after the last (the return's workflow has
// ended, so nothing else numbers its entries).
func appendAudit(ctx context.Context, tx tx, rmaID string, e domain.TimelineEntry) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit (rma_id, entry_no, at, actor, command, detail)
  SELECT $1, coalesce(max(entry_no), -1) + 1, $2, $3, $4, $5 FROM audit WHERE rma_id = $1`, rmaID, e.At, e.Actor, e.Type, e.Detail); err != nil {
		return fmt.Errorf("append audit entry: %w", err)
	}
	return nil
}
