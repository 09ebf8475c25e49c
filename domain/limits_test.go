package domain

import (
	"strings"
	"testing"
	"time"
)

func TestIsKeyPart(t *testing.T) {
	cases := map[string]bool{
		"L1": true, "SKU-RED-M": true, "a.b_c-d": true, "9": true, strings.Repeat("x", 64): true,
		"": false, "L/1": false, "L 1": false, "-L1": false, ".L1": false, "L1\n": false, "Ｌ1": false, "é": false,
		strings.Repeat("x", 65): false, "RMA-1/L1/refund": false,
	}
	for s, want := range cases {
		if got := IsKeyPart(s); got != want {
			t.Errorf("IsKeyPart(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestTextProblem(t *testing.T) {
	cases := []struct {
		s    string
		max  int
		want string
	}{
		{"fine", 10, ""},
		{"two\nlines\tand a tab", 40, ""},
		{strings.Repeat("字", 10), 10, ""}, // characters, not bytes
		{strings.Repeat("字", 11), 10, "is 11 characters; at most 10"},
		{"bell\a", 10, "must not contain control characters"},
		{"\xff", 10, "is not valid UTF-8"},
	}
	for _, c := range cases {
		if got := TextProblem(c.s, c.max); got != c.want {
			t.Errorf("TextProblem(%q, %d) = %q, want %q", c.s, c.max, got, c.want)
		}
	}
}

// Every cap is refused with a problem that names its field.
func TestValidateEnforcesEveryCap(t *testing.T) {
	long := strings.Repeat("a", MaxTextLen+1)
	url := "https://img.example/" + strings.Repeat("p", MaxURLLen)
	manyPhotos := make([]string, MaxPhotos+1)
	for i := range manyPhotos {
		manyPhotos[i] = "https://img.example/x.jpg"
	}
	cases := []struct {
		name  string
		mod   func(r *Request)
		field string
	}{
		{"comment", func(r *Request) { r.Lines[0].Comment = long }, "lines[0].comment"},
		{"900 KB comment", func(r *Request) { r.Lines[0].Comment = strings.Repeat("x", 900<<10) }, "lines[0].comment"},
		{"photo count", func(r *Request) { r.Lines[0].Photos = manyPhotos }, "lines[0].photos"},
		{"photo URL", func(r *Request) { r.Lines[0].Photos = []string{url} }, "lines[0].photos[0]"},
		{"line id with a slash", func(r *Request) { r.Lines[0].LineID = "L/1" }, "lines[0].line_id"},
		{"sku with a space", func(r *Request) { r.Lines[0].SKU = "SKU RED" }, "lines[0].sku"},
		{"exchange sku", func(r *Request) {
			r.Kind, r.Lines[0].Resolution, r.Lines[0].ExchangeSKU = KindExchange, ResolutionExchange, "A/B"
		}, "lines[0].exchange_sku"},
		{"order id", func(r *Request) { r.OrderID = strings.Repeat("o", MaxIDLen+1) }, "order_id"},
		{"customer id", func(r *Request) { r.Customer.ID = strings.Repeat("c", MaxIDLen+1) }, "customer.id"},
		{"payment id", func(r *Request) { r.Payment = &PaymentRef{PaymentID: strings.Repeat("p", MaxIDLen+1)} }, "payment.payment_id"},
		{"payment method", func(r *Request) { r.Payment = &PaymentRef{PaymentMethod: "pm_\x00"} }, "payment.payment_method"},
		{"batch", func(r *Request) { r.Lines[0].Batch = strings.Repeat("b", MaxIDLen+1) }, "lines[0].batch"},
		{"quantity", func(r *Request) { r.Lines[0].Quantity = MaxQuantity + 1 }, "lines[0].quantity"},
		{"lines", func(r *Request) {
			for i := 0; i < MaxLines; i++ {
				r.Lines = append(r.Lines, r.Lines[0])
			}
		}, "lines"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := req(line("L1", 100, ReasonSizeFit, ResolutionRefund))
			c.mod(&r)
			err := r.Validate(delivered)
			ve, ok := err.(*ValidationError)
			if !ok {
				t.Fatalf("accepted: %v", err)
			}
			for _, p := range ve.Problems {
				if p.Field == c.field {
					if len(p.Message) > 200 {
						t.Fatalf("the message quotes the input back: %d bytes", len(p.Message))
					}
					return
				}
			}
			t.Fatalf("no problem names %s: %v", c.field, ve.Problems)
		})
	}
}

func TestOpen(t *testing.T) {
	at := delivered.Add(24 * time.Hour)
	p := Defaults()
	exchange := line("L1", 19900, ReasonDefective, ResolutionExchange)
	exchange.ExchangeSKU, exchange.Photos = "SKU-L", []string{"https://img.example/1.jpg"}
	defect := line("L1", 19900, ReasonDefective, ResolutionRefund)
	defect.Photos = []string{"https://img.example/1.jpg"}
	final := line("L1", 100, ReasonChangedMind, ResolutionRefund)
	final.FinalSale = true
	cases := []struct {
		name     string
		r        Request
		next     Next
		status   Status
		deadline string
		notices  []string
		events   []string
	}{
		{"ineligible", req(final), NextEnd, StatusIneligible, "", []string{"customer:ineligible"}, []string{"requested", "ineligible"}},
		{"manual review", req(line("L1", 19900, ReasonChangedMind, ResolutionRefund)), NextReview, StatusPendingReview, "reply_sla",
			[]string{"support:review_requested"}, []string{"requested", "review_requested"}},
		{"auto-approved refund asks for the shipping method", req(defect), NextProceed, StatusAwaitingShipment, "shipping_choice",
			[]string{"customer:choose_shipping"}, []string{"requested", "approved", "awaiting_shipping_choice"}},
		{"auto-approved exchange leaves the workflow to reserve first", func() Request { r := req(exchange); r.Kind = KindExchange; return r }(),
			NextProceed, StatusRequested, "", nil, []string{"requested", "approved"}},
		{"returnless", req(line("L1", 2500, ReasonDamagedInTransit, ResolutionKeep)), NextProceed, StatusRequested, "", nil, []string{"requested", "approved"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := OpenInput{RMAID: "RMA-1", Request: c.r, Policy: p, At: at, Actor: "backend:shop"}
			o := Open(in)
			if o.Next != c.next || o.View.Status != c.status {
				t.Fatalf("next %v status %s, want %v %s", o.Next, o.View.Status, c.next, c.status)
			}
			if (o.View.Deadline == nil) != (c.deadline == "") || (o.View.Deadline != nil && o.View.Deadline.Kind != c.deadline) {
				t.Fatalf("deadline %+v, want %q", o.View.Deadline, c.deadline)
			}
			var notices, events []string
			for _, n := range o.Notices {
				notices = append(notices, n.To+":"+n.Template)
			}
			for _, e := range o.View.Timeline {
				events = append(events, e.Type)
				if !e.At.Equal(at) {
					t.Errorf("%s at %s, want the request time", e.Type, e.At)
				}
			}
			if strings.Join(notices, ",") != strings.Join(c.notices, ",") || strings.Join(events, ",") != strings.Join(c.events, ",") {
				t.Fatalf("notices %v events %v, want %v %v", notices, events, c.notices, c.events)
			}
			// Pure: the same input gives the same opening.
			again := Open(in)
			if len(again.View.Timeline) != len(o.View.Timeline) || again.View.Status != o.View.Status {
				t.Fatal("Open is not deterministic")
			}
		})
	}
}

func TestCloneIsDeep(t *testing.T) {
	r := NewView("RMA-1", req(line("L1", 100, ReasonSizeFit, ResolutionRefund)), delivered)
	r.Lines[0].Photos = []string{"https://img.example/a.jpg"}
	r.Lines[0].Inspection = &Inspection{Result: InspectionPass, Photos: []string{"https://img.example/b.jpg"}}
	r.Log(delivered, "requested", "a", "")
	r.Reach("requested", delivered)
	r.Deadline = DeadlineAt("x", delivered)
	c := r.Clone()
	c.Lines[0].Photos[0] = "changed"
	c.Lines[0].Inspection.Photos[0] = "changed"
	c.Lines[0].Inspection.Result = InspectionFail
	c.Timeline[0].Type = "changed"
	c.Stages["requested"] = time.Time{}
	c.Deadline.Kind = "changed"
	if r.Lines[0].Photos[0] == "changed" || r.Lines[0].Inspection.Photos[0] == "changed" || r.Lines[0].Inspection.Result != InspectionPass ||
		r.Timeline[0].Type == "changed" || r.Stages["requested"].IsZero() || r.Deadline.Kind == "changed" {
		t.Fatalf("clone shares state with the original: %+v", r)
	}
}
