package domain

import (
	"strings"
	"testing"
	"time"
)

var delivered = time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)

func cny(a int64) Money { return Money{Amount: a, Currency: "CNY"} }

func line(id string, price int64, reason Reason, res Resolution) Line {
	return Line{LineID: id, SKU: "SKU-" + id, Quantity: 1, UnitPrice: cny(price), Reason: reason, Resolution: res}
}

func req(lines ...Line) Request {
	return Request{OrderID: "SO-1", Kind: KindReturn, DeliveredAt: delivered, Channel: ChannelWeb,
		Customer: Customer{ID: "C-1", Tier: TierStandard, Locale: LocaleZhCN, Email: "a@example.com"}, Lines: lines}
}

func TestCheckEligibility(t *testing.T) {
	p := Defaults()
	finalSale := line("L1", 9900, ReasonChangedMind, ResolutionRefund)
	finalSale.FinalSale = true
	clearance := line("L1", 9900, ReasonChangedMind, ResolutionRefund)
	clearance.Category = "clearance"
	electronics := line("L1", 9900, ReasonChangedMind, ResolutionRefund)
	electronics.Category = "electronics"
	cases := []struct {
		name        string
		r           Request
		now         time.Time
		hist        CustomerHistory
		eligible    bool
		reason      string
		abuse       bool
		returnless  bool
		lineReasons []string
	}{
		{name: "inside window", r: req(line("L1", 9900, ReasonChangedMind, ResolutionRefund)), now: delivered.Add(6 * 24 * time.Hour), eligible: true},
		{name: "last second of window", r: req(line("L1", 9900, ReasonChangedMind, ResolutionRefund)), now: delivered.Add(7 * 24 * time.Hour), eligible: true},
		{name: "window passed", r: req(line("L1", 9900, ReasonChangedMind, ResolutionRefund)), now: delivered.Add(7*24*time.Hour + time.Second), reason: "return window of 168h ended 2026-11-27T08:00:00Z"},
		{name: "category override extends window", r: req(electronics), now: delivered.Add(10 * 24 * time.Hour), eligible: true},
		{name: "merchant fault after window goes to review", r: req(line("L1", 9900, ReasonDefective, ResolutionRefund)), now: delivered.Add(8 * 24 * time.Hour), eligible: true, lineReasons: []string{"outside the return window; merchant-fault claim goes to review"}},
		{name: "final sale flag", r: req(finalSale), now: delivered, reason: "final-sale item: not returnable"},
		{name: "final sale category", r: req(clearance), now: delivered, reason: "final-sale item: not returnable"},
		{name: "one final-sale line of two is dropped", r: req(finalSale, line("L2", 100, ReasonChangedMind, ResolutionRefund)), now: delivered, eligible: true, lineReasons: []string{"final-sale item: not returnable", ""}},
		{name: "no line left", r: req(finalSale, func() Line { l := finalSale; l.LineID = "L2"; return l }()), now: delivered, reason: "no line is returnable: final-sale item: not returnable"},
		{name: "abuse by count", r: req(line("L1", 100, ReasonChangedMind, ResolutionRefund)), now: delivered, hist: CustomerHistory{Returns: 5}, eligible: true, abuse: true},
		{name: "abuse by value", r: req(line("L1", 100, ReasonChangedMind, ResolutionRefund)), now: delivered, hist: CustomerHistory{Returns: 1, Value: 499950}, eligible: true, abuse: true},
		{name: "under abuse limits", r: req(line("L1", 100, ReasonChangedMind, ResolutionRefund)), now: delivered, hist: CustomerHistory{Returns: 4, Value: 1000}, eligible: true},
		{name: "keep below threshold is returnless", r: req(line("L1", 3000, ReasonDefective, ResolutionKeep)), now: delivered, eligible: true, returnless: true},
		{name: "keep above threshold must come back", r: req(line("L1", 3001, ReasonDefective, ResolutionKeep)), now: delivered, eligible: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := CheckEligibility(p, c.r, c.now, c.hist)
			if e.Eligible != c.eligible || e.Reason != c.reason || e.AbuseFlag != c.abuse {
				t.Fatalf("got eligible=%v reason=%q abuse=%v, want %v %q %v", e.Eligible, e.Reason, e.AbuseFlag, c.eligible, c.reason, c.abuse)
			}
			if e.Lines[0].Returnless != c.returnless {
				t.Fatalf("returnless = %v, want %v", e.Lines[0].Returnless, c.returnless)
			}
			for i, want := range c.lineReasons {
				if e.Lines[i].Reason != want {
					t.Fatalf("line %d reason %q, want %q", i, e.Lines[i].Reason, want)
				}
			}
		})
	}
}

