package webhook

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Credential is how rma authenticates to a partner service (and how a
// partner, or its simulator, checks the caller): a bearer token, or an HMAC
// signature of each request in this package's scheme over
// "<METHOD> <request URI>\n<Idempotency-Key>\n<body>", so a signature
// cannot be replayed on another endpoint, key or body. The zero Credential sends and
// checks nothing.
type Credential struct {
	kind   string // "", "bearer" or "hmac"
	secret []byte
}

// ParseCredential reads "bearer:TOKEN" or "hmac:SECRET"; "" is none. The
// secret must not be a placeholder (see CheckSecret).
func ParseCredential(name, spec string) (Credential, error) {
	if spec == "" {
		return Credential{}, nil
	}
	kind, secret, ok := strings.Cut(spec, ":")
	if !ok || (kind != "bearer" && kind != "hmac") {
		return Credential{}, fmt.Errorf("%s: want bearer:TOKEN or hmac:SECRET", name)
	}
	if err := CheckSecret(name, secret); err != nil {
		return Credential{}, err
	}
	return Credential{kind: kind, secret: []byte(secret)}, nil
}

// Set reports whether a credential is configured.
func (c Credential) Set() bool { return c.kind != "" }

// Scheme is "bearer", "hmac" or "" (none).
func (c Credential) Scheme() string { return c.kind }

// requestBase is what an HMAC credential signs: the method, the request
// URI, the Idempotency-Key (a partner may trust it alone) and the body.
func requestBase(r *http.Request, body []byte) []byte {
	return append([]byte(r.Method+" "+r.URL.RequestURI()+"\n"+r.Header.Get("Idempotency-Key")+"\n"), body...)
}

// Apply adds the credential to an outgoing request with this body.
func (c Credential) Apply(r *http.Request, body []byte, now time.Time) {
	switch c.kind {
	case "bearer":
		r.Header.Set("Authorization", "Bearer "+string(c.secret))
	case "hmac":
		r.Header.Set(Header, Sign(c.secret, now, requestBase(r, body)))
	}
}

// ErrUnauthenticated is a request without the credential.
var ErrUnauthenticated = errors.New("missing or wrong credentials")

// Check verifies an incoming request with this body.
func (c Credential) Check(r *http.Request, body []byte, now time.Time) error {
	switch c.kind {
	case "bearer":
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), c.secret) != 1 {
			return ErrUnauthenticated
		}
	case "hmac":
		if err := Verify(c.secret, r.Header.Get(Header), requestBase(r, body), now); err != nil {
			return fmt.Errorf("%w: %w", ErrUnauthenticated, err)
		}
	}
	return nil
}

// RandomSecret is n random bytes in hex: a secret CheckSecret accepts, for
// what rma makes itself (dev tokens, simulator credentials).
func RandomSecret(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// MinSecretLen is the shortest secret rma accepts.
const MinSecretLen = 16

// CheckSecret refuses a secret that is missing, short, or a placeholder
// copied from an example ("change-me", "secret", "example"...): rma api and
// rma worker refuse to start with one, so a deploy file's sample value can
// never reach production.
func CheckSecret(name, value string) error {
	v := strings.ToLower(strings.TrimSpace(value))
	if v == "" {
		return fmt.Errorf("%s is empty", name)
	}
	for _, p := range []string{"change-me", "changeme", "change_me", "placeholder", "example", "replace-me", "replace_me", "replaceme", "changeit", "your-", "your_", "<"} {
		if strings.Contains(v, p) {
			return fmt.Errorf("%s is a placeholder (%q): set a real secret, e.g. from `openssl rand -hex 32`", name, p)
		}
	}
	switch v {
	case "secret", "password", "token", "test", "dev", "default", "admin":
		return fmt.Errorf("%s is a placeholder: set a real secret, e.g. from `openssl rand -hex 32`", name)
	}
	if value != strings.TrimSpace(value) {
		return fmt.Errorf("%s has surrounding spaces", name)
	}
	if len(value) < MinSecretLen {
		return fmt.Errorf("%s is %d characters; use at least %d random ones (e.g. `openssl rand -hex 32`)", name, len(value), MinSecretLen)
	}
	distinct := map[rune]bool{}
	for _, r := range v {
		distinct[r] = true
	}
	if len(distinct) < 6 {
		return fmt.Errorf("%s is not random (%d distinct characters): use e.g. `openssl rand -hex 32`", name, len(distinct))
	}
	return nil
}
