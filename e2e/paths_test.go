package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/workflows"
)

// pathsPolicy scales every deadline the paths below wait out to seconds.
const pathsPolicy = `review:
  reply_sla: 3s
  reply_reminder_before: 1s
  decision_sla: 6s
  decision_reminder_before: 1s
  info_within: 120s
  info_reminder_before: 60s
shipping:
  choice_within: 120s
  choice_reminder_before: 60s
  pickup_within: 2s
  pickup_reminder_before: 1s
  dropoff_within: 120s
  dropoff_reminder_before: 60s
  logistics_buffer: 2s
  transit_within: 120s
inspection:
  within: 120s
exchange:
  choice_within: 120s
  choice_reminder_before: 60s
repair:
  within: 120s
`

// TestEveryPathOnARealServer drives every path of the lifecycle through
// `rma dev` (the embedded Temporal server, the simulators, the API) and
// checks where each ends. With RMA_RECORD_HISTORY set (make
// record-histories) it writes each history to that directory: the replay
// corpus of workflows/testdata/histories that every workflow change must
// replay.
func TestEveryPathOnARealServer(t *testing.T) {
	d := newDev(t, pathsPolicy)
	paths := []struct {
		name string
		run  func(p *path) domain.Status
	}{
		{"review_escalated", reviewEscalated},
		{"request_info", requestInfo},
		{"claim_assign_extend", claimAssignExtend},
		{"override_goodwill", overrideGoodwill},
		{"keep_offer_accepted", keepOfferAccepted},
		{"inspection_disputed", inspectionDisputed},
		{"partial_inspection", partialInspection},
		{"declined", declined},
		{"ineligible", ineligible},
		{"exchange_out_of_stock", exchangeOutOfStock},
		{"pickup_expired", pickupExpired},
		{"cancel_pending_review", cancelAt("pending_review")},
		{"cancel_info_requested", cancelAt("info_requested")},
		{"cancel_awaiting_choice", cancelAt("awaiting_choice")},
		{"cancel_awaiting_shipment", cancelAt("awaiting_shipment")},
		{"cancel_in_transit", cancelAt("in_transit")},
		{"attention_retry_abandon", attentionRetryAbandon},
		{"attention_retry_succeeds", attentionRetrySucceeds},
		{"exchange", exchangeInStock},
		{"advance_exchange", advanceExchange},
		{"repair", repair},
		{"vip_fast_lane", vipFastLane},
		{"returnless", returnless},
		{"carrier_claim", carrierClaim},
		{"worst_case", worstCase},
	}
	var wg sync.WaitGroup
	results := make([]string, len(paths))
	for i, pt := range paths {
		wg.Add(1)
		go func(i int, name string, run func(*path) domain.Status) {
			defer wg.Done()
			p := &path{d: d, name: name}
			defer func() {
				if r := recover(); r != nil {
					results[i] = fmt.Sprintf("%s: %v", name, r)
				}
			}()
			want := run(p)
			r := d.waitStatusQuiet(p.id, want)
			if r.Status != want {
				results[i] = fmt.Sprintf("%s: %s is %s, want %s; timeline %v", name, p.id, r.Status, want, types(r))
				return
			}
			p.settle()
			if err := writeHistory(d, p.id, name); err != nil {
				results[i] = err.Error()
			}
		}(i, pt.name, pt.run)
	}
	wg.Wait()
	for _, r := range results {
		if r != "" {
			t.Error(r)
		}
	}
	if t.Failed() && os.Getenv("RMA_E2E_DUMP") != "" {
		_ = os.WriteFile(os.Getenv("RMA_E2E_DUMP"), d.out.Bytes(), 0o644)
	}
}

// path is one return driven through the API; failures panic so a path runs
// in its own goroutine.
type path struct {
	d    *dev
	name string
	id   string
}

func (p *path) fail(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

func (p *path) call(method, suffix string, body any, want int) map[string]any {
	code, out := p.d.call(method, "/v1/returns"+suffix, body)
	if code != want {
		p.fail("%s %s: %d %v, want %d", method, suffix, code, out, want)
	}
	return out
}

func (p *path) create(req map[string]any) {
	out := p.call("POST", "", req, 201)
	p.id = out["id"].(string)
}

func (p *path) cmd(name string, body any) { p.call("POST", "/"+p.id+"/"+name, body, 200) }

func (p *path) get() domain.Return { return p.d.getQuiet(p.id) }

func (p *path) until(what string, ok func(domain.Return) bool) domain.Return {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if r := p.get(); ok(r) {
			return r
		}
		time.Sleep(100 * time.Millisecond)
	}
	r := p.get()
	p.fail("%s never reached %s: %s %v", p.id, what, r.Status, types(r))
	return r
}

