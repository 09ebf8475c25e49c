package domain

import "testing"

func TestRefundOverrideApply(t *testing.T) {
	cny := func(a int64) Money { return Money{Amount: a, Currency: "CNY"} }
	amt := func(a int64) *Money { m := cny(a); return &m }
	policy := LineRefund{LineID: "L1", Gross: cny(10000), Fees: cny(2200), Net: cny(7800)}
	cases := []struct {
		name      string
		o         *RefundOverride
		net, fees int64
		size      int64
	}{
		{"none", nil, 7800, 2200, 0},
		{"waive fees", &RefundOverride{WaiveFees: true}, 10000, 0, 2200},
		{"lower amount", &RefundOverride{Amount: amt(5000)}, 5000, 5000, 2800},
		{"higher amount", &RefundOverride{Amount: amt(9000)}, 9000, 1000, 1200},
		{"amount above the gross is capped at the gross", &RefundOverride{Amount: amt(20000)}, 10000, 0, 2200},
		{"zero", &RefundOverride{Amount: amt(0)}, 0, 10000, 7800},
		{"negative is zero", &RefundOverride{Amount: amt(-5)}, 0, 10000, 7800},
		{"amount wins over waived fees", &RefundOverride{Amount: amt(6000), WaiveFees: true}, 6000, 4000, 1800},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := c.o.Apply(policy)
			if got.Net.Amount != c.net || got.Fees.Amount != c.fees || got.Gross != policy.Gross || got.Net.Currency != "CNY" || got.Fees.Currency != "CNY" {
				t.Fatalf("Apply = %+v, want net %d fees %d of gross %v", got, c.net, c.fees, policy.Gross)
			}
			if got.Net.Amount+got.Fees.Amount != got.Gross.Amount {
				t.Fatalf("net %d + fees %d != gross %d", got.Net.Amount, got.Fees.Amount, got.Gross.Amount)
			}
			if c.o != nil {
				if s := c.o.Size(policy); s != c.size {
					t.Fatalf("Size = %d, want %d", s, c.size)
				}
			}
		})
	}
}

func TestOverrideNeedsAdmin(t *testing.T) {
	cases := []struct {
		limit, amount int64
		admin         bool
	}{
		{5000, 0, false}, {5000, 5000, false}, {5000, 5001, true}, {0, 1, true}, {0, 0, false},
	}
	for _, c := range cases {
		if got := (OverridePolicy{SupportLimit: c.limit}).NeedsAdmin(c.amount); got != c.admin {
			t.Errorf("limit %d, amount %d: NeedsAdmin = %v, want %v", c.limit, c.amount, got, c.admin)
		}
	}
}

func TestParseAmount(t *testing.T) {
	for in, want := range map[string]int64{"120": 12000, "120.5": 12050, "120.50": 12050, "0.07": 7, " 3 ": 300, "0": 0} {
		m, err := ParseAmount(in, "CNY")
		if err != nil || m.Amount != want || m.Currency != "CNY" {
			t.Errorf("ParseAmount(%q) = %v, %v; want %d CNY", in, m, err, want)
		}
		if err == nil && m.String() != (Money{Amount: want, Currency: "CNY"}).String() {
			t.Errorf("round trip of %q", in)
		}
	}
	for _, in := range []string{"", "-1", "1.234", "1.", ".5", "1,5", "abc", "1e3", "9999999999999"} {
		if _, err := ParseAmount(in, "CNY"); err == nil {
			t.Errorf("ParseAmount(%q) accepted", in)
		}
	}
}
