package domain

import (
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Caps on what one return may carry. They keep a return's workflow history
// and read-model row small whatever a client sends (README, "History size"),
// and each one is documented in the API: input over a cap is refused with a
// 422 that names the field.
const (
	// MaxLines is the number of lines one request may hold.
	MaxLines = 50
	// MaxPhotos is the number of photo URLs per line, per inspected item
	// and per answer to a request for information.
	MaxPhotos = 10
	// MaxURLLen bounds one photo URL.
	MaxURLLen = 1024
	// MaxIDLen bounds identifiers: order, line, SKU, batch, customer.
	MaxIDLen = 64
	// MaxTextLen bounds free text: comments, notes, questions, answers,
	// inspection notes, survey comments.
	MaxTextLen = 2000
	// MaxShortTextLen bounds reasons and carrier details.
	MaxShortTextLen = 500
	// MaxActorLen bounds who acted.
	MaxActorLen = 128
	// MaxNotes is the number of support notes per return.
	MaxNotes = 100
	// MaxAssignments is how often a return may be claimed or reassigned:
	// each one is a history event and a publication.
	MaxAssignments = 50
	// MaxCarrierEvents is the number of tracking events a return's workflow
	// takes; later ones are kept in the read model for support.
	MaxCarrierEvents = 100
	// MaxInfoRounds is how often support may ask the customer for more
	// information on one return.
	MaxInfoRounds = 3
	// MaxQuantity bounds the units of one line.
	MaxQuantity = 10000
)

// IsKeyPart reports whether s may appear inside an idempotency key (line IDs
// and SKUs do, e.g. RMA-1/L1/reserve/SKU-RED-L/0): letters, digits, '.', '_'
// and '-', starting with a letter or digit, at most MaxIDLen long. A '/' or a
// space in a line ID would make two different keys read the same.
func IsKeyPart(s string) bool {
	if s == "" || len(s) > MaxIDLen {
		return false
	}
	for i, r := range s {
		switch {
		case r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)):
		case i > 0 && (r == '.' || r == '_' || r == '-'):
		default:
			return false
		}
	}
	return true
}

// keyPartRule says what IsKeyPart accepts, for error messages.
const keyPartRule = "must be 1 to 64 of A-Z a-z 0-9 . _ - (starting with a letter or digit)"

// TextProblem says what is wrong with a free-text value, or "" when it is
// fine: too long (counted in characters), or holding control characters
// other than newlines and tabs.
func TextProblem(s string, max int) string {
	if n := utf8.RuneCountInString(s); n > max {
		return fmt.Sprintf("is %d characters; at most %d", n, max)
	}
	if !utf8.ValidString(s) {
		return "is not valid UTF-8"
	}
	for _, r := range s {
		if unicode.IsControl(r) && r != '\n' && r != '\t' && r != '\r' {
			return "must not contain control characters"
		}
	}
	return ""
}

// URLProblem says what is wrong with a photo URL, or "".
func URLProblem(s string) string {
	if len(s) > MaxURLLen {
		return fmt.Sprintf("is %d bytes; at most %d", len(s), MaxURLLen)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "must be an http(s) URL"
	}
	return ""
}

// Checker collects field problems; commands and requests report every
// problem at once, each with its JSON path.
type Checker struct{ p problems }

// Add records a problem.
func (c *Checker) Add(field, format string, args ...any) { c.p.add(field, format, args...) }

// Text checks an optional free-text field.
func (c *Checker) Text(field, s string, max int) {
	if msg := TextProblem(s, max); msg != "" {
		c.p.add(field, "%s", msg)
	}
}

// Required checks a required free-text field.
func (c *Checker) Required(field, s string, max int) {
	if strings.TrimSpace(s) == "" {
		c.p.add(field, "is required")
		return
	}
	c.Text(field, s, max)
}

// Photos checks a photo list.
func (c *Checker) Photos(field string, photos []string) {
	if len(photos) > MaxPhotos {
		c.p.add(field, "has %d photos; at most %d", len(photos), MaxPhotos)
		return
	}
	for i, ph := range photos {
		if msg := URLProblem(ph); msg != "" {
			c.p.add(fmt.Sprintf("%s[%d]", field, i), "%s", msg)
		}
	}
}

// KeyPart checks an identifier that goes into idempotency keys.
func (c *Checker) KeyPart(field, s string) {
	switch {
	case strings.TrimSpace(s) == "":
		c.p.add(field, "is required")
	case !IsKeyPart(s):
		c.p.add(field, keyPartRule)
	}
}

// Err is nil when nothing was found, else a *ValidationError.
func (c *Checker) Err() error { return c.p.err() }

// MaxTags bounds the tags of a customer or a line.
const MaxTags = 20

// tags checks segment tags: a few, each a short identifier.
func (c *Checker) tags(field string, tags []string) {
	if len(tags) > MaxTags {
		c.p.add(field, "has %d tags; at most %d", len(tags), MaxTags)
		return
	}
	for i, t := range tags {
		c.Required(fmt.Sprintf("%s[%d]", field, i), t, MaxIDLen)
	}
}
