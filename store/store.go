// Package store is rma's PostgreSQL side (github.com/lib/pq): the read model
// a return's workflow publishes once per wait, the append-only audit trail,
// the notice outbox and its relay's queue, idempotency keys, parcel routes
// and the carrier events they route, support's tasks, reads that outlive
// Temporal's retention, and the analytics of the design brief, computed in
// SQL. Migrations are embedded and run with goose.
package store

import (
	"context"
	"database/sql"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/lib/pq"
	"github.com/pressly/goose/v3"

	"github.com/rma-dev/rma/domain"
)

//go:embed migrations/*.sql
var migrations embed.FS

// ErrNotFound means the read model has no such return.
var ErrNotFound = errors.New("return not found in the read model")

// Store is the read model.
type Store struct {
	db   *sql.DB
	url  string // for the relay's LISTEN connection
	prep prepared
	// publishQ and amendQ are statements built once from the column list.
	publishQ, amendQ string
}

// Open connects and checks the connection.
func Open(ctx context.Context, url string) (*Store, error) {
	db, err := sql.Open("postgres", url)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	// Keep every connection open: database/sql keeps two idle by default,
	// and under load the rest were closed and reopened all the time, each
	// a new PostgreSQL backend (a fork, authentication, cold caches and
	// re-prepared statements). That churn was most of the read model's CPU.
	db.SetMaxOpenConns(10)
	db.SetMaxIdleConns(10)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	return &Store{db: db, url: url, publishQ: publishSQL(), amendQ: amendSQL()}, nil
}

// Close closes the pool.
func (s *Store) Close() error {
	s.prep.close()
	return s.db.Close()
}

// DB exposes the pool for tests and reports.
func (s *Store) DB() *sql.DB { return s.db }

// Migrate applies every pending migration and reports the versions applied.
func (s *Store) Migrate(ctx context.Context) ([]int64, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, s.db, sub)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	res, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	var applied []int64
	for _, r := range res {
		applied = append(applied, r.Source.Version)
	}
	return applied, nil
}

func ts(m map[string]time.Time, k string) any {
	if t, ok := m[k]; ok {
		return t
	}
	return nil
}

