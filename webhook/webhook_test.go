package webhook

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSignVerify(t *testing.T) {
	secret, body, now := []byte("s3cret"), []byte(`{"event_id":"e1"}`), time.Unix(1_800_000_000, 0)
	h := Sign(secret, now, body)
	if err := Verify(secret, h, body, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		secret []byte
		header string
		body   []byte
		now    time.Time
		want   error
	}{
		"other secret":   {[]byte("x"), h, body, now, ErrMismatch},
		"tampered body":  {secret, h, []byte(`{"event_id":"e2"}`), now, ErrMismatch},
		"too old":        {secret, h, body, now.Add(6 * time.Minute), ErrStale},
		"from future":    {secret, h, body, now.Add(-6 * time.Minute), ErrStale},
		"garbage":        {secret, "nonsense", body, now, ErrMalformed},
		"missing digest": {secret, "t=1800000000", body, now, ErrMalformed},
	}
	for name, c := range cases {
		if err := Verify(c.secret, c.header, c.body, c.now); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", name, err, c.want)
		}
	}
}

// A header signed with two secrets (the day after a rotation) verifies with
// either, and with no other.
func TestSignAllVerifiesWithEitherSecret(t *testing.T) {
	now := time.Now()
	body := []byte(`{"id":"evt_1"}`)
	h := SignAll([][]byte{[]byte("new-secret"), []byte("old-secret")}, now, body)
	if strings.Count(h, "v1=") != 2 {
		t.Fatalf("header %q", h)
	}
	for _, s := range []string{"new-secret", "old-secret"} {
		if err := Verify([]byte(s), h, body, now); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	if err := Verify([]byte("another"), h, body, now); err != ErrMismatch {
		t.Fatalf("another secret: %v", err)
	}
}