func (p *path) status(s domain.Status) domain.Return {
	return p.until(string(s), func(r domain.Return) bool { return r.Status == s })
}

func (p *path) scan(tracking, typ string) {
	code, out := p.d.webhookQuiet(tracking, typ)
	if code != 202 {
		p.fail("scan %s %s: %d %v", tracking, typ, code, out)
	}
}

// settle waits until the workflow has closed (every path ends in a final
// status), so the recorded history is complete.
func (p *path) settle() {
	c, err := p.d.dial()
	if err != nil {
		p.fail("dial: %v", err)
	}
	defer c.Close()
	for i := 0; i < 300; i++ {
		d, err := c.DescribeWorkflowExecution(context.Background(), workflows.WorkflowID(p.id), "")
		if err == nil && d.WorkflowExecutionInfo.Status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.fail("%s did not close", p.id)
}

func (p *path) shipDropoffAndPass(lines ...string) {
	p.cmd("shipping-choice", map[string]any{"method": "dropoff"})
	r := p.until("label", func(r domain.Return) bool { return r.TrackingNumber != "" })
	p.scan(r.TrackingNumber, "in_transit")
	p.scan(r.TrackingNumber, "delivered")
	p.until("arrival", func(r domain.Return) bool { return r.WaitingOn != nil && *r.WaitingOn == domain.WaitingWarehouse })
	if len(lines) == 0 {
		lines = []string{"L1"}
	}
	var items []any
	for _, l := range lines {
		items = append(items, map[string]any{"line_id": l, "result": "pass", "disposition": "restock"})
	}
	p.cmd("inspection", map[string]any{"items": items})
}

// shipDropoffAndInspect ships the parcel back and records one inspection
// item.
func (p *path) shipDropoffAndInspect(item map[string]any) {
	p.cmd("shipping-choice", map[string]any{"method": "dropoff"})
	r := p.until("label", func(r domain.Return) bool { return r.TrackingNumber != "" })
	p.scan(r.TrackingNumber, "in_transit")
	p.scan(r.TrackingNumber, "delivered")
	p.until("arrival", func(r domain.Return) bool { return r.WaitingOn != nil && *r.WaitingOn == domain.WaitingWarehouse })
	p.cmd("inspection", map[string]any{"items": []any{item}})
}

func types(r domain.Return) []string {
	var out []string
	for _, e := range r.Timeline {
		out = append(out, e.Type)
	}
	return out
}

func request(order, reason, resolution string) map[string]any {
	return returnRequest(order, "C-"+order, "SKU-RED-M", 19900, reason, resolution)
}

func vip(req map[string]any) map[string]any {
	req["customer"].(map[string]any)["tier"] = "vip"
	return req
}

// review_escalated: nobody answers; the reply reminder, the reply breach, the
// decision reminder and the supervisor escalation fire, then support
// approves and the return completes.
func reviewEscalated(p *path) domain.Status {
	p.create(request("SO-P-REV", "changed_mind", "refund"))
	p.until("supervisor escalation", func(r domain.Return) bool { return len(r.SLABreaches) == 2 })
	p.cmd("approve", map[string]any{"note": "late, sorry"})
	p.shipDropoffAndPass()
	return domain.StatusCompleted
}

func requestInfo(p *path) domain.Status {
	p.create(request("SO-P-INFO", "changed_mind", "refund"))
	p.cmd("request-info", map[string]any{"question": "a photo of the label?"})
	p.status(domain.StatusInfoRequested)
	p.cmd("info", map[string]any{"answer": "here", "photos": []string{"https://img.example/label.jpg"}})
	p.status(domain.StatusPendingReview)
	p.cmd("approve", map[string]any{})
	p.shipDropoffAndPass()
	return domain.StatusCompleted
}

// claim_assign_extend: an agent claims the return, hands it to another
// team's agent, support extends its deadline (an outage), and it is
// approved and completes: the assign and extend-deadline updates in a
// recorded history.
func claimAssignExtend(p *path) domain.Status {
	p.create(request("SO-P-ASSIGN", "changed_mind", "refund"))
	p.cmd("claim", nil)
	p.cmd("assign", map[string]any{"assignee": "support:bo", "team": "returns-cn", "reason": "speaks the customer's language"})
	p.cmd("extend", map[string]any{"by": "48h", "reason": "carrier outage"})
	r := p.get()
	if r.Assignee != "support:bo" || r.Team != "returns-cn" {
		p.fail("assignment: %s %s", r.Assignee, r.Team)
	}
	p.cmd("approve", map[string]any{})
	p.shipDropoffAndPass()
	return domain.StatusCompleted
}

// override_goodwill: support waives a line's fees and grants a goodwill
// coupon while the return waits for review; it is approved and completes,
// refunded the whole price: the override-refund and goodwill updates in a
// recorded history.
func overrideGoodwill(p *path) domain.Status {
	p.create(request("SO-P-OVERRIDE", "changed_mind", "refund"))
	p.cmd("override-refund", map[string]any{"line_id": "L1", "waive_fees": true, "reason": "late courier"})
	p.cmd("goodwill", map[string]any{"amount": map[string]any{"amount": 1500, "currency": "CNY"}, "kind": "coupon", "reason": "slow answer"})
	p.cmd("approve", map[string]any{})
	p.shipDropoffAndPass()
	r := p.until("completed", func(r domain.Return) bool { return r.Status == domain.StatusCompleted })
	if r.RefundTotal.Amount != r.Lines[0].UnitPrice.Amount || r.FeesTotal.Amount != 0 || len(r.Goodwill) != 1 || !r.Goodwill[0].Issued {
		p.fail("refund %v, fees %v, goodwill %+v", r.RefundTotal, r.FeesTotal, r.Goodwill)
	}
	return domain.StatusCompleted
}

// keep_offer_accepted: support offers a partial refund to keep the item
// during review; after the approval the customer accepts: no parcel.
func keepOfferAccepted(p *path) domain.Status {
	req := request("SO-P-KEEP", "defective", "refund")
	req["lines"].([]any)[0].(map[string]any)["photos"] = []string{}
	p.create(req)
	p.cmd("keep-offer", map[string]any{"line_id": "L1", "amount": map[string]any{"amount": 3000, "currency": "CNY"}})
	p.cmd("approve", map[string]any{})
	p.until("the offer", func(r domain.Return) bool { return r.Deadline != nil && r.Deadline.Kind == "keep_offer" })
	p.cmd("keep-answer", map[string]any{"line_id": "L1", "accept": true})
	return domain.StatusCompleted
}

// inspection_disputed: the line fails inspection, the customer disputes
// with evidence, support overturns and the line is refunded.
func inspectionDisputed(p *path) domain.Status {
	p.create(request("SO-P-DISPUTE", "defective", "refund"))
	p.shipDropoffAndInspect(map[string]any{"line_id": "L1", "result": "fail", "disposition": "quarantine", "note": "wet"})
	p.until("the answer", func(r domain.Return) bool { return r.Deadline != nil && r.Deadline.Kind == "inspection_answer" })
	p.cmd("inspection-answer", map[string]any{"choice": "dispute", "evidence": "dry when sent"})
	p.until("the review", func(r domain.Return) bool { return r.Deadline != nil && r.Deadline.Kind == "dispute" })
	p.cmd("dispute-decision", map[string]any{"line_id": "L1", "decision": "overturn"})
	return domain.StatusCompleted
}

// partial_inspection: two units of three pass; the failed one is disposed
// of at the customer's word.
func partialInspection(p *path) domain.Status {
	req := request("SO-P-UNITS", "defective", "refund")
	req["lines"].([]any)[0].(map[string]any)["quantity"] = 3
	p.create(req)
	p.shipDropoffAndInspect(map[string]any{"line_id": "L1", "result": "partial", "passed_units": 2, "disposition": "restock"})
	p.until("the answer", func(r domain.Return) bool { return r.Deadline != nil && r.Deadline.Kind == "inspection_answer" })
	p.cmd("inspection-answer", map[string]any{"choice": "dispose"})
	return domain.StatusCompleted
}

func declined(p *path) domain.Status {
	p.create(request("SO-P-DEC", "changed_mind", "refund"))
	p.cmd("decline", map[string]any{"reason": "worn"})
	return domain.StatusDeclined
}

func ineligible(p *path) domain.Status {
	req := request("SO-P-INEL", "changed_mind", "refund")
	req["delivered_at"] = time.Now().Add(-30 * 24 * time.Hour).UTC().Format(time.RFC3339)
	p.create(req)
	return domain.StatusIneligible
}

func exchangeTo(order, sku string) map[string]any {
	req := request(order, "defective", "exchange")
	req["lines"].([]any)[0].(map[string]any)["exchange_sku"] = sku
	return req
}

// exchange_out_of_stock: the replacement is sold out; the customer picks a
// dearer variant (the difference is charged) and the exchange completes.
func exchangeOutOfStock(p *path) domain.Status {
	p.create(exchangeTo("SO-P-OOS", "SKU-RED-XXL"))
	p.status(domain.StatusAwaitingChoice)
	p.cmd("exchange-choice", map[string]any{"choice": "variant", "sku": "SKU-RED-XL"})
	p.status(domain.StatusAwaitingShipment)
	p.shipDropoffAndPass()
	return domain.StatusCompleted
}

func pickupExpired(p *path) domain.Status {
	p.create(request("SO-P-EXP", "defective", "refund"))
	p.cmd("shipping-choice", map[string]any{"method": "pickup"})
	return domain.StatusExpired
}

// cancelAt reaches a stage and cancels there.
func cancelAt(stage string) func(p *path) domain.Status {
	return func(p *path) domain.Status {
		switch stage {
		case "pending_review":
			p.create(request("SO-P-C1", "changed_mind", "refund"))
		case "info_requested":
			p.create(request("SO-P-C2", "changed_mind", "refund"))
			p.cmd("request-info", map[string]any{"question": "which size?"})
		case "awaiting_choice":
			p.create(exchangeTo("SO-P-C3", "SKU-RED-XXL"))
		case "awaiting_shipment":
			p.create(exchangeTo("SO-P-C4", "SKU-RED-XL")) // reserved and charged
			p.status(domain.StatusAwaitingShipment)
			p.cmd("shipping-choice", map[string]any{"method": "dropoff"})
			p.until("label", func(r domain.Return) bool { return r.TrackingNumber != "" })
		case "in_transit":
			p.create(exchangeTo("SO-P-C5", "SKU-RED-L"))
			p.status(domain.StatusAwaitingShipment)
			p.cmd("shipping-choice", map[string]any{"method": "dropoff"})
			r := p.until("label", func(r domain.Return) bool { return r.TrackingNumber != "" })
			p.scan(r.TrackingNumber, "in_transit")
		}
		p.status(domain.Status(stage))
		p.cmd("cancel", map[string]any{"reason": "changed plans"})
		return domain.StatusCancelled
	}
}

// attention_retry_abandon: the replacement SKU is unknown to the inventory
// (a business refusal): support retries, it fails again, support abandons
// and cancels by hand.
func attentionRetryAbandon(p *path) domain.Status {
	p.create(exchangeTo("SO-P-ATT", "SKU-NOPE-1"))
	p.status(domain.StatusNeedsAttention)
	p.cmd("attention", map[string]any{"action": "retry"})
	p.until("second failure", func(r domain.Return) bool {
		return r.Status == domain.StatusNeedsAttention && countEvents(r, "needs_attention") == 2
	})
	p.cmd("attention", map[string]any{"action": "abandon", "outcome": "cancelled", "note": "told the customer by phone"})
	return domain.StatusCancelled
}

// attention_retry_succeeds: support adds the SKU to the catalog and retries.
func attentionRetrySucceeds(p *path) domain.Status {
	p.create(exchangeTo("SO-P-ATT2", "SKU-NOPE-2"))
	p.status(domain.StatusNeedsAttention)
	body := strings.NewReader(`{"available": 3, "unit_price": {"amount": 19900, "currency": "CNY"}}`)
	req, _ := http.NewRequest("PUT", p.d.simURL(2, "/v1/stock/SKU-NOPE-2"), body)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		p.fail("stock the SKU: %v", err)
	}
	resp.Body.Close()
	p.cmd("attention", map[string]any{"action": "retry"})
	p.status(domain.StatusAwaitingShipment)
	p.shipDropoffAndPass()
	return domain.StatusCompleted
}

