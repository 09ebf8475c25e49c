package domain

import (
	"fmt"
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

// clockSkew tolerates a merchant clock slightly ahead of ours.
const clockSkew = 5 * time.Minute

// Validate checks a normalized request against the API contract and the caps
// in limits.go. now is the caller's clock, used to refuse deliveries in the
// future.
func (r Request) Validate(now time.Time) error {
	var c Checker
	p := &c.p
	if strings.TrimSpace(r.OrderID) == "" {
		p.add("order_id", "is required")
	} else {
		c.Text("order_id", r.OrderID, MaxIDLen)
	}
	if r.Payment != nil {
		c.Text("payment.payment_id", r.Payment.PaymentID, MaxIDLen)
		c.Text("payment.customer_id", r.Payment.CustomerID, MaxIDLen)
		c.Text("payment.payment_method", r.Payment.PaymentMethod, MaxIDLen)
	}
	switch r.Kind {
	case KindReturn, KindExchange:
	case "":
		p.add("kind", "is required (return or exchange)")
	default:
		p.add("kind", "must be return or exchange, not %q", clip(string(r.Kind)))
	}
	if r.DeliveredAt.IsZero() {
		p.add("delivered_at", "is required (RFC 3339 time)")
	} else if r.DeliveredAt.After(now.Add(clockSkew)) {
		p.add("delivered_at", "is in the future")
	}
	if !contains(Channels(), r.Channel) {
		p.add("channel", "must be one of web, app, phone, chat, email, store")
	}
	cu := r.Customer
	if strings.TrimSpace(cu.ID) == "" {
		p.add("customer.id", "is required")
	} else {
		c.Text("customer.id", cu.ID, MaxIDLen)
	}
	if cu.Tier != TierStandard && cu.Tier != TierVIP {
		p.add("customer.tier", "must be standard or vip")
	}
	if cu.Locale != LocaleZhCN && cu.Locale != LocaleEN {
		p.add("customer.locale", "must be zh-CN or en")
	}
	if cu.Email == "" && cu.Phone == "" {
		p.add("customer", "needs an email or a phone to be told about the return")
	}
	if cu.Email != "" && (!strings.Contains(cu.Email, "@") || len(cu.Email) > 254) {
		p.add("customer.email", "is not an email address")
	}
	c.Text("customer.phone", cu.Phone, 32)
	c.tags("customer.tags", cu.Tags)
	if cu.Country != "" && len(cu.Country) != 2 {
		p.add("customer.country", "must be a two-letter ISO 3166 code like CN or DE")
	}
	switch r.RefundMethod {
	case "", "original", "store_credit":
		if r.RefundAccount != "" {
			p.add("refund_account", "only goes with refund_method bank_transfer or e_wallet")
		}
	case "bank_transfer", "e_wallet":
		c.Required("refund_account", r.RefundAccount, MaxIDLen)
	default:
		p.add("refund_method", "must be original, store_credit, bank_transfer or e_wallet")
	}
	if s := r.OutboundShipping; s != nil && (s.Amount < 0 || s.Amount > 1e12 || s.Currency != r.Currency()) {
		p.add("outbound_shipping", "must be a non-negative amount in %s like the lines", clip(r.Currency()))
	}
	switch {
	case len(r.Lines) == 0:
		p.add("lines", "needs at least one line")
	case len(r.Lines) > MaxLines:
		p.add("lines", "has %d lines; at most %d per return", len(r.Lines), MaxLines)
		return p.err() // do not list a problem per line of a huge request
	}
	seen := map[string]bool{}
	exchanges := 0
	for i, l := range r.Lines {
		f := fmt.Sprintf("lines[%d]", i)
		c.KeyPart(f+".line_id", l.LineID)
		if l.LineID != "" && seen[l.LineID] {
			p.add(f+".line_id", "%q appears twice", clip(l.LineID))
		}
		seen[l.LineID] = true
		c.KeyPart(f+".sku", l.SKU)
		c.Text(f+".batch", l.Batch, MaxIDLen)
		c.Text(f+".category", l.Category, MaxIDLen)
		c.Text(f+".supplier", l.Supplier, MaxIDLen)
		if l.Quantity < 1 {
			p.add(f+".quantity", "must be at least 1")
		} else if l.Quantity > MaxQuantity {
			p.add(f+".quantity", "must be at most %d", MaxQuantity)
		}
		if l.UnitPrice.Amount < 0 {
			p.add(f+".unit_price.amount", "must not be negative")
		} else if l.UnitPrice.Amount > 1e12 {
			p.add(f+".unit_price.amount", "is implausibly large")
		}
		if l.UnitPrice.Currency != r.Currency() {
			p.add(f+".unit_price.currency", "must be %s like the first line", clip(r.Currency()))
		}
		if !l.Reason.Valid() {
			p.add(f+".reason", "must be one of defective, wrong_item, missing_parts, damaged_in_transit, not_as_described, size_fit, changed_mind, other")
		}
		if !l.Resolution.Valid() {
			p.add(f+".resolution", "must be one of refund, store_credit, exchange, repair, keep, reship")
		}
		if l.Resolution == ResolutionExchange {
			exchanges++
			c.KeyPart(f+".exchange_sku", l.ExchangeSKU)
			if r.Kind == KindReturn {
				p.add(f+".resolution", "exchange lines need kind exchange")
			}
		} else if l.ExchangeSKU != "" {
			c.KeyPart(f+".exchange_sku", l.ExchangeSKU)
		}
		if l.Resolution == ResolutionReship && l.Reason != ReasonMissingParts && l.Reason != ReasonWrongItem {
			p.add(f+".resolution", "reship is for missing or wrong items")
		}
		c.Photos(f+".photos", l.Photos)
		c.Text(f+".comment", l.Comment, MaxTextLen)
		c.tags(f+".tags", l.Tags)
	}
	if r.Kind == KindExchange && exchanges == 0 && len(r.Lines) > 0 {
		p.add("lines", "an exchange needs at least one line with resolution exchange")
	}
	return p.err()
}

// clip shortens a value quoted back in an error message.
func clip(s string) string {
	if r := []rune(s); len(r) > 40 {
		return string(r[:40]) + "…"
	}
	return s
}
