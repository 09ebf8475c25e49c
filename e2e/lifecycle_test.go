package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rma-dev/rma/domain"
)

// lineOf sets fields of a request's first line.
func lineOf(req map[string]any, kv ...any) map[string]any {
	l := req["lines"].([]any)[0].(map[string]any)
	for i := 0; i+1 < len(kv); i += 2 {
		l[kv[i].(string)] = kv[i+1]
	}
	return req
}

// TestLifecycleOverTheAPI drives the lifecycle's answers through the HTTP
// API against a real embedded server: every stage's notice reaches the
// notifications service, a refund method chosen later, per-unit
// inspection, a failed inspection disputed and overturned, a keep offer
// accepted, and the complaint and keep-offer KPIs.
func TestLifecycleOverTheAPI(t *testing.T) {
	d := newDev(t, "")

	t.Run("every stage speaks, and an e-wallet refund is its own movement", func(t *testing.T) {
		id := d.create(returnRequest("SO-L-1", "C-L-1", "SKU-RED-M", 19900, "defective", "refund"))
		d.waitStatus(id, domain.StatusAwaitingShipment)
		d.mustCall("POST", "/v1/returns/"+id+"/refund-method", map[string]any{"method": "store_credit"}, 200)
		r := d.shipAndPass(id, "dropoff", "picked_up")
		if r.RefundMethod != "store_credit" || r.Lines[0].RefundVia != "store_credit" {
			t.Fatalf("refund method: %q via %q", r.RefundMethod, r.Lines[0].RefundVia)
		}
		var outbox []map[string]any
		seen := map[string]bool{}
		for i := 0; i < 50; i++ {
			getJSON(t, d.simURL(4, "/v1/outbox"), &outbox)
			for _, m := range outbox {
				if m["rma_id"] == id && m["to"] == "customer" {
					seen[m["template"].(string)] = true
				}
			}
			if seen["survey_open"] {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		for _, tpl := range []string{"request_received", "choose_shipping", "label_ready", "parcel_picked_up", "parcel_delivered", "parcel_received", "inspection_passed", "refunded", "completed", "survey_open"} {
			if !seen[tpl] {
				t.Errorf("the customer never heard %s (heard %v)", tpl, seen)
			}
		}
	})

	t.Run("a method the policy does not offer is refused at creation", func(t *testing.T) {
		req := returnRequest("SO-L-2", "C-L-2", "SKU-RED-M", 19900, "defective", "refund")
		req["refund_method"], req["refund_account"] = "bank_transfer", "6222020200112233"
		code, out := d.call("POST", "/v1/returns", req)
		if code != 422 || !strings.Contains(toJSON(out), "bank_transfer is not offered") {
			t.Fatalf("bank transfer under the defaults: %d %v", code, out)
		}
	})

	t.Run("per-unit inspection pays the units that passed", func(t *testing.T) {
		id := d.create(lineOf(returnRequest("SO-L-3", "C-L-3", "SKU-LAMP", 1500, "defective", "refund"), "quantity", 3))
		r := d.chooseShipping(id, "dropoff")
		d.scan(r.TrackingNumber, "picked_up")
		d.scan(r.TrackingNumber, "delivered")
		d.waitFor(id, "arrival", func(r domain.Return) bool { return r.WaitingOn != nil && *r.WaitingOn == domain.WaitingWarehouse })
		d.mustCall("POST", "/v1/returns/"+id+"/inspection", map[string]any{"items": []any{map[string]any{"line_id": "L1", "result": "partial", "passed_units": 2, "disposition": "restock"}}}, 200)
		r = d.waitFor(id, "the answer for the failed unit", func(r domain.Return) bool { return r.Deadline != nil && r.Deadline.Kind == "inspection_answer" })
		d.mustCall("POST", "/v1/returns/"+id+"/inspection-answer", map[string]any{"choice": "dispose"}, 200)
		r = d.waitStatus(id, domain.StatusCompleted)
		if r.RefundTotal.Amount != 3000 {
			t.Fatalf("refund %v, want 2 × 15.00", r.RefundTotal)
		}
	})

	t.Run("a failed inspection disputed and overturned is refunded", func(t *testing.T) {
		id := d.create(returnRequest("SO-L-4", "C-L-4", "SKU-RED-M", 19900, "defective", "refund"))
		r := d.chooseShipping(id, "dropoff")
		d.scan(r.TrackingNumber, "picked_up")
		d.scan(r.TrackingNumber, "delivered")
		d.waitFor(id, "arrival", func(r domain.Return) bool { return r.WaitingOn != nil && *r.WaitingOn == domain.WaitingWarehouse })
		d.mustCall("POST", "/v1/returns/"+id+"/inspection", map[string]any{"items": []any{map[string]any{"line_id": "L1", "result": "fail", "disposition": "quarantine", "note": "water damage"}}}, 200)
		d.waitFor(id, "the customer's answer", func(r domain.Return) bool { return r.Deadline != nil && r.Deadline.Kind == "inspection_answer" })
		code, _ := d.call("POST", "/v1/returns/"+id+"/inspection-answer", map[string]any{"choice": "dispute"})
		if code != 422 {
			t.Fatalf("a dispute without evidence: %d", code)
		}
		d.mustCall("POST", "/v1/returns/"+id+"/inspection-answer", map[string]any{"choice": "dispute", "evidence": "it was dry when I sent it", "photos": []string{"https://img.example/dry.jpg"}}, 200)
		d.waitFor(id, "support's decision", func(r domain.Return) bool { return r.Deadline != nil && r.Deadline.Kind == "dispute" })
		d.mustCall("POST", "/v1/returns/"+id+"/dispute-decision", map[string]any{"line_id": "L1", "decision": "overturn", "note": "the carrier's box was wet"}, 200)
		r = d.waitStatus(id, domain.StatusCompleted)
		if r.RefundTotal.Amount != 19900 || r.Lines[0].Inspection.Result != domain.InspectionPass {
			t.Fatalf("after the overturn: refund %v, result %s", r.RefundTotal, r.Lines[0].Inspection.Result)
		}
	})

	t.Run("keep at a discount, and the KPIs count it", func(t *testing.T) {
		id := d.create(lineOf(returnRequest("SO-L-5", "C-L-5", "SKU-RED-M", 19900, "defective", "refund"), "photos", []string{}))
		d.waitStatus(id, domain.StatusPendingReview)
		d.mustCall("POST", "/v1/returns/"+id+"/keep-offer", map[string]any{"line_id": "L1", "amount": map[string]any{"amount": 3000, "currency": "CNY"}, "reason": "a scuff"}, 200)
		d.mustCall("POST", "/v1/returns/"+id+"/approve", map[string]any{}, 200)
		d.waitFor(id, "the offer", func(r domain.Return) bool { return r.Deadline != nil && r.Deadline.Kind == "keep_offer" })
		d.mustCall("POST", "/v1/returns/"+id+"/keep-answer", map[string]any{"line_id": "L1", "accept": true}, 200)
		r := d.waitStatus(id, domain.StatusCompleted)
		if r.RefundTotal.Amount != 3000 || r.TrackingNumber != "" {
			t.Fatalf("kept: refund %v, label %q", r.RefundTotal, r.TrackingNumber)
		}
		k := d.mustCall("GET", "/v1/analytics/kpis", nil, 200)
		if k["keep_offers"].(float64) < 1 || k["keep_accepted"].(float64) < 1 || k["complaint_rate"] == nil {
			t.Fatalf("kpis: %v", k)
		}
	})
}

// TestLostParcelOverTheAPI: with a short transit deadline, a parcel picked
// up and never delivered is settled: refunded at once, a claim opened, and
// the carrier's claim_settled webhook completes the return.
func TestLostParcelOverTheAPI(t *testing.T) {
	d := newDev(t, "shipping:\n  transit_within: 3s\n")
	id := d.create(returnRequest("SO-LOST-1", "C-LOST-1", "SKU-RED-M", 19900, "defective", "refund"))
	r := d.chooseShipping(id, "dropoff")
	d.scan(r.TrackingNumber, "picked_up")
	r = d.waitFor(id, "settled as lost", func(r domain.Return) bool { return r.Lost && r.RefundTotal.Amount == 19900 && r.ClaimID != "" })
	code, out := d.webhook(map[string]any{"event_id": "claim-lost-1", "tracking_number": r.TrackingNumber, "type": "claim_settled", "detail": "approved: 199.00 CNY",
		"occurred_at": time.Now().UTC().Format(time.RFC3339)}, nil)
	if code != 202 {
		t.Fatalf("claim webhook: %d %v", code, out)
	}
	r = d.waitStatus(id, domain.StatusCompleted)
	if r.ClaimResult != "approved: 199.00 CNY" {
		t.Fatalf("claim result %q", r.ClaimResult)
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
