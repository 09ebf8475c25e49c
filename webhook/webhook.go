// Package webhook signs and verifies carrier webhooks: the header
// X-RMA-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">.
// The timestamp bounds replays to MaxAge; event IDs stop the rest.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Header is the signature header.
const Header = "X-RMA-Signature"

// MaxAge is how old a signed request may be.
const MaxAge = 5 * time.Minute

// Sign returns the header value for body at time t.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + mac(secret, ts, body)
}

// SignAll signs body with every secret: one v1 per secret, so a receiver
// that knows either verifies it (the day after a secret is rotated).
func SignAll(secrets [][]byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	out := "t=" + ts
	for _, s := range secrets {
		out += ",v1=" + mac(s, ts, body)
	}
	return out
}

func mac(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts + "."))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Errors of Verify.
var (
	ErrMalformed = errors.New("malformed signature header")
	ErrStale     = errors.New("signature too old or in the future")
	ErrMismatch  = errors.New("signature does not match")
)

// Verify checks header against body at now.
func Verify(secret []byte, header string, body []byte, now time.Time) error {
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return ErrMalformed
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrMalformed
	}
	age := now.Sub(time.Unix(sec, 0))
	if age > MaxAge || age < -MaxAge {
		return fmt.Errorf("%w: %s", ErrStale, age.Round(time.Second))
	}
	want := []byte(mac(secret, ts, body))
	for _, sig := range sigs {
		// Any one of the signatures (several during a secret rotation).
		if hmac.Equal([]byte(sig), want) {
			return nil
		}
	}
	return ErrMismatch
}