func exchangeInStock(p *path) domain.Status {
	p.create(exchangeTo("SO-P-EX", "SKU-RED-L"))
	p.status(domain.StatusAwaitingShipment)
	p.shipDropoffAndPass()
	r := p.get()
	p.scan(r.ReplacementTrackingNumber, "delivered")
	return domain.StatusCompleted
}

// advance_exchange: a VIP gets the replacement before sending anything back
// under a hold, which is voided once the return passes.
func advanceExchange(p *path) domain.Status {
	p.create(vip(exchangeTo("SO-P-ADV", "SKU-BLUE-L")))
	p.until("replacement shipped", func(r domain.Return) bool {
		return r.ReplacementTrackingNumber != "" && r.Status == domain.StatusAwaitingShipment
	})
	p.shipDropoffAndPass()
	return domain.StatusCompleted
}

func repair(p *path) domain.Status {
	p.create(request("SO-P-REP", "defective", "repair"))
	p.cmd("shipping-choice", map[string]any{"method": "dropoff"})
	r := p.until("label", func(r domain.Return) bool { return r.TrackingNumber != "" })
	p.scan(r.TrackingNumber, "delivered")
	p.until("arrival", func(r domain.Return) bool { return r.WaitingOn != nil && *r.WaitingOn == domain.WaitingWarehouse })
	p.cmd("inspection", map[string]any{"items": []any{map[string]any{"line_id": "L1", "result": "pass", "disposition": "repair"}}})
	p.until("in repair", func(r domain.Return) bool { return r.Deadline != nil && r.Deadline.Kind == "repair" })
	p.cmd("repair-done", map[string]any{"line_id": "L1", "note": "new switch"})
	return domain.StatusCompleted
}

