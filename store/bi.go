package store

import (
	"context"
	"fmt"
	"regexp"

	"github.com/lib/pq"
)

// BIViews are the read model's stable views for BI tools (docs/analytics.md).
func BIViews() []string {
	return []string{"rma_returns_v1", "rma_lines_v1", "rma_money_v1", "rma_kpi_daily_v1"}
}

var roleName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// EnsureBIRole creates (or updates) a login role that may read the BI views
// and nothing else: no table, no write. Idempotent: run again, it sets the
// password and the grants again. The password is never logged.
func (s *Store) EnsureBIRole(ctx context.Context, role, password string) (created bool, err error) {
	if !roleName.MatchString(role) {
		return false, fmt.Errorf("bi role %q: lowercase letters, digits and _, starting with a letter", role)
	}
	if len(password) < 16 {
		return false, fmt.Errorf("bi role %s: the password needs at least 16 characters", role)
	}
	var exists, privileged bool
	var current string
	if err := s.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1),
  EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = $1 AND (r.rolsuper OR r.rolcreaterole OR r.rolcreatedb
    OR EXISTS (SELECT 1 FROM pg_auth_members m WHERE m.member = r.oid))),
  current_user`, role).Scan(&exists, &privileged, &current); err != nil {
		return false, fmt.Errorf("bi role: %w", err)
	}
	if role == current || privileged {
		// ALTER ROLE would keep what the role may do already: a BI role
		// must be one that reads the views and nothing else.
		return false, fmt.Errorf("bi role %s: an existing role with other rights (or rma's own); choose a new name", role)
	}
	r, p := pq.QuoteIdentifier(role), pq.QuoteLiteral(password)
	stmts := []string{}
	if exists {
		stmts = append(stmts, `ALTER ROLE `+r+` WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD `+p)
	} else {
		stmts = append(stmts, `CREATE ROLE `+r+` WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD `+p)
	}
	var db string
	if err := s.db.QueryRowContext(ctx, `SELECT current_database()`).Scan(&db); err != nil {
		return false, fmt.Errorf("bi role: %w", err)
	}
	stmts = append(stmts, `GRANT CONNECT ON DATABASE `+pq.QuoteIdentifier(db)+` TO `+r, `GRANT USAGE ON SCHEMA public TO `+r)
	for _, v := range BIViews() {
		stmts = append(stmts, `GRANT SELECT ON `+v+` TO `+r)
	}
	for _, q := range stmts {
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			return false, fmt.Errorf("bi role %s: %w", role, err)
		}
	}
	return !exists, nil
}
