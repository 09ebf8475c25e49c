package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lib/pq"
)

// TokenPrefix starts every token rma issues, so a leaked one is easy to
// recognise (and to scan for).
const TokenPrefix = "rma_"

// ErrNoToken means no live token has that value or ID.
var ErrNoToken = errors.New("no such token")

// Token is an API token as stored: never its value, only its hash.
type Token struct {
	ID         string     `json:"id"`
	Subject    string     `json:"subject"`
	Roles      []string   `json:"roles"`
	CustomerID string     `json:"customer_id,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// TokenShape reports whether a value has the form CreateToken gives tokens
// (the prefix and 43 base64url characters), so anything else is refused
// without a lookup.
func TokenShape(v string) bool {
	rest, ok := strings.CutPrefix(v, TokenPrefix)
	if !ok || len(rest) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(rest)
	return err == nil
}

// HashToken is how a token is stored and looked up.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// CreateToken stores a new token and returns it with its value, which
// exists only in this answer. ttl 0 never expires.
func (s *Store) CreateToken(ctx context.Context, t Token, ttl time.Duration, now time.Time) (Token, string, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return Token{}, "", fmt.Errorf("create token: %w", err)
	}
	value := TokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
	idb := make([]byte, 6)
	if _, err := rand.Read(idb); err != nil {
		return Token{}, "", fmt.Errorf("create token: %w", err)
	}
	t.ID = "tok_" + hex.EncodeToString(idb)
	t.CreatedAt = now.UTC().Truncate(time.Microsecond)
	t.ExpiresAt, t.RevokedAt = nil, nil
	if ttl > 0 {
		exp := t.CreatedAt.Add(ttl)
		t.ExpiresAt = &exp
	}
	var customer any
	if t.CustomerID != "" {
		customer = t.CustomerID
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO api_tokens (id, hash, subject, roles, customer_id, created_at, expires_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7)`, t.ID, HashToken(value), t.Subject, pq.Array(t.Roles), customer, t.CreatedAt, t.ExpiresAt); err != nil {
		return Token{}, "", fmt.Errorf("create token: %w", err)
	}
	return t, value, nil
}

// LookupToken finds the live token (not revoked, not expired at now) with
// this value.
func (s *Store) LookupToken(ctx context.Context, value string, now time.Time) (Token, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens
  WHERE hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)`, HashToken(value), now)
	t, err := scanToken(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Token{}, ErrNoToken
	}
	return t, err
}

// Tokens lists every token, newest first; revoked and expired ones too when
// all is set.
func (s *Store) Tokens(ctx context.Context, all bool, now time.Time) ([]Token, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens
  WHERE $1 OR (revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)) ORDER BY created_at DESC, id`, all, now)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken revokes a token by ID; revoking it again changes nothing.
func (s *Store) RevokeToken(ctx context.Context, id string, now time.Time) (Token, error) {
	row := s.db.QueryRowContext(ctx, `UPDATE api_tokens SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1 RETURNING `+tokenColumns, id, now)
	t, err := scanToken(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Token{}, ErrNoToken
	}
	return t, err
}

const tokenColumns = `id, subject, roles, coalesce(customer_id, ''), created_at, expires_at, revoked_at`

func scanToken(row interface{ Scan(...any) error }) (Token, error) {
	var t Token
	var exp, rev sql.NullTime
	if err := row.Scan(&t.ID, &t.Subject, pq.Array(&t.Roles), &t.CustomerID, &t.CreatedAt, &exp, &rev); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return Token{}, err
		}
		return Token{}, fmt.Errorf("read token: %w", err)
	}
	if exp.Valid {
		e := exp.Time.UTC()
		t.ExpiresAt = &e
	}
	if rev.Valid {
		r := rev.Time.UTC()
		t.RevokedAt = &r
	}
	t.CreatedAt = t.CreatedAt.UTC()
	return t, nil
}
