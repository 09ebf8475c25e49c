package webhook

import (
	"bytes"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestCredentialsAuthenticateRequests(t *testing.T) {
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	body := []byte(`{"key":"RMA-1/L1/refund","amount":100}`)
	for _, spec := range []string{"bearer:3f2a9c01b7de44aa9911", "hmac:9c01b7de44aa99113f2a"} {
		c, err := ParseCredential("RMA_PAYMENTS_AUTH", spec)
		if err != nil {
			t.Fatal(err)
		}
		other, _ := ParseCredential("x", strings.Replace(spec, "9", "8", 1))
		req := httptest.NewRequest("POST", "/v1/payments", bytes.NewReader(body))
		c.Apply(req, body, now)
		if err := c.Check(req, body, now); err != nil {
			t.Errorf("%s: own request refused: %v", c.Scheme(), err)
		}
		if err := other.Check(req, body, now); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("%s: another credential accepted: %v", c.Scheme(), err)
		}
		bare := httptest.NewRequest("POST", "/v1/payments", bytes.NewReader(body))
		if err := c.Check(bare, body, now); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("%s: a request without credentials accepted", c.Scheme())
		}
		if c.Scheme() == "hmac" {
			moved := httptest.NewRequest("POST", "/v1/messages", bytes.NewReader(body))
			moved.Header = req.Header.Clone()
			if c.Check(moved, body, now) == nil {
				t.Error("an HMAC signature replayed on another endpoint verifies")
			}
			if c.Check(req, append(body, ' '), now) == nil {
				t.Error("an HMAC signature verifies another body")
			}
			if c.Check(req, body, now.Add(MaxAge+time.Second)) == nil {
				t.Error("a stale signature verifies")
			}
		}
	}
	var none Credential
	if none.Set() || none.Check(httptest.NewRequest("GET", "/", nil), nil, now) != nil {
		t.Error("the zero credential checks something")
	}
}

func TestPlaceholderSecretsAreRefused(t *testing.T) {
	for _, bad := range []string{"", "change-me", "CHANGE-ME-PLEASE-123456", "secret", "short", "your-secret-here-0000000", "example-token-0123456789"} {
		if err := CheckSecret("RMA_WEBHOOK_SECRET", bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	for _, spec := range []string{"bearer:change-me", "basic:abc", "hmac", "hmac:short"} {
		if _, err := ParseCredential("RMA_CARRIER_AUTH", spec); err == nil {
			t.Errorf("%q accepted", spec)
		}
	}
	if err := CheckSecret("RMA_WEBHOOK_SECRET", "7c1e0f4a9b2d48e6a3f5c7d9e1b3a5c7"); err != nil {
		t.Errorf("a random secret refused: %v", err)
	}
}