func TestDecideReview(t *testing.T) {
	p := Defaults()
	withPhoto := line("L1", 50000, ReasonDefective, ResolutionRefund)
	withPhoto.Photos = []string{"https://img.example/1.jpg"}
	vip := req(line("L1", 50000, ReasonChangedMind, ResolutionRefund))
	vip.Customer.Tier = TierVIP
	bulk := req(line("L1", 1000, ReasonChangedMind, ResolutionRefund))
	bulk.Lines[0].Quantity = 20
	wholesale := req(line("L1", 50000, ReasonChangedMind, ResolutionRefund))
	wholesale.Wholesale = true
	cases := []struct {
		name     string
		r        Request
		hist     CustomerHistory
		auto     bool
		why      string
		assignee string
	}{
		{"merchant fault with photo", req(withPhoto), CustomerHistory{}, true, "merchant-fault reason with photo evidence", "support"},
		{"merchant fault without photo is manual", req(line("L1", 50000, ReasonDefective, ResolutionRefund)), CustomerHistory{}, false, "manual review required by policy", "support"},
		{"low value", req(line("L1", 5000, ReasonChangedMind, ResolutionRefund)), CustomerHistory{}, true, "low value (at most 50.00 CNY)", "support"},
		{"just above low value", req(line("L1", 5001, ReasonChangedMind, ResolutionRefund)), CustomerHistory{}, false, "manual review required by policy", "support"},
		{"vip", vip, CustomerHistory{}, true, "VIP customer", "vip-desk"},
		{"bulk quantity routes to wholesale desk", bulk, CustomerHistory{}, false, "manual review required by policy", "wholesale-desk"},
		{"wholesale flag routes to wholesale desk", wholesale, CustomerHistory{}, false, "manual review required by policy", "wholesale-desk"},
		{"abuse beats low value", req(line("L1", 100, ReasonChangedMind, ResolutionRefund)), CustomerHistory{Returns: 7}, false, "abuse limit: 7 returns in the last 2160h (limit 5)", "support"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := CheckEligibility(p, c.r, delivered, c.hist)
			d := DecideReview(p, c.r, e)
			if d.Auto != c.auto || d.Why != c.why || d.Assignee != c.assignee {
				t.Fatalf("got %+v, want auto=%v why=%q assignee=%q", d, c.auto, c.why, c.assignee)
			}
		})
	}
}

func TestComputeRefunds(t *testing.T) {
	p := Defaults()
	p.Fees.ByReason[ReasonOther] = ReasonFees{HandlingFee: 500, RestockingBps: 1000, ReturnShipping: 1500}
	cases := []struct {
		name  string
		in    []RefundInput
		label bool
		want  []int64 // net per line
		fees  []int64
	}{
		{"merchant fault is free", []RefundInput{{LineID: "L1", Value: cny(19900), Reason: ReasonDefective}}, true, []int64{19900}, []int64{0}},
		{"customer fault pays handling and shipping", []RefundInput{{LineID: "L1", Value: cny(19900), Reason: ReasonSizeFit}}, true, []int64{19900 - 1000 - 1200}, []int64{2200}},
		{"no label, no shipping fee", []RefundInput{{LineID: "L1", Value: cny(19900), Reason: ReasonChangedMind}}, false, []int64{18900}, []int64{1000}},
		{"shipping charged once across lines", []RefundInput{{LineID: "L1", Value: cny(10000), Reason: ReasonSizeFit}, {LineID: "L2", Value: cny(10000), Reason: ReasonChangedMind}}, true, []int64{7800, 9000}, []int64{2200, 1000}},
		{"mixed fault: shipping on the customer-fault line", []RefundInput{{LineID: "L1", Value: cny(10000), Reason: ReasonDefective}, {LineID: "L2", Value: cny(10000), Reason: ReasonChangedMind}}, true, []int64{10000, 7800}, []int64{0, 2200}},
		{"restocking basis points and highest shipping", []RefundInput{{LineID: "L1", Value: cny(10000), Reason: ReasonSizeFit}, {LineID: "L2", Value: cny(20000), Reason: ReasonOther}}, true, []int64{10000 - 1000 - 1500, 20000 - 500 - 2000}, []int64{2500, 2500}},
		{"fees capped at line value", []RefundInput{{LineID: "L1", Value: cny(1500), Reason: ReasonChangedMind}}, true, []int64{0}, []int64{1500}},
		{"a segment rule's fee row", []RefundInput{{LineID: "L1", Value: cny(10000), Reason: ReasonChangedMind, Fees: &ReasonFees{HandlingFee: 300}}}, true, []int64{9700}, []int64{300}},
		{"a value-loss deduction", []RefundInput{{LineID: "L1", Value: cny(10000), Reason: ReasonDefective, Deduction: 2500}}, true, []int64{7500}, []int64{2500}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := ComputeRefunds(p, c.in, c.label)
			for i := range got {
				if got[i].Net.Amount != c.want[i] || got[i].Fees.Amount != c.fees[i] || got[i].Gross.Amount != c.in[i].Value.Amount {
					t.Fatalf("line %d: got %+v, want net %d fees %d", i, got[i], c.want[i], c.fees[i])
				}
				if got[i].Net.Currency != "CNY" {
					t.Fatalf("currency lost: %+v", got[i])
				}
			}
		})
	}
}