// vip_fast_lane: a VIP is refunded at the first carrier scan, before
// inspection; inspection then passes and nothing more is paid.
func vipFastLane(p *path) domain.Status {
	p.create(vip(request("SO-P-VIP", "changed_mind", "refund")))
	p.cmd("shipping-choice", map[string]any{"method": "dropoff"})
	r := p.until("label", func(r domain.Return) bool { return r.TrackingNumber != "" })
	p.scan(r.TrackingNumber, "in_transit")
	p.until("fast-lane refund", func(r domain.Return) bool { return r.RefundTotal.Amount > 0 })
	p.scan(r.TrackingNumber, "delivered")
	p.until("arrival", func(r domain.Return) bool { return r.WaitingOn != nil && *r.WaitingOn == domain.WaitingWarehouse })
	p.cmd("inspection", map[string]any{"items": []any{map[string]any{"line_id": "L1", "result": "pass", "disposition": "restock"}}})
	return domain.StatusCompleted
}

func returnless(p *path) domain.Status {
	req := request("SO-P-KEEP", "damaged_in_transit", "keep")
	req["lines"].([]any)[0].(map[string]any)["sku"] = "SKU-MUG"
	req["lines"].([]any)[0].(map[string]any)["unit_price"] = map[string]any{"amount": 2500, "currency": "CNY"}
	p.create(req)
	return domain.StatusCompleted
}

