package webhook

import (
	"errors"
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
