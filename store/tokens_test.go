package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rma-dev/rma/domain"
)

func TestTokensAreStoredHashedAndExpireAndRevoke(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	tok, value, err := s.CreateToken(ctx, Token{Subject: "li", Roles: []string{"customer"}, CustomerID: "C-1"}, 24*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(value, TokenPrefix) || len(value) < 40 {
		t.Fatalf("token %q", value)
	}
	// Nothing in the table is the token itself.
	var stored []byte
	var dump string
	if err := s.DB().QueryRow(`SELECT hash, row_to_json(t)::text FROM api_tokens t WHERE id = $1`, tok.ID).Scan(&stored, &dump); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stored, HashToken(value)) || strings.Contains(dump, value) || strings.Contains(dump, strings.TrimPrefix(value, TokenPrefix)) {
		t.Fatalf("stored row %s", dump)
	}
	got, err := s.LookupToken(ctx, value, now.Add(time.Hour))
	if err != nil || got.CustomerID != "C-1" || got.Subject != "li" || len(got.Roles) != 1 || got.ExpiresAt == nil {
		t.Fatalf("lookup: %+v %v", got, err)
	}
	if _, err := s.LookupToken(ctx, value, now.Add(25*time.Hour)); !errors.Is(err, ErrNoToken) {
		t.Fatalf("expired token: %v", err)
	}
	if _, err := s.LookupToken(ctx, value+"x", now); !errors.Is(err, ErrNoToken) {
		t.Fatalf("wrong token: %v", err)
	}
	staff, staffValue, err := s.CreateToken(ctx, Token{Subject: "amy", Roles: []string{"support", "warehouse"}}, 0, now)
	if err != nil || staff.ExpiresAt != nil {
		t.Fatalf("%+v %v", staff, err)
	}
	if list, err := s.Tokens(ctx, false, now); err != nil || len(list) != 2 {
		t.Fatalf("list: %+v %v", list, err)
	}
	if _, err := s.RevokeToken(ctx, staff.ID, now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LookupToken(ctx, staffValue, now); !errors.Is(err, ErrNoToken) {
		t.Fatalf("revoked token: %v", err)
	}
	if again, err := s.RevokeToken(ctx, staff.ID, now.Add(time.Hour)); err != nil || !again.RevokedAt.Equal(now) {
		t.Fatalf("second revoke: %+v %v", again, err)
	}
	if _, err := s.RevokeToken(ctx, "tok_nope", now); !errors.Is(err, ErrNoToken) {
		t.Fatalf("unknown id: %v", err)
	}
	if live, _ := s.Tokens(ctx, false, now); len(live) != 1 {
		t.Fatalf("live tokens: %+v", live)
	}
	if all, _ := s.Tokens(ctx, true, now); len(all) != 2 {
		t.Fatalf("all tokens: %+v", all)
	}
}

// List filters are bound parameters, never spliced: quotes, backslashes
// and SQL keywords in any filter match only a value that holds them.
func TestListFiltersCannotBeInjected(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	nasty := []string{`'`, `"`, `\`, `x' OR 'a'='a`, `a" AND 1=1 --`, `\' AND status = 'completed`, "AND", `%`, `_`}
	for i, v := range nasty {
		r := fixture{id: fmt.Sprintf("RMA-INJ%d", i), status: domain.StatusCompleted, created: t0.Add(time.Duration(i) * time.Minute),
			lines: []domain.LineState{line("L1", "SKU-"+v, "B", domain.ReasonDefective, "")}}.ret()
		r.OrderID, r.Customer.ID = "SO-"+v, "C-"+v
		project(t, s, 1, r)
	}
	for i, v := range nasty {
		for name, f := range map[string]Filter{"order": {OrderID: "SO-" + v}, "customer": {CustomerID: "C-" + v}, "sku": {SKU: "SKU-" + v},
			"status": {Status: v}, "kind": {Kind: v}, "customer and status": {CustomerID: "C-" + v, Status: string(domain.StatusCompleted)}} {
			items, _, err := s.List(ctx, f, 50, "")
			if err != nil {
				t.Fatalf("%s %q: %v", name, v, err)
			}
			want := 1
			if name == "status" || name == "kind" {
				want = 0
			}
			if len(items) != want || (want == 1 && items[0].ID != fmt.Sprintf("RMA-INJ%d", i)) {
				t.Errorf("%s filter %q matched %v", name, v, items)
			}
		}
	}
}
