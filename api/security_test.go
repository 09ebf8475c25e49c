package api

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rma-dev/rma/codec"
)

// Every route that needs a role refuses a request without a token, with a
// malformed header, and with a token nobody issued, before doing anything.
func TestEveryEndpointRefusesMissingOrInvalidTokens(t *testing.T) {
	key, _ := codec.NewKey("k")
	kr, _ := codec.ParseKeyring(key)
	s := New(Config{Tokens: map[string]Principal{"a-real-token-0123456789": {Subject: "amy", Roles: []string{RoleSupport}}},
		WebhookSecret: []byte("k"), Codec: kr, Now: time.Now})
	h := s.Handler()
	paths := map[string]string{}
	for _, rt := range s.routes() {
		if rt.roles == nil {
			continue
		}
		paths[rt.method+" "+strings.ReplaceAll(rt.path, "{id}", "RMA-1")] = rt.method
	}
	paths["POST /codec/decode"] = "POST"
	if len(paths) < 20 {
		t.Fatalf("only %d guarded routes", len(paths))
	}
	for route := range paths {
		method, path, _ := strings.Cut(route, " ")
		for name, header := range map[string]string{
			"no header": "", "empty bearer": "Bearer ", "basic auth": "Basic YTpi", "unknown token": "Bearer rma_not-issued-by-anyone",
			"a token's prefix": "Bearer a-real-token", "lower-case scheme": "bearer a-real-token-0123456789",
		} {
			req := httptest.NewRequest(method, path, bytes.NewBufferString(`{}`))
			if header != "" {
				req.Header.Set("Authorization", header)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusUnauthorized {
				t.Errorf("%s with %s: %d %s", route, name, rec.Code, rec.Body)
			}
		}
	}
}

func TestStaticCustomerTokensActForTheirCustomer(t *testing.T) {
	toks, err := ParseTokens("tok-of-li-0123456789=customer:C-1")
	if err != nil {
		t.Fatal(err)
	}
	if p := toks["tok-of-li-0123456789"]; p.CustomerID != "C-1" || !p.scoped() {
		t.Fatalf("%+v", p)
	}
	for _, bad := range []string{"t=customer", "t=customer+support:C-1", "t=support+customer:amy"} {
		if _, err := ParseTokens(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestValidatePrincipal(t *testing.T) {
	cases := []struct {
		roles    []string
		customer string
		ok       bool
	}{
		{[]string{RoleCustomer}, "C-1", true},
		{[]string{RoleSupport, RoleWarehouse}, "", true},
		{[]string{RoleAdmin}, "", true},
		{nil, "", false},
		{[]string{RoleCustomer}, "", false},
		{[]string{RoleCustomer, RoleSupport}, "C-1", false},
		{[]string{RoleSupport}, "C-1", false},
		{[]string{"wizard"}, "", false},
	}
	for _, c := range cases {
		if err := ValidatePrincipal(c.roles, c.customer); (err == nil) != c.ok {
			t.Errorf("%v %q: %v", c.roles, c.customer, err)
		}
	}
}

// Each token has its own bucket: past the burst a token gets 429 with
// Retry-After, and another token is not slowed by it.
func TestRateLimitsPerToken(t *testing.T) {
	s := New(Config{Tokens: map[string]Principal{
		"busy-token-0123456789":  {Subject: "busy", Roles: []string{RoleWarehouse}},
		"quiet-token-0123456789": {Subject: "quiet", Roles: []string{RoleWarehouse}},
	}, RateLimit: 0.5, RateBurst: 3, Now: time.Now})
	h := s.Handler()
	call := func(tok string) *httptest.ResponseRecorder {
		// Approve needs support: a warehouse token is answered 403 after
		// the limit is checked, without a Temporal call.
		req := httptest.NewRequest("POST", "/v1/returns/RMA-1/approve", bytes.NewBufferString(`{}`))
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for i := 0; i < 3; i++ {
		if rec := call("busy-token-0123456789"); rec.Code != http.StatusForbidden {
			t.Fatalf("request %d: %d %s", i, rec.Code, rec.Body)
		}
	}
	rec := call("busy-token-0123456789")
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("past the burst: %d %s", rec.Code, rec.Body)
	}
	if ra, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || ra < 1 || ra > 2 {
		t.Fatalf("Retry-After %q", rec.Header().Get("Retry-After"))
	}
	if !strings.Contains(rec.Body.String(), `"code":"rate_limited"`) {
		t.Fatalf("body %s", rec.Body)
	}
	if rec := call("quiet-token-0123456789"); rec.Code != http.StatusForbidden {
		t.Fatalf("another token was limited: %d", rec.Code)
	}
}

// The codec server decodes for support and admin; only admin may encode (an
// encoded payload could be sent to a workflow past the API).
func TestCodecRoles(t *testing.T) {
	key, _ := codec.NewKey("k")
	kr, _ := codec.ParseKeyring(key)
	s := New(Config{Codec: kr, Namespace: "default", Now: time.Now, Tokens: map[string]Principal{
		"support-token-0123456789": {Subject: "amy", Roles: []string{RoleSupport}},
		"admin-token-01234567890":  {Subject: "root", Roles: []string{RoleAdmin}},
		"wh-token-0123456789abcd":  {Subject: "w1", Roles: []string{RoleWarehouse}},
	}})
	h := s.Handler()
	for _, c := range []struct {
		tok, path, ns string
		want          int
	}{
		{"support-token-0123456789", "/codec/decode", "default", 200},
		{"support-token-0123456789", "/codec/encode", "default", 403},
		{"admin-token-01234567890", "/codec/encode", "default", 200},
		{"wh-token-0123456789abcd", "/codec/decode", "default", 403},
		{"support-token-0123456789", "/codec/decode", "", 403},
		{"support-token-0123456789", "/codec/decode", "other", 403},
	} {
		req := httptest.NewRequest("POST", c.path, bytes.NewBufferString(`{"payloads":[]}`))
		req.Header.Set("Authorization", "Bearer "+c.tok)
		if c.ns != "" {
			req.Header.Set("X-Namespace", c.ns)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != c.want {
			t.Errorf("%s %s ns %q: %d %s", c.tok, c.path, c.ns, rec.Code, rec.Body)
		}
	}
}
