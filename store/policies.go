package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rma-dev/rma/domain"
)

// ErrNoPolicy means no policy version has been stored yet.
var ErrNoPolicy = errors.New("no policy version stored yet")

// PolicyVersion is one stored policy.
type PolicyVersion struct {
	Version   int       `json:"version"`
	Source    string    `json:"source"`
	Effective string    `json:"effective"`
	Author    string    `json:"author"`
	Note      string    `json:"note,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Policy parses the version's effective policy.
func (v PolicyVersion) Policy() (domain.Policy, error) {
	p, err := domain.LoadPolicy([]byte(v.Effective))
	if err != nil {
		return domain.Policy{}, fmt.Errorf("policy version %d: %w", v.Version, err)
	}
	return p, nil
}

// ApplyPolicy stores source as the next version, unless its effective
// policy is the current one's (then it answers the current version and
// false). Callers validate first (domain.LoadPolicy); effective is what
// it resolved to. Versions are numbered without gaps under a table lock,
// so two concurrent applies never take the same number.
func (s *Store) ApplyPolicy(ctx context.Context, source, effective, author, note string, now time.Time) (PolicyVersion, bool, error) {
	t, err := s.begin(ctx)
	if err != nil {
		return PolicyVersion{}, false, fmt.Errorf("apply policy: %w", err)
	}
	defer func() { _ = t.Rollback() }()
	if _, err := t.ExecContext(ctx, `LOCK TABLE policy_versions IN SHARE ROW EXCLUSIVE MODE`); err != nil {
		return PolicyVersion{}, false, fmt.Errorf("apply policy: %w", err)
	}
	cur, err := scanPolicy(t.QueryRowContext(ctx, policySelect+` ORDER BY version DESC LIMIT 1`))
	switch {
	case errors.Is(err, ErrNoPolicy):
	case err != nil:
		return PolicyVersion{}, false, fmt.Errorf("apply policy: %w", err)
	case cur.Effective == effective:
		return cur, false, nil
	}
	v := PolicyVersion{Version: cur.Version + 1, Source: source, Effective: effective, Author: author, Note: note, CreatedAt: now.UTC().Truncate(time.Microsecond)}
	if _, err := t.ExecContext(ctx, `INSERT INTO policy_versions (version, source, effective, author, note, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		v.Version, v.Source, v.Effective, v.Author, v.Note, v.CreatedAt); err != nil {
		return PolicyVersion{}, false, fmt.Errorf("apply policy: %w", err)
	}
	if err := t.Commit(); err != nil {
		return PolicyVersion{}, false, fmt.Errorf("apply policy: %w", err)
	}
	return v, true, nil
}

const policySelect = `SELECT version, source, effective, author, note, created_at FROM policy_versions`

func scanPolicy(row *sql.Row) (PolicyVersion, error) {
	var v PolicyVersion
	err := row.Scan(&v.Version, &v.Source, &v.Effective, &v.Author, &v.Note, &v.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return PolicyVersion{}, ErrNoPolicy
	}
	return v, err
}

// CurrentPolicy is the newest version.
func (s *Store) CurrentPolicy(ctx context.Context) (PolicyVersion, error) {
	v, err := scanPolicy(s.queryRow(ctx, policySelect+` ORDER BY version DESC LIMIT 1`))
	if err != nil && !errors.Is(err, ErrNoPolicy) {
		return v, fmt.Errorf("current policy: %w", err)
	}
	return v, err
}

// PolicyAt is one version.
func (s *Store) PolicyAt(ctx context.Context, version int) (PolicyVersion, error) {
	v, err := scanPolicy(s.queryRow(ctx, policySelect+` WHERE version = $1`, version))
	if errors.Is(err, ErrNoPolicy) {
		return v, fmt.Errorf("policy version %d: %w", version, err)
	}
	if err != nil {
		return v, fmt.Errorf("policy version %d: %w", version, err)
	}
	return v, nil
}

