package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/lib/pq"
)

// Queue names: support's review queue and the warehouse's parcels.
const (
	QueueSupport   = "support"
	QueueWarehouse = "warehouse"
)

// QueueFilter narrows a work queue.
type QueueFilter struct {
	// Queue is QueueSupport (returns waiting on support: review, answers,
	// needs_attention) or QueueWarehouse (parcels to receive or inspect).
	Queue    string
	Team     string
	Assignee string
	Limit    int
}

// QueueItem is one return in a work queue.
type QueueItem struct {
	ID           string     `json:"id"`
	Status       string     `json:"status"`
	OrderID      string     `json:"order_id"`
	CustomerID   string     `json:"customer_id"`
	Tier         string     `json:"tier"`
	Kind         string     `json:"kind"`
	Team         string     `json:"team,omitempty"`
	Assignee     string     `json:"assignee,omitempty"`
	WaitingOn    string     `json:"waiting_on"`
	DeadlineKind string     `json:"deadline_kind,omitempty"`
	Deadline     *time.Time `json:"deadline,omitempty"`
	// SecondsLeft is the time to the deadline when listed; negative once
	// it has passed.
	SecondsLeft *int64    `json:"seconds_left,omitempty"`
	Overdue     bool      `json:"overdue"`
	SLABreaches []string  `json:"sla_breaches"`
	TotalValue  int64     `json:"total_value"`
	Currency    string    `json:"currency"`
	CreatedAt   time.Time `json:"created_at"`
}

// Queue lists a work queue from the read model, soonest deadline first
// (returns without one last, oldest first among them), with the time left
// at now.
func (s *Store) Queue(ctx context.Context, f QueueFilter, now time.Time) ([]QueueItem, error) {
	if f.Queue != QueueSupport && f.Queue != QueueWarehouse {
		return nil, fmt.Errorf("queue %q: want %s or %s: %w", f.Queue, QueueSupport, QueueWarehouse, ErrBadFilter)
	}
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 200
	}
	rows, err := s.query(ctx, `SELECT rma_id, status, order_id, customer_id, tier, kind, coalesce(doc->>'team', ''), coalesce(doc->>'assignee', ''),
  waiting_on, coalesce(deadline_kind, ''), deadline_at, sla_breaches, total_value, currency, created_at
FROM returns
WHERE waiting_on = $1 AND ($2 = '' OR doc->>'team' = $2) AND ($3 = '' OR doc->>'assignee' = $3)
ORDER BY deadline_at ASC NULLS LAST, created_at ASC, rma_id
LIMIT $4`, f.Queue, f.Team, f.Assignee, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("queue %s: %w", f.Queue, err)
	}
	defer rows.Close()
	out := []QueueItem{}
	for rows.Next() {
		var it QueueItem
		var deadline sql.NullTime
		var breaches pq.StringArray
		if err := rows.Scan(&it.ID, &it.Status, &it.OrderID, &it.CustomerID, &it.Tier, &it.Kind, &it.Team, &it.Assignee,
			&it.WaitingOn, &it.DeadlineKind, &deadline, &breaches, &it.TotalValue, &it.Currency, &it.CreatedAt); err != nil {
			return nil, fmt.Errorf("scan queue row: %w", err)
		}
		it.SLABreaches = []string(breaches)
		if it.SLABreaches == nil {
			it.SLABreaches = []string{}
		}
		if deadline.Valid {
			d := deadline.Time.UTC()
			left := int64(d.Sub(now).Seconds())
			it.Deadline, it.SecondsLeft, it.Overdue = &d, &left, left < 0
		}
		out = append(out, it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("queue rows: %w", err)
	}
	return out, nil
}
