package domain

import (
	"fmt"
	"strconv"
	"strings"
)

// Money is an amount in integer minor units (fen for CNY). Floats are never
// used for money: a refund of 199.00 must be exactly 19900 everywhere.
type Money struct {
	Amount   int64  `json:"amount" yaml:"amount"`
	Currency string `json:"currency" yaml:"currency"`
}

// DefaultCurrency is the currency of the seeds' market.
const DefaultCurrency = "CNY"

// Zero returns 0 in the given currency.
func Zero(currency string) Money { return Money{Currency: currency} }

// Add sums two amounts of the same currency. A zero-valued Money with an empty
// currency adopts the other's currency so sums can start from Money{}.
func (m Money) Add(o Money) Money {
	c := m.Currency
	if c == "" {
		c = o.Currency
	}
	return Money{Amount: m.Amount + o.Amount, Currency: c}
}

// Sub subtracts o from m.
func (m Money) Sub(o Money) Money { return m.Add(Money{Amount: -o.Amount, Currency: o.Currency}) }

// Mul multiplies by a quantity.
func (m Money) Mul(q int) Money { return Money{Amount: m.Amount * int64(q), Currency: m.Currency} }

// IsZero reports a zero amount.
func (m Money) IsZero() bool { return m.Amount == 0 }

// Min returns the smaller amount.
func (m Money) Min(o Money) Money {
	if o.Amount < m.Amount {
		return Money{Amount: o.Amount, Currency: m.Currency}
	}
	return m
}

// String renders 19900 CNY as "199.00 CNY" for humans (summaries, notices).
func (m Money) String() string {
	sign := ""
	a := m.Amount
	if a < 0 {
		sign, a = "-", -a
	}
	return fmt.Sprintf("%s%d.%02d %s", sign, a/100, a%100, m.Currency)
}

// ParseAmount reads what a person types for an amount, "120", "120.5" or
// "120.50", in major units with at most two decimals, as minor units of
// currency (the inverse of String for the currencies rma shows with two
// decimals).
func ParseAmount(s, currency string) (Money, error) {
	s = strings.TrimSpace(s)
	whole, frac, dot := strings.Cut(s, ".")
	if whole == "" || (dot && (frac == "" || len(frac) > 2)) || strings.Trim(whole+frac, "0123456789") != "" || len(whole) > 12 {
		return Money{}, fmt.Errorf("amount %q: want major units with at most two decimals, like 120.50", s)
	}
	for len(frac) < 2 {
		frac += "0"
	}
	w, _ := strconv.ParseInt(whole, 10, 64)
	f, _ := strconv.ParseInt(frac, 10, 64)
	return Money{Amount: w*100 + f, Currency: currency}, nil
}
