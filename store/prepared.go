package store

import (
	"context"
	"database/sql"
	"sync"
)

// Statements are prepared once per store and reused: the hot paths (a
// publication, a carrier event, the relay's queue) run the same dozen
// statements thousands of times, and preparing spares PostgreSQL parsing
// and planning each one every time.

// prepared caches statements by their text.
type prepared struct {
	mu    sync.Mutex
	stmts map[string]*sql.Stmt // nil value: the statement cannot be prepared (NOTIFY)
}

func (p *prepared) get(ctx context.Context, db *sql.DB, q string) *sql.Stmt {
	p.mu.Lock()
	defer p.mu.Unlock()
	if st, ok := p.stmts[q]; ok {
		return st
	}
	if p.stmts == nil {
		p.stmts = map[string]*sql.Stmt{}
	}
	st, err := db.PrepareContext(ctx, q)
	if err != nil {
		st = nil // run it unprepared from now on
	}
	p.stmts[q] = st
	return st
}

func (p *prepared) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, st := range p.stmts {
		if st != nil {
			_ = st.Close()
		}
	}
	p.stmts = nil
}

// tx is a transaction that runs statements through the store's cache.
type tx struct {
	*sql.Tx
	s *Store
}

func (s *Store) begin(ctx context.Context) (tx, error) {
	t, err := s.db.BeginTx(ctx, nil)
	return tx{Tx: t, s: s}, err
}

// ExecContext runs a prepared statement in the transaction.
func (t tx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := t.s.prep.get(ctx, t.s.db, q); st != nil {
		return t.Tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, q, args...)
}

// QueryContext runs a prepared query in the transaction.
func (t tx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := t.s.prep.get(ctx, t.s.db, q); st != nil {
		return t.Tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return t.Tx.QueryContext(ctx, q, args...)
}

// QueryRowContext runs a prepared one-row query in the transaction.
func (t tx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if st := t.s.prep.get(ctx, t.s.db, q); st != nil {
		return t.Tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, q, args...)
}

// exec runs a prepared statement outside a transaction.
func (s *Store) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := s.prep.get(ctx, s.db, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return s.db.ExecContext(ctx, q, args...)
}

// query runs a prepared query outside a transaction.
func (s *Store) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := s.prep.get(ctx, s.db, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return s.db.QueryContext(ctx, q, args...)
}

// queryRow runs a prepared one-row query outside a transaction.
func (s *Store) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	if st := s.prep.get(ctx, s.db, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return s.db.QueryRowContext(ctx, q, args...)
}
