package domain

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestCustomerViewLeavesOutStaffData(t *testing.T) {
	at := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	r := Return{
		ID: "RMA-1", Status: StatusNeedsAttention,
		Customer:    Customer{ID: "C-1", Email: "li@example.cn", Phone: "13800001234"},
		Lines:       []LineState{{Line: Line{LineID: "L1", SKU: "S", Supplier: "ACME-SUPPLIER", Batch: "B-77"}, Inspection: &Inspection{Result: InspectionPass, Note: "scratch inside, warehouse only"}}},
		Assignee:    "vip-desk",
		Attention:   &Attention{Step: "refund", Error: "payments said 500 for key RMA-1/L1/refund"},
		ClaimError:  "carrier refused the claim",
		Notes:       []TimelineEntry{{At: at, Type: "note", Actor: "amy", Detail: "customer is a known abuser"}},
		Payments:    []PaymentRecord{{Key: "RMA-1/L1/refund", Kind: "refund"}},
		SLABreaches: []string{"review_reply"},
		Timeline: []TimelineEntry{
			{At: at, Type: "requested", Actor: "backend-shop"},
			{At: at, Type: "note", Actor: "amy", Detail: "customer is a known abuser"},
			{At: at, Type: "approve_command", Actor: "amy", Detail: "approving, but watch this customer"},
			{At: at, Type: "approved", Actor: "amy"},
			{At: at, Type: "received", Actor: "w1", Detail: "box smells of smoke"},
			{At: at, Type: "declined", Actor: "amy", Detail: "opened and used"},
			{At: at, Type: "shipping_chosen", Actor: "C-1", Detail: "pickup"},
			{At: at, Type: "carrier_picked_up", Actor: "carrier"},
			{At: at, Type: "sla_breach", Actor: "system", Detail: "review_reply"},
			{At: at, Type: "needs_attention", Actor: "system", Detail: "refund: payments said 500"},
			{At: at, Type: "attention_retry", Actor: "amy"},
		},
	}
	c := r.CustomerView("C-1")
	b, _ := json.Marshal(c)
	for _, secret := range []string{"known abuser", "watch this customer", "smells of smoke", "vip-desk", "payments said", "RMA-1/L1/refund", "carrier refused", "review_reply", "ACME-SUPPLIER", "B-77", "warehouse only", `"amy"`} {
		if strings.Contains(string(b), secret) {
			t.Errorf("customer view shows %q", secret)
		}
	}
	var types, actors []string
	for _, e := range c.Timeline {
		types, actors = append(types, e.Type), append(actors, e.Actor)
	}
	if got := strings.Join(types, " "); got != "requested approve_command approved received declined shipping_chosen carrier_picked_up" {
		t.Errorf("timeline %s", got)
	}
	if got := strings.Join(actors, " "); got != "merchant merchant merchant merchant merchant C-1 carrier" {
		t.Errorf("actors %s", got)
	}
	if c.Customer.Email != "li@example.cn" || c.Lines[0].Inspection.Result != InspectionPass {
		t.Errorf("the customer's own data is gone: %+v", c)
	}
	// The staff view is untouched.
	if c.Timeline[4].Detail != "opened and used" {
		t.Errorf("the decline reason is gone: %+v", c.Timeline[4])
	}
	if r.Notes == nil || r.Lines[0].Supplier == "" || r.Lines[0].Inspection.Note == "" || len(r.Timeline) != 11 || r.Timeline[1].Detail == "" {
		t.Error("CustomerView changed the return it was given")
	}
}
