package webhook

import (
	"testing"
	"time"
)

// FuzzVerify: any header and body are either verified or refused with an
// error, never a panic; what Sign produced verifies, and a changed body or
// secret does not.
func FuzzVerify(f *testing.F) {
	now := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	secret := []byte("fuzz-secret")
	f.Add(Sign(secret, now, []byte(`{"a":1}`)), []byte(`{"a":1}`), int64(0))
	f.Add("t=1,v1=00", []byte(""), int64(10))
	f.Add("t=,v1=", []byte("x"), int64(-400))
	f.Add("v1=abc,t=9999999999999999999", []byte("x"), int64(0))
	f.Add("t=1763798400,v1=zz,v1=", []byte("{}"), int64(301))
	f.Add(",,,=,", []byte(nil), int64(0))
	f.Fuzz(func(t *testing.T, header string, body []byte, skew int64) {
		_ = Verify(secret, header, body, now)
		at := now.Add(time.Duration(skew%600) * time.Second)
		signed := Sign(secret, at, body)
		err := Verify(secret, signed, body, now)
		fresh := now.Sub(at) <= MaxAge && at.Sub(now) <= MaxAge
		if fresh && err != nil {
			t.Fatalf("a fresh signature of its body is refused: %v", err)
		}
		if !fresh && err == nil {
			t.Fatalf("a signature %s old is accepted", now.Sub(at))
		}
		if Verify(secret, signed, append(append([]byte{}, body...), 'x'), now) == nil {
			t.Fatal("a changed body verifies")
		}
		if Verify([]byte("other"), signed, body, now) == nil {
			t.Fatal("another secret verifies")
		}
	})
}
