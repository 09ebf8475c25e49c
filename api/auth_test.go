package api

import (
	"bytes"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rma-dev/rma/webhook"
)

func TestParseTokens(t *testing.T) {
	toks, err := ParseTokens("a=support+warehouse:amy, b=backend")
	if err != nil {
		t.Fatal(err)
	}
	if toks["a"].Subject != "amy" || len(toks["a"].Roles) != 2 || toks["b"].Subject != "backend" {
		t.Fatalf("%+v", toks)
	}
	for _, bad := range []string{"a", "a=", "a=wizard", "=support"} {
		if _, err := ParseTokens(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// Requests refused before any Temporal call: no starter is needed.
func TestAuthAndRequestErrors(t *testing.T) {
	s := New(Config{Tokens: map[string]Principal{"wh": {Subject: "w", Roles: []string{RoleWarehouse}}}, WebhookSecret: []byte("k"), Now: time.Now})
	h := s.Handler()
	cases := []struct {
		name, method, path, token, body, sig string
		status                               int
	}{
		{"no token", "GET", "/v1/returns/RMA-1", "", "", "", 401},
		{"unknown token", "GET", "/v1/returns/RMA-1", "nope", "", "", 401},
		{"wrong role", "POST", "/v1/returns/RMA-1/approve", "wh", "{}", "", 403},
		{"health is public", "GET", "/healthz", "", "", "", 200},
		{"openapi is public", "GET", "/v1/openapi.json", "", "", "", 200},
		{"unknown path", "GET", "/v2/things", "wh", "", "", 404},
		{"unsigned webhook", "POST", "/v1/webhooks/carrier", "", `{"event_id":"e"}`, "", 401},
		{"signed bad webhook", "POST", "/v1/webhooks/carrier", "", `{"event_id":"e","type":"teleported"}`, "sign", 422},
		{"signed junk", "POST", "/v1/webhooks/carrier", "", `{"event_id":`, "sign", 400},
	}
	for _, c := range cases {
		req := httptest.NewRequest(c.method, c.path, bytes.NewBufferString(c.body))
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		if c.sig != "" {
			req.Header.Set(webhook.Header, webhook.Sign([]byte("k"), time.Now(), []byte(c.body)))
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != c.status {
			t.Errorf("%s: got %d %s, want %d", c.name, rec.Code, rec.Body, c.status)
		}
		if rec.Code >= 400 && !bytes.Contains(rec.Body.Bytes(), []byte(`"error":{"code"`)) {
			t.Errorf("%s: error body %s", c.name, rec.Body)
		}
	}
}