// carrier_claim: the parcel is damaged in transit; a claim is opened with the
// tracking record while the parcel goes on, and the return completes.
func carrierClaim(p *path) domain.Status {
	p.create(request("SO-P-CLM", "defective", "refund"))
	p.cmd("shipping-choice", map[string]any{"method": "dropoff"})
	r := p.until("label", func(r domain.Return) bool { return r.TrackingNumber != "" })
	p.scan(r.TrackingNumber, "in_transit")
	p.scan(r.TrackingNumber, "exception")
	p.until("claim", func(r domain.Return) bool { return r.ClaimID != "" })
	p.scan(r.TrackingNumber, "delivered")
	p.until("arrival", func(r domain.Return) bool { return r.WaitingOn != nil && *r.WaitingOn == domain.WaitingWarehouse })
	p.cmd("inspection", map[string]any{"items": []any{map[string]any{"line_id": "L1", "result": "pass", "disposition": "restock"}}})
	return domain.StatusCompleted
}

// worstCase is the largest return the caps allow, driven down the longest
// path: 50 lines at every cap (4-byte characters in every text), every SLA
// reminder and escalation, three requests for information, 100 notes,
// three out-of-stock rounds on each of 25 exchange lines, 100 exception
// scans, and one inspection per line. Its recorded history is the measured
// worst case stated in the README.
func worstCase(p *path) domain.Status {
	text := func(n int) string { return strings.Repeat("𝕏", n) }
	photos := func(tag string) []string {
		out := make([]string, domain.MaxPhotos)
		for i := range out {
			u := fmt.Sprintf("https://img.example/%s/%d/", tag, i)
			out[i] = u + strings.Repeat("p", domain.MaxURLLen-len(u))
		}
		return out
	}
	id := func(prefix string, i int) string {
		s := fmt.Sprintf("%s-%02d-", prefix, i)
		return s + strings.Repeat("x", domain.MaxIDLen-len(s))
	}
	// The exchanges' replacement is sold out until the end: its own SKU,
	// so no other path's stock moves it.
	const worstSKU = "SKU-WORST-XXL"
	if err := p.d.setStock(worstSKU, 0); err != nil {
		p.fail("%v", err)
	}
	var lines []any
	for i := 0; i < domain.MaxLines; i++ {
		l := map[string]any{"line_id": id("L", i), "sku": id("SKU-W", i), "batch": id("B", i), "quantity": 1,
			"unit_price": map[string]any{"amount": 19900, "currency": "CNY"}, "reason": "changed_mind", "resolution": "refund",
			"photos": photos(fmt.Sprint(i)), "comment": text(domain.MaxTextLen)}
		if i%2 == 0 {
			l["resolution"], l["exchange_sku"], l["reason"] = "exchange", worstSKU, "size_fit"
		}
		lines = append(lines, l)
	}
	req := map[string]any{"order_id": id("SO-W", 0), "kind": "exchange", "delivered_at": time.Now().Add(-48 * time.Hour).UTC().Format(time.RFC3339), "channel": "web",
		"customer": map[string]any{"id": id("C-W", 0), "tier": "standard", "locale": "en", "email": "worst@example.com"}, "lines": lines}
	p.create(req)
	for i := 0; i < domain.MaxNotes; i++ {
		p.cmd("notes", map[string]any{"note": text(domain.MaxTextLen)})
	}
	p.until("supervisor escalation", func(r domain.Return) bool { return len(r.SLABreaches) == 2 })
	for i := 0; i < domain.MaxInfoRounds; i++ {
		p.cmd("request-info", map[string]any{"question": text(domain.MaxTextLen)})
		p.status(domain.StatusInfoRequested)
		p.cmd("info", map[string]any{"answer": text(domain.MaxTextLen), "photos": photos("info")})
		p.status(domain.StatusPendingReview)
	}
	p.cmd("approve", map[string]any{"note": text(domain.MaxTextLen)})
	for choices := 0; ; {
		r := p.until("a choice or the shipping choice", func(r domain.Return) bool {
			return r.Status == domain.StatusAwaitingChoice || r.Status == domain.StatusAwaitingShipment
		})
		if r.Status == domain.StatusAwaitingShipment {
			if choices != 25*3 {
				p.fail("made %d exchange choices, want 75", choices)
			}
			break
		}
		choices++
		choice := map[string]any{"choice": "variant", "sku": worstSKU} // still sold out
		if choices%3 == 0 {
			choice = map[string]any{"choice": "wait"} // backorder on the last round
		}
		p.cmd("exchange-choice", choice)
		p.until("the choice applied", func(x domain.Return) bool {
			return x.Seq > r.Seq && x.Status != domain.StatusAwaitingChoice || countEvents(x, "exchange_choice") == choices
		})
	}
	p.cmd("shipping-choice", map[string]any{"method": "dropoff"})
	r := p.until("label", func(r domain.Return) bool { return r.TrackingNumber != "" })
	for i := 0; i < domain.MaxCarrierEvents; i++ {
		p.scan(r.TrackingNumber, "exception")
	}
	p.scan(r.TrackingNumber, "delivered")
	p.until("arrival", func(r domain.Return) bool { return r.WaitingOn != nil && *r.WaitingOn == domain.WaitingWarehouse })
	for i := 0; i < domain.MaxLines; i++ {
		p.cmd("inspection", map[string]any{"items": []any{map[string]any{"line_id": id("L", i), "result": "pass", "disposition": "restock",
			"note": text(domain.MaxTextLen), "photos": photos("insp")}}})
	}
	// Waiting for restock really waits: the stock comes back, and the
	// inventory's event lets every waiting line reserve and ship.
	p.until("waiting for the restock", func(r domain.Return) bool { return r.Deadline != nil && r.Deadline.Kind == "restock" })
	if code, err := p.d.restock(worstSKU, domain.MaxLines, "worst-restock-1"); err != nil || code != 200 {
		p.fail("restock: %d %v", code, err)
	}
	return domain.StatusCompleted
}