func TestPriceDifferenceAndCoupon(t *testing.T) {
	if d := PriceDifference(cny(19900), cny(21900), 2); d.Amount != 4000 {
		t.Fatalf("charge: %v", d)
	}
	if d := PriceDifference(cny(19900), cny(17900), 1); d.Amount != -2000 {
		t.Fatalf("refund: %v", d)
	}
	if c := GoodwillCoupon(Defaults(), []Reason{ReasonDefective, ReasonWrongItem}); c != 1000 {
		t.Fatalf("coupon: %d", c)
	}
	if c := GoodwillCoupon(Defaults(), []Reason{ReasonSizeFit}); c != 0 {
		t.Fatalf("coupon for customer fault: %d", c)
	}
}

func TestValidateReportsEveryProblemWithItsPath(t *testing.T) {
	r := Request{Kind: "swap", Channel: "fax", DeliveredAt: delivered.Add(48 * time.Hour),
		Customer: Customer{Tier: "gold", Locale: "fr", Email: "nope"},
		Lines: []Line{
			{LineID: "L1", SKU: "", Quantity: 0, UnitPrice: Money{Amount: -1, Currency: "CNY"}, Reason: "bored", Resolution: "exchange", Photos: []string{"ftp://x"}},
			{LineID: "L1", SKU: "S", Quantity: 1, UnitPrice: Money{Amount: 1, Currency: "USD"}, Reason: ReasonSizeFit, Resolution: ResolutionReship},
		}}
	err := r.Validate(delivered)
	ve, ok := err.(*ValidationError)
	if !ok {
		t.Fatalf("want *ValidationError, got %v", err)
	}
	want := []string{"order_id", "kind", "delivered_at", "channel", "customer.id", "customer.tier", "customer.locale", "customer.email",
		"lines[0].sku", "lines[0].quantity", "lines[0].unit_price.amount", "lines[0].reason", "lines[0].exchange_sku", "lines[0].photos[0]",
		"lines[1].line_id", "lines[1].unit_price.currency", "lines[1].resolution"}
	got := map[string]bool{}
	for _, p := range ve.Problems {
		got[p.Field] = true
	}
	for _, f := range want {
		if !got[f] {
			t.Errorf("missing problem for %s; got %v", f, ve.Problems)
		}
	}
	good := req(line("L1", 100, ReasonSizeFit, ResolutionRefund))
	if err := good.Validate(delivered); err != nil {
		t.Fatalf("valid request refused: %v", err)
	}
	ex := good
	ex.Kind = KindExchange
	if err := ex.Validate(delivered); err == nil || !strings.Contains(err.Error(), "at least one line with resolution exchange") {
		t.Fatalf("exchange without exchange line: %v", err)
	}
}

func TestPolicyYAMLRoundTripAndOverrides(t *testing.T) {
	p, err := LoadPolicy([]byte("shipping:\n  pickup_within: 5s\n  logistics_buffer: 2s\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Shipping.PickupWithin.D() != 5*time.Second || p.Shipping.LogisticsBuffer.D() != 2*time.Second {
		t.Fatalf("override lost: %+v", p.Shipping)
	}
	if p.Review.ReplySLA.D() != 24*time.Hour || p.Inspection.Within.D() != 24*time.Hour || p.Window.Default.D() != 7*24*time.Hour {
		t.Fatal("defaults lost")
	}
	out, err := p.YAML()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "pickup_within: 5s") || !strings.Contains(string(out), "decision_sla: 48h") {
		t.Fatalf("yaml:\n%s", out)
	}
	back, err := LoadPolicy(out)
	if err != nil {
		t.Fatal(err)
	}
	if back.Shipping != p.Shipping || back.Review.DecisionSLA != p.Review.DecisionSLA {
		t.Fatal("round trip changed the policy")
	}
	if _, err := LoadPolicy([]byte("shiping:\n  pickup_within: 5s\n")); err == nil {
		t.Fatal("typo accepted")
	}
	if _, err := LoadPolicy([]byte("shipping:\n  pickup_within: soon\n")); err == nil {
		t.Fatal("bad duration accepted")
	}
	if _, err := LoadPolicy([]byte("review:\n  reply_sla: 0s\n")); err == nil {
		t.Fatal("zero SLA accepted")
	}
	if p, err := LoadPolicy(nil); err != nil || p.Shipping.PickupWithin.D() != 48*time.Hour {
		t.Fatalf("empty policy: %v", err)
	}
}

func TestMoneyString(t *testing.T) {
	for in, want := range map[int64]string{19900: "199.00 CNY", 5: "0.05 CNY", -1250: "-12.50 CNY"} {
		if got := cny(in).String(); got != want {
			t.Errorf("%d: %q want %q", in, got, want)
		}
	}
}
