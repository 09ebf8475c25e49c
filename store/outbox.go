package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/lib/pq"

	"github.com/rma-dev/rma/activities"
)

// OutboxChannel is the PostgreSQL NOTIFY channel that wakes the relay when
// notices are written.
const OutboxChannel = "rma_outbox"

// enqueue inserts notices; a key already in the outbox is skipped, so a
// retried write never sends twice. held keeps them back until the return's
// workflow has started. It reports whether anything was added.
func enqueue(ctx context.Context, tx tx, notices []activities.Notification, held bool) (bool, error) {
	added := false
	for _, n := range notices {
		b, err := json.Marshal(n)
		if err != nil {
			return false, fmt.Errorf("encode notice %s: %w", n.Key, err)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO outbox (key, rma_id, notice, held) VALUES ($1, $2, $3, $4) ON CONFLICT (key) DO NOTHING`, n.Key, n.RMAID, b, held)
		if err != nil {
			return false, fmt.Errorf("enqueue notice %s: %w", n.Key, err)
		}
		if k, _ := res.RowsAffected(); k > 0 {
			added = true
		}
	}
	return added, nil
}

// Enqueue implements activities.Store: notices outside a publication (the
// anomaly check's alerts).
func (s *Store) Enqueue(ctx context.Context, notices []activities.Notification) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	added, err := enqueue(ctx, tx, notices, false)
	if err != nil {
		return err
	}
	if added {
		if _, err := tx.ExecContext(ctx, `NOTIFY `+OutboxChannel); err != nil {
			return fmt.Errorf("notify relay: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// OutboxItem is a notice the relay is delivering.
type OutboxItem struct {
	ID        int64
	Notice    activities.Notification
	Attempts  int
	CreatedAt time.Time
}

// ClaimNotices leases up to n due notices for one delivery attempt. The
// lease (lease long) keeps other relays (one per worker) off them; a relay
// that dies mid-delivery lets the lease run out and another takes over.
func (s *Store) ClaimNotices(ctx context.Context, n int, lease time.Duration) ([]OutboxItem, error) {
	rows, err := s.query(ctx, `UPDATE outbox SET attempts = attempts + 1, next_attempt_at = now() + $2 * interval '1 millisecond'
  WHERE id IN (SELECT id FROM outbox WHERE delivered_at IS NULL AND failed_at IS NULL AND NOT held AND next_attempt_at <= now()
               ORDER BY next_attempt_at, id LIMIT $1 FOR UPDATE SKIP LOCKED)
  RETURNING id, notice, attempts, created_at`, n, lease.Milliseconds())
	if err != nil {
		return nil, fmt.Errorf("claim notices: %w", err)
	}
	defer rows.Close()
	var out []OutboxItem
	for rows.Next() {
		var it OutboxItem
		var raw []byte
		if err := rows.Scan(&it.ID, &raw, &it.Attempts, &it.CreatedAt); err != nil {
			return nil, fmt.Errorf("scan notice: %w", err)
		}
		if err := json.Unmarshal(raw, &it.Notice); err != nil {
			return nil, fmt.Errorf("decode notice %d: %w", it.ID, err)
		}
		out = append(out, it)
	}
	// UPDATE ... RETURNING has no order: deliver in the order written.
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, rows.Err()
}

// NoticesDelivered marks notices sent, in one statement.
func (s *Store) NoticesDelivered(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	if _, err := s.exec(ctx, `UPDATE outbox SET delivered_at = now(), last_error = NULL WHERE id = ANY($1)`, pq.Array(ids)); err != nil {
		return fmt.Errorf("mark %d notice(s) delivered: %w", len(ids), err)
	}
	return nil
}

// NoticeRetry schedules the next attempt after a failure that may pass.
func (s *Store) NoticeRetry(ctx context.Context, id int64, at time.Time, cause string) error {
	if _, err := s.exec(ctx, `UPDATE outbox SET next_attempt_at = $2, last_error = $3 WHERE id = $1`, id, at, cause); err != nil {
		return fmt.Errorf("reschedule notice %d: %w", id, err)
	}
	return nil
}

// NoticeFailed gives a notice up (the notifier refused it) and opens a task
// for support.
func (s *Store) NoticeFailed(ctx context.Context, it OutboxItem, cause string) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `UPDATE outbox SET failed_at = now(), last_error = $2 WHERE id = $1`, it.ID, cause); err != nil {
		return fmt.Errorf("fail notice %d: %w", it.ID, err)
	}
	if err := openTask(ctx, tx, "notice/"+it.Notice.Key, it.Notice.RMAID, TaskNoticeFailed,
		fmt.Sprintf("%s notice %q to %s could not be delivered: %s", it.Notice.To, it.Notice.Template, it.Notice.RMAID, cause)); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// NoticeStuck opens a task for a notice that still fails after a long time
// of retries (it keeps retrying).
func (s *Store) NoticeStuck(ctx context.Context, it OutboxItem, cause string) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := openTask(ctx, tx, "notice/"+it.Notice.Key, it.Notice.RMAID, TaskNoticeFailed,
		fmt.Sprintf("%s notice %q for %s still failing after %d attempts (retrying): %s", it.Notice.To, it.Notice.Template, it.Notice.RMAID, it.Attempts, cause)); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// NextNoticeAt is when the earliest pending notice is due (ok false: none).
func (s *Store) NextNoticeAt(ctx context.Context) (time.Time, bool, error) {
	var at sql.NullTime
	if err := s.queryRow(ctx, `SELECT min(next_attempt_at) FROM outbox WHERE delivered_at IS NULL AND failed_at IS NULL AND NOT held`).Scan(&at); err != nil {
		return time.Time{}, false, fmt.Errorf("next notice: %w", err)
	}
	return at.Time, at.Valid, nil
}

// Listen opens a LISTEN on a channel (OutboxChannel, OpenedChannel); its
// Notify channel fires when the channel is notified, and after a reconnect.
func (s *Store) Listen(channel string, onProblem func(error)) (*pq.Listener, error) {
	l := pq.NewListener(s.url, time.Second, time.Minute, func(_ pq.ListenerEventType, err error) {
		if err != nil && onProblem != nil {
			onProblem(err)
		}
	})
	if err := l.Listen(channel); err != nil {
		_ = l.Close()
		return nil, fmt.Errorf("listen %s: %w", channel, err)
	}
	return l, nil
}

// Task kinds.
const (
	TaskNeedsAttention = "needs_attention"
	TaskNoticeFailed   = "notice_failed"
	TaskClaimFailed    = "claim_failed"
	TaskStartFailed    = "start_failed"
	// TaskWebhookPaused: a merchant's webhook endpoint kept failing and
	// was paused.
	TaskWebhookPaused = "webhook_paused"
)

// Task is one thing support must look at.
type Task struct {
	ID       int64      `json:"id"`
	RMAID    string     `json:"rma_id,omitempty"`
	Kind     string     `json:"kind"`
	Detail   string     `json:"detail"`
	OpenedAt time.Time  `json:"opened_at"`
	ClosedAt *time.Time `json:"closed_at,omitempty"`
}

func openTask(ctx context.Context, tx tx, key, rmaID, kind, detail string) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO tasks (key, rma_id, kind, detail) VALUES ($1, $2, $3, $4) ON CONFLICT (key) DO NOTHING`,
		key, rmaID, kind, detail); err != nil {
		return fmt.Errorf("open task %s: %w", key, err)
	}
	return nil
}

// Tasks lists support's tasks, open ones only unless all.
func (s *Store) Tasks(ctx context.Context, all bool, limit int) ([]Task, error) {
	q := `SELECT id, rma_id, kind, detail, opened_at, closed_at FROM tasks`
	if !all {
		q += ` WHERE closed_at IS NULL`
	}
	rows, err := s.query(ctx, q+` ORDER BY opened_at LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("tasks: %w", err)
	}
	defer rows.Close()
	out := []Task{}
	for rows.Next() {
		var t Task
		var closed sql.NullTime
		if err := rows.Scan(&t.ID, &t.RMAID, &t.Kind, &t.Detail, &t.OpenedAt, &closed); err != nil {
			return nil, fmt.Errorf("scan task: %w", err)
		}
		if closed.Valid {
			t.ClosedAt = &closed.Time
		}
		out = append(out, t)
	}
	return out, rows.Err()
}
