package domain

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// FieldError is one problem with the input, located by its JSON path
// ("lines[1].quantity") so a client can point at the field.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError carries every problem found, not only the first, so a
// caller can fix a request in one round trip.
type ValidationError struct {
	Problems []FieldError `json:"problems"`
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Field + ": " + p.Message
	}
	return "invalid request: " + strings.Join(parts, "; ")
}

type problems []FieldError

func (p *problems) add(field, format string, args ...any) {
	*p = append(*p, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return &ValidationError{Problems: p}
}

// MaxLines bounds one request so one return's history stays small.
const MaxLines = 50

// clockSkew tolerates a merchant clock slightly ahead of ours.
const clockSkew = 5 * time.Minute

// Validate checks a normalized request against the API contract. now is the
// caller's clock, used to refuse deliveries in the future.
func (r Request) Validate(now time.Time) error {
	var p problems
	if strings.TrimSpace(r.OrderID) == "" {
		p.add("order_id", "is required")
	}
	switch r.Kind {
	case KindReturn, KindExchange:
	case "":
		p.add("kind", "is required (return or exchange)")
	default:
		p.add("kind", "must be return or exchange, not %q", r.Kind)
	}
	if r.DeliveredAt.IsZero() {
		p.add("delivered_at", "is required (RFC 3339 time)")
	} else if r.DeliveredAt.After(now.Add(clockSkew)) {
		p.add("delivered_at", "is in the future")
	}
	if !contains(Channels(), r.Channel) {
		p.add("channel", "must be one of web, app, phone, chat, email, store")
	}
	c := r.Customer
	if strings.TrimSpace(c.ID) == "" {
		p.add("customer.id", "is required")
	}
	if c.Tier != TierStandard && c.Tier != TierVIP {
		p.add("customer.tier", "must be standard or vip")
	}
	if c.Locale != LocaleZhCN && c.Locale != LocaleEN {
		p.add("customer.locale", "must be zh-CN or en")
	}
	if c.Email == "" && c.Phone == "" {
		p.add("customer", "needs an email or a phone to be told about the return")
	}
	if c.Email != "" && !strings.Contains(c.Email, "@") {
		p.add("customer.email", "is not an email address")
	}
	switch {
	case len(r.Lines) == 0:
		p.add("lines", "needs at least one line")
	case len(r.Lines) > MaxLines:
		p.add("lines", "has %d lines; at most %d per return", len(r.Lines), MaxLines)
	}
	seen := map[string]bool{}
	exchanges := 0
	for i, l := range r.Lines {
		f := fmt.Sprintf("lines[%d]", i)
		if strings.TrimSpace(l.LineID) == "" {
			p.add(f+".line_id", "is required")
		} else if seen[l.LineID] {
			p.add(f+".line_id", "%q appears twice", l.LineID)
		}
		seen[l.LineID] = true
		if strings.TrimSpace(l.SKU) == "" {
			p.add(f+".sku", "is required")
		}
		if l.Quantity < 1 {
			p.add(f+".quantity", "must be at least 1")
		} else if l.Quantity > 10000 {
			p.add(f+".quantity", "must be at most 10000")
		}
		if l.UnitPrice.Amount < 0 {
			p.add(f+".unit_price.amount", "must not be negative")
		}
		if l.UnitPrice.Currency != r.Currency() {
			p.add(f+".unit_price.currency", "must be %s like the first line", r.Currency())
		}
		if !l.Reason.Valid() {
			p.add(f+".reason", "must be one of defective, wrong_item, missing_parts, damaged_in_transit, not_as_described, size_fit, changed_mind, other")
		}
		if !l.Resolution.Valid() {
			p.add(f+".resolution", "must be one of refund, store_credit, exchange, repair, keep, reship")
		}
		if l.Resolution == ResolutionExchange {
			exchanges++
			if strings.TrimSpace(l.ExchangeSKU) == "" {
				p.add(f+".exchange_sku", "is required for an exchange")
			}
			if r.Kind == KindReturn {
				p.add(f+".resolution", "exchange lines need kind exchange")
			}
		}
		if l.Resolution == ResolutionReship && l.Reason != ReasonMissingParts && l.Reason != ReasonWrongItem {
			p.add(f+".resolution", "reship is for missing or wrong items")
		}
		for j, ph := range l.Photos {
			u, err := url.Parse(ph)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				p.add(fmt.Sprintf("%s.photos[%d]", f, j), "must be an http(s) URL")
			}
		}
	}
	if r.Kind == KindExchange && exchanges == 0 && len(r.Lines) > 0 {
		p.add("lines", "an exchange needs at least one line with resolution exchange")
	}
	return p.err()
}
