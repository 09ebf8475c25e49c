package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/lib/pq"
)

// LateItem is an open return past a deadline: its current one has passed
// (the workflow has not acted on it yet: a worker outage, a lagging
// queue), or an SLA was breached on the way.
type LateItem struct {
	ID           string     `json:"id"`
	Status       string     `json:"status"`
	OrderID      string     `json:"order_id"`
	WaitingOn    string     `json:"waiting_on,omitempty"`
	Assignee     string     `json:"assignee,omitempty"`
	DeadlineKind string     `json:"deadline_kind,omitempty"`
	Deadline     *time.Time `json:"deadline,omitempty"`
	// LateSeconds is how long ago the current deadline passed (0 when only
	// an earlier SLA was breached).
	LateSeconds int64     `json:"late_seconds"`
	SLABreaches []string  `json:"sla_breaches"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// finalStatuses are the statuses a return ends in (domain.Status.Final).
var finalStatuses = pq.StringArray{"ineligible", "declined", "completed", "cancelled", "expired"}

// Late lists open returns past their deadline or with a breached SLA, the
// latest first.
func (s *Store) Late(ctx context.Context, now time.Time, limit int) ([]LateItem, error) {
	if limit <= 0 || limit > 1000 {
		limit = 200
	}
	rows, err := s.query(ctx, `SELECT rma_id, status, order_id, coalesce(waiting_on, ''), coalesce(doc->>'assignee', ''), coalesce(deadline_kind, ''),
  deadline_at, sla_breaches, updated_at
FROM returns
WHERE status <> ALL($1) AND ((deadline_at IS NOT NULL AND deadline_at < $2) OR cardinality(sla_breaches) > 0)
ORDER BY (deadline_at IS NOT NULL AND deadline_at < $2) DESC, deadline_at ASC NULLS LAST, rma_id
LIMIT $3`, finalStatuses, now, limit)
	if err != nil {
		return nil, fmt.Errorf("late returns: %w", err)
	}
	defer rows.Close()
	out := []LateItem{}
	for rows.Next() {
		var it LateItem
		var deadline sql.NullTime
		var breaches pq.StringArray
		if err := rows.Scan(&it.ID, &it.Status, &it.OrderID, &it.WaitingOn, &it.Assignee, &it.DeadlineKind, &deadline, &breaches, &it.UpdatedAt); err != nil {
			return nil, fmt.Errorf("scan late return: %w", err)
		}
		it.SLABreaches = append([]string{}, breaches...)
		if deadline.Valid {
			d := deadline.Time.UTC()
			it.Deadline = &d
			if d.Before(now) {
				it.LateSeconds = int64(now.Sub(d).Seconds())
			}
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

// StuckItem is a return that cannot go on by itself: a step failed after
// its retries (needs_attention), with the last error.
type StuckItem struct {
	ID       string     `json:"id"`
	Status   string     `json:"status"`
	OrderID  string     `json:"order_id"`
	Step     string     `json:"step"`
	Error    string     `json:"error"`
	Since    *time.Time `json:"since,omitempty"`
	Resume   string     `json:"resume,omitempty"`
	Assignee string     `json:"assignee,omitempty"`
	// ClaimError is a carrier claim that could not be filed (the return
	// goes on; support files it by hand).
	ClaimError string `json:"claim_error,omitempty"`
}

// Stuck lists returns in needs_attention, then open returns whose carrier
// claim failed, oldest first within each.
func (s *Store) Stuck(ctx context.Context, limit int) ([]StuckItem, error) {
	if limit <= 0 || limit > 1000 {
		limit = 200
	}
	rows, err := s.query(ctx, `SELECT rma_id, status, order_id, coalesce(doc->'attention'->>'step', ''), coalesce(doc->'attention'->>'error', ''),
  (doc->'attention'->>'since')::timestamptz, coalesce(doc->'attention'->>'resume', ''), coalesce(doc->>'assignee', ''), coalesce(doc->>'claim_error', '')
FROM returns
WHERE status = 'needs_attention' OR (coalesce(doc->>'claim_error', '') <> '' AND status <> ALL($1))
ORDER BY status = 'needs_attention' DESC, updated_at, rma_id
LIMIT $2`, finalStatuses, limit)
	if err != nil {
		return nil, fmt.Errorf("stuck returns: %w", err)
	}
	defer rows.Close()
	out := []StuckItem{}
	for rows.Next() {
		var it StuckItem
		var since sql.NullTime
		if err := rows.Scan(&it.ID, &it.Status, &it.OrderID, &it.Step, &it.Error, &since, &it.Resume, &it.Assignee, &it.ClaimError); err != nil {
			return nil, fmt.Errorf("scan stuck return: %w", err)
		}
		if since.Valid {
			t := since.Time.UTC()
			it.Since = &t
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

// Figures are the read model's business figures at one moment (metrics).
type Figures struct {
	ByStatus map[string]int
	// Breaches counts returns by SLA breached (review_reply, inspection, ...).
	Breaches map[string]int
	// Refunded is the money refunded so far, in minor units by currency.
	Refunded map[string]int64
	// OpenTasks are support's open tasks (needs_attention, undeliverable
	// notices).
	OpenTasks int
}

// Figures reads the business figures: four aggregate queries.
func (s *Store) Figures(ctx context.Context) (Figures, error) {
	f := Figures{ByStatus: map[string]int{}, Breaches: map[string]int{}, Refunded: map[string]int64{}}
	counts := func(q string, into map[string]int) error {
		rows, err := s.query(ctx, q)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var k string
			var n int
			if err := rows.Scan(&k, &n); err != nil {
				return err
			}
			into[k] = n
		}
		return rows.Err()
	}
	if err := counts(`SELECT status, count(*) FROM returns GROUP BY status`, f.ByStatus); err != nil {
		return f, fmt.Errorf("returns by status: %w", err)
	}
	if err := counts(`SELECT b, count(*) FROM returns, unnest(sla_breaches) AS b GROUP BY b`, f.Breaches); err != nil {
		return f, fmt.Errorf("sla breaches: %w", err)
	}
	rows, err := s.query(ctx, `SELECT currency, coalesce(sum(amount), 0) FROM money_movements WHERE kind = 'refund' GROUP BY currency`)
	if err != nil {
		return f, fmt.Errorf("refunded: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var cur string
		var v int64
		if err := rows.Scan(&cur, &v); err != nil {
			return f, fmt.Errorf("scan refunded: %w", err)
		}
		f.Refunded[cur] = v
	}
	if err := rows.Err(); err != nil {
		return f, fmt.Errorf("refunded rows: %w", err)
	}
	if err := s.queryRow(ctx, `SELECT count(*) FROM tasks WHERE closed_at IS NULL`).Scan(&f.OpenTasks); err != nil {
		return f, fmt.Errorf("open tasks: %w", err)
	}
	return f, nil
}
