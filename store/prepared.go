package store

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"time"

	"github.com/lib/pq"
)

// Statements are prepared once per store and reused: the hot paths (a
// publication, a carrier event, the relay's queue) run the same dozen
// statements thousands of times, and preparing spares PostgreSQL parsing
// and planning each one every time.

// prepared caches statements by their text. Preparing takes a connection
// from the pool, so it never happens under the lock, and never for a
// transaction, which already holds a connection: with every connection held
// by a transaction waiting for a second one, the pool would deadlock (it did,
// with a burst of creates on a fresh process).
type prepared struct {
	mu      sync.Mutex
	stmts   map[string]*sql.Stmt // nil value: PostgreSQL will not prepare it (NOTIFY)
	pending map[string]bool      // being prepared for a transaction
	closed  bool
}

// get returns q's statement, preparing it first if need be. Only a caller
// that holds no connection may call it.
func (p *prepared) get(ctx context.Context, db *sql.DB, q string) *sql.Stmt {
	p.mu.Lock()
	st, ok := p.stmts[q]
	p.mu.Unlock()
	if ok {
		return st
	}
	st, err := db.PrepareContext(ctx, q)
	return p.keep(q, st, err)
}

// forTx returns q's statement for a transaction, or nil (run it unprepared)
// while a goroutine of its own prepares it for the next time.
func (p *prepared) forTx(db *sql.DB, q string) *sql.Stmt {
	p.mu.Lock()
	defer p.mu.Unlock()
	if st, ok := p.stmts[q]; ok || p.closed || p.pending[q] {
		return st
	}
	if p.pending == nil {
		p.pending = map[string]bool{}
	}
	p.pending[q] = true
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		st, err := db.PrepareContext(ctx, q)
		p.keep(q, st, err)
	}()
	return nil
}

// keep caches a prepared statement. A statement PostgreSQL refuses is
// cached as nil (it runs unprepared from then on); any other failure (a
// cancelled context, a restarting database) is tried again next time.
func (p *prepared) keep(q string, st *sql.Stmt, err error) *sql.Stmt {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.pending, q)
	if old, ok := p.stmts[q]; ok || p.closed {
		if st != nil {
			_ = st.Close()
		}
		return old
	}
	if err != nil {
		var pe *pq.Error
		if !errors.As(err, &pe) {
			return nil
		}
		st = nil
	}
	if p.stmts == nil {
		p.stmts = map[string]*sql.Stmt{}
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
	p.stmts, p.closed = nil, true
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
	if st := t.s.prep.forTx(t.s.db, q); st != nil {
		return t.Tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, q, args...)
}

// QueryContext runs a prepared query in the transaction.
func (t tx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := t.s.prep.forTx(t.s.db, q); st != nil {
		return t.Tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return t.Tx.QueryContext(ctx, q, args...)
}

// QueryRowContext runs a prepared one-row query in the transaction.
func (t tx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if st := t.s.prep.forTx(t.s.db, q); st != nil {
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