// writeAudit appends timeline entries from entry number from on.
func writeAudit(ctx context.Context, tx tx, rmaID string, from int, entries []domain.TimelineEntry) error {
	for i, e := range entries {
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit (rma_id, entry_no, at, actor, command, detail) VALUES ($1,$2,$3,$4,$5,$6)
  ON CONFLICT (rma_id, entry_no) DO NOTHING`, rmaID, from+i, e.At, e.Actor, e.Type, e.Detail); err != nil {
			return fmt.Errorf("insert audit entry: %w", err)
		}
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// CustomerHistory counts the customer's other returns since a time, for the
// abuse limits; ineligible and cancelled returns do not count.
func (s *Store) CustomerHistory(ctx context.Context, customerID, excludeRMA string, since time.Time) (domain.CustomerHistory, error) {
	var h domain.CustomerHistory
	err := s.queryRow(ctx, `SELECT count(*), coalesce(sum(total_value), 0) FROM returns
  WHERE customer_id = $1 AND rma_id <> $2 AND created_at >= $3 AND status NOT IN ('ineligible', 'cancelled')`,
		customerID, excludeRMA, since).Scan(&h.Returns, &h.Value)
	if err != nil {
		return h, fmt.Errorf("customer history: %w", err)
	}
	return h, nil
}

// Get reads a return's last projected state.
func (s *Store) Get(ctx context.Context, id string) (domain.Return, error) {
	var doc []byte
	err := s.queryRow(ctx, `SELECT doc FROM returns WHERE rma_id = $1`, id).Scan(&doc)
	return viewFrom(id, doc, err)
}

// CustomerOf is the customer a return belongs to: the API checks it before
// a customer token reads or commands the return.
func (s *Store) CustomerOf(ctx context.Context, id string) (string, error) {
	var c string
	err := s.queryRow(ctx, `SELECT customer_id FROM returns WHERE rma_id = $1`, id).Scan(&c)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("read customer of %s: %w", id, err)
	}
	return c, nil
}

// viewFrom decodes a stored view that a read returned with err.
func viewFrom(id string, doc []byte, err error) (domain.Return, error) {
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Return{}, ErrNotFound
	}
	if err != nil {
		return domain.Return{}, fmt.Errorf("read return %s: %w", id, err)
	}
	var r domain.Return
	if err := json.Unmarshal(doc, &r); err != nil {
		return r, fmt.Errorf("decode return %s: %w", id, err)
	}
	return r, nil
}

// Filter selects returns; empty fields match anything.
type Filter struct {
	Status, OrderID, CustomerID, SKU, Kind string
}

// Summary is a listed return.
type Summary struct {
	ID         string     `json:"id"`
	Status     string     `json:"status"`
	OrderID    string     `json:"order_id"`
	CustomerID string     `json:"customer_id"`
	Kind       string     `json:"kind"`
	SKUs       []string   `json:"skus"`
	Deadline   *time.Time `json:"deadline"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	Refund     int64      `json:"refund_total"`
}

type cursor struct {
	At time.Time `json:"at"`
	ID string    `json:"id"`
}

// List pages through returns newest first. The page token is an opaque
// keyset cursor, so pages stay stable while returns are added.
func (s *Store) List(ctx context.Context, f Filter, size int, token string) ([]Summary, string, error) {
	if size <= 0 || size > 200 {
		size = 50
	}
	where := []string{"true"}
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if f.Status != "" {
		add("r.status = $%d", f.Status)
	}
	if f.OrderID != "" {
		add("r.order_id = $%d", f.OrderID)
	}
	if f.CustomerID != "" {
		add("r.customer_id = $%d", f.CustomerID)
	}
	if f.Kind != "" {
		add("r.kind = $%d", f.Kind)
	}
	if f.SKU != "" {
		add("EXISTS (SELECT 1 FROM return_lines l WHERE l.rma_id = r.rma_id AND l.sku = $%d)", f.SKU)
	}
	if token != "" {
		raw, err := base64.RawURLEncoding.DecodeString(token)
		var c cursor
		if err != nil || json.Unmarshal(raw, &c) != nil {
			return nil, "", fmt.Errorf("bad page token: %w", ErrBadToken)
		}
		args = append(args, c.At, c.ID)
		where = append(where, fmt.Sprintf("(r.created_at, r.rma_id) < ($%d, $%d)", len(args)-1, len(args)))
	}
	args = append(args, size+1)
	rows, err := s.query(ctx, `SELECT r.rma_id, r.status, r.order_id, r.customer_id, r.kind, r.deadline_at, r.created_at, r.updated_at, r.refund_total,
  ARRAY(SELECT DISTINCT l.sku FROM return_lines l WHERE l.rma_id = r.rma_id ORDER BY 1)
  FROM returns r WHERE `+strings.Join(where, " AND ")+fmt.Sprintf(` ORDER BY r.created_at DESC, r.rma_id DESC LIMIT $%d`, len(args)), args...)
	if err != nil {
		return nil, "", fmt.Errorf("list returns: %w", err)
	}
	defer rows.Close()
	var out []Summary
	for rows.Next() {
		var sm Summary
		var dl sql.NullTime
		if err := rows.Scan(&sm.ID, &sm.Status, &sm.OrderID, &sm.CustomerID, &sm.Kind, &dl, &sm.CreatedAt, &sm.UpdatedAt, &sm.Refund, pq.Array(&sm.SKUs)); err != nil {
			return nil, "", fmt.Errorf("scan return: %w", err)
		}
		if dl.Valid {
			sm.Deadline = &dl.Time
		}
		out = append(out, sm)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list returns: %w", err)
	}
	next := ""
	if len(out) > size {
		last := out[size-1]
		b, _ := json.Marshal(cursor{At: last.CreatedAt, ID: last.ID})
		next = base64.RawURLEncoding.EncodeToString(b)
		out = out[:size]
	}
	return out, next, nil
}

// ErrBadToken is a page token this store did not issue.
var ErrBadToken = errors.New("invalid page token")

// ErrBadFilter is a list filter the read model cannot apply.
var ErrBadFilter = errors.New("invalid filter")