// PolicyHistory lists every version, newest first.
func (s *Store) PolicyHistory(ctx context.Context) ([]PolicyVersion, error) {
	rows, err := s.query(ctx, policySelect+` ORDER BY version DESC`)
	if err != nil {
		return nil, fmt.Errorf("policy history: %w", err)
	}
	defer rows.Close()
	var out []PolicyVersion
	for rows.Next() {
		var v PolicyVersion
		if err := rows.Scan(&v.Version, &v.Source, &v.Effective, &v.Author, &v.Note, &v.CreatedAt); err != nil {
			return nil, fmt.Errorf("policy history: %w", err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Policies serves the current policy to the processes that need it (the
// API snapshots it into every new return; the worker schedules the anomaly
// check with it): one small query per call, and the YAML parsed once per
// version.
type Policies struct {
	s      *Store
	mu     sync.Mutex
	cached PolicyVersion
	policy domain.Policy
}

// Policies is the store's current-policy source.
func (s *Store) Policies() *Policies { return &Policies{s: s} }

// Current is the newest version and its policy.
func (p *Policies) Current(ctx context.Context) (domain.Policy, int, error) {
	var n int
	if err := p.s.queryRow(ctx, `SELECT coalesce(max(version), 0) FROM policy_versions`).Scan(&n); err != nil {
		return domain.Policy{}, 0, fmt.Errorf("current policy: %w", err)
	}
	if n == 0 {
		return domain.Policy{}, 0, ErrNoPolicy
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cached.Version == n {
		return p.policy, n, nil
	}
	v, err := p.s.PolicyAt(ctx, n)
	if err != nil {
		return domain.Policy{}, 0, err
	}
	pol, err := v.Policy()
	if err != nil {
		return domain.Policy{}, 0, err
	}
	p.cached, p.policy = v, pol
	return pol, n, nil
}

// WhatIfCases are the returns opened since a time, as what-if replays
// them (domain.WhatIf): their requests rebuilt from the views, without the
// timeline and the rest that replay does not read.
func (s *Store) WhatIfCases(ctx context.Context, since time.Time) ([]domain.WhatIfCase, error) {
	rows, err := s.query(ctx, `SELECT doc - 'timeline' - 'notes' - 'payments' - 'stages' FROM returns WHERE created_at >= $1 ORDER BY created_at`, since)
	if err != nil {
		return nil, fmt.Errorf("what-if cases: %w", err)
	}
	defer rows.Close()
	var out []domain.WhatIfCase
	for rows.Next() {
		var doc []byte
		if err := rows.Scan(&doc); err != nil {
			return nil, fmt.Errorf("what-if cases: %w", err)
		}
		var r domain.Return
		if err := json.Unmarshal(doc, &r); err != nil {
			return nil, fmt.Errorf("what-if cases: %w", err)
		}
		out = append(out, domain.WhatIfCaseOf(r))
	}
	return out, rows.Err()
}

// EnsurePolicy makes sure a policy version is stored: an empty table gets
// p (from source) as version 1; with replace, a p that differs from the
// current version is stored as the next one (rma dev --policy). It answers
// the current version afterwards and whether p is it.
func (s *Store) EnsurePolicy(ctx context.Context, source string, p domain.Policy, note string, replace bool, now time.Time) (PolicyVersion, bool, error) {
	eff, err := p.YAML()
	if err != nil {
		return PolicyVersion{}, false, err
	}
	cur, err := s.CurrentPolicy(ctx)
	switch {
	case errors.Is(err, ErrNoPolicy) || (err == nil && replace && cur.Effective != string(eff)):
		v, _, err := s.ApplyPolicy(ctx, source, string(eff), "bootstrap", note, now)
		return v, err == nil, err
	case err != nil:
		return PolicyVersion{}, false, err
	}
	return cur, cur.Effective == string(eff), nil
}

// AwaitingRestock lists the open returns waiting for a backordered SKU
// (their view's awaiting_restock), for the inventory webhook.
func (s *Store) AwaitingRestock(ctx context.Context, sku string) ([]string, error) {
	rows, err := s.query(ctx, `SELECT rma_id FROM returns WHERE doc ? 'awaiting_restock' AND doc->'awaiting_restock' ? $1 ORDER BY created_at LIMIT 1000`, sku)
	if err != nil {
		return nil, fmt.Errorf("returns awaiting %s: %w", sku, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("returns awaiting %s: %w", sku, err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}
