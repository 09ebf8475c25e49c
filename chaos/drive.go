package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/topology"
)

// plan is how one scenario drives its return: the customer's, support's
// and the warehouse's part. The driver reacts to the return's state as the
// read model shows it, so a command refused by a race (409) or lost to a
// crash (5xx, retried with the same Idempotency-Key) never derails it.
type plan struct {
	name    string
	request func(n int) map[string]any
	// review is support's answer in pending_review: approve (default),
	// decline, or info (ask, then approve once answered).
	review   string
	cancelAt domain.Status // cancel when the return reaches this status
	ship     string        // pickup, dropoff, or none (never chosen: expiry)
	choice   map[string]any
	inspect  func(r domain.Return) []any
	// instantScan: the carrier scans the parcel the instant its label
	// exists, racing the workflow that is still routing it.
	instantScan bool
	// raceCancel sends a cancel together with the shipping choice (the
	// label is being booked) or with the first scan (the VIP refund is
	// being paid).
	raceCancel string
	// raceReceive sends the warehouse's receipt with the first scan, while
	// the VIP fast-lane refund is in flight.
	raceReceive bool
	// attention: the exchange SKU is unknown to the inventory, so the
	// return needs support: "retry" stocks it and retries, "leave" leaves it
	// for support.
	attention string
	repair    bool
}

func line(id, sku string, price int64, reason, resolution string) map[string]any {
	l := map[string]any{"line_id": id, "sku": sku, "batch": "B2026-11", "quantity": 1,
		"unit_price": map[string]any{"amount": price, "currency": "CNY"}, "reason": reason, "resolution": resolution}
	if reason != "changed_mind" && reason != "size_fit" {
		l["photos"] = []string{"https://img.example/" + id + ".jpg"}
	}
	return l
}

func req(n int, tier, kind string, lines ...map[string]any) map[string]any {
	ls := make([]any, len(lines))
	for i, l := range lines {
		ls[i] = l
	}
	return map[string]any{"order_id": fmt.Sprintf("SO-CH-%d", n), "kind": kind,
		"delivered_at": time.Now().Add(-48 * time.Hour).UTC().Format(time.RFC3339), "channel": "web",
		"customer": map[string]any{"id": fmt.Sprintf("C-CH-%d", n), "tier": tier, "locale": []string{"en", "zh-CN"}[n%2], "email": fmt.Sprintf("c%d@example.com", n)},
		"lines":    ls}
}

func exchange(sku string) func(n int) map[string]any {
	return func(n int) map[string]any {
		l := line("L1", "SKU-RED-M", 19900, "defective", "exchange")
		l["exchange_sku"] = sku
		return req(n, "standard", "exchange", l)
	}
}

func simple(tier, reason, resolution string) func(n int) map[string]any {
	return func(n int) map[string]any {
		return req(n, tier, "return", line("L1", "SKU-RED-M", 19900, reason, resolution))
	}
}

// plans are the scenarios, one return each in turn: every kind and path.
func plans() []plan {
	unknown := func(n int) map[string]any { return exchange(fmt.Sprintf("SKU-NEW-%d", n))(n) }
	vipExchange := func(n int) map[string]any {
		r := exchange("SKU-BLUE-L")(n)
		r["customer"].(map[string]any)["tier"] = "vip"
		return r
	}
	return []plan{
		{name: "auto_refund_pickup", request: simple("standard", "defective", "refund"), ship: "pickup", instantScan: true},
		{name: "manual_approve_dropoff", request: simple("standard", "changed_mind", "refund"), ship: "dropoff"},
		{name: "manual_decline", request: simple("standard", "changed_mind", "refund"), review: "decline"},
		{name: "request_info", request: simple("standard", "changed_mind", "refund"), review: "info", ship: "dropoff"},
		{name: "exchange_in_stock", request: exchange("SKU-RED-L"), ship: "pickup", instantScan: true},
		{name: "exchange_out_of_stock", request: exchange("SKU-RED-XXL"), ship: "dropoff", choice: map[string]any{"choice": "variant", "sku": "SKU-RED-XL"}},
		{name: "advance_exchange", request: vipExchange, ship: "dropoff"},
		{name: "vip_fast_lane", request: simple("vip", "changed_mind", "refund"), ship: "dropoff", raceReceive: true},
		{name: "expiry", request: simple("standard", "defective", "refund"), ship: "none"},
		{name: "cancel_pending_review", request: simple("standard", "changed_mind", "refund"), cancelAt: domain.StatusPendingReview},
		{name: "cancel_info_requested", request: simple("standard", "changed_mind", "refund"), review: "info", cancelAt: domain.StatusInfoRequested},
		{name: "cancel_awaiting_choice", request: exchange("SKU-RED-XXL"), cancelAt: domain.StatusAwaitingChoice},
		{name: "cancel_awaiting_shipment", request: exchange("SKU-RED-L"), ship: "dropoff", cancelAt: domain.StatusAwaitingShipment},
		{name: "cancel_in_transit", request: exchange("SKU-RED-L"), ship: "pickup", cancelAt: domain.StatusInTransit},
		{name: "race_cancel_label", request: simple("standard", "defective", "refund"), ship: "pickup", raceCancel: "label"},
		{name: "race_cancel_refund", request: simple("vip", "changed_mind", "refund"), ship: "dropoff", raceCancel: "scan"},
		{name: "partial_inspection", request: func(n int) map[string]any {
			return req(n, "standard", "return", line("L1", "SKU-RED-M", 19900, "defective", "refund"), line("L2", "SKU-LAMP", 9900, "defective", "refund"))
		}, ship: "dropoff", inspect: func(domain.Return) []any {
			return []any{map[string]any{"line_id": "L1", "result": "pass", "disposition": "restock"},
				map[string]any{"line_id": "L2", "result": "fail", "disposition": "quarantine", "note": "water damage, not a defect"}}
		}},
		{name: "repair", request: simple("standard", "defective", "repair"), ship: "dropoff", repair: true, inspect: func(domain.Return) []any {
			return []any{map[string]any{"line_id": "L1", "result": "pass", "disposition": "repair"}}
		}},
		{name: "store_credit", request: simple("standard", "defective", "store_credit"), ship: "dropoff"},
		{name: "reship", request: func(n int) map[string]any {
			return req(n, "standard", "return", line("L1", "SKU-LAMP", 9900, "missing_parts", "reship"))
		}},
		{name: "returnless", request: func(n int) map[string]any {
			return req(n, "standard", "return", line("L1", "SKU-MUG", 2500, "damaged_in_transit", "keep"))
		}},
		{name: "ineligible", request: func(n int) map[string]any {
			r := simple("standard", "changed_mind", "refund")(n)
			r["delivered_at"] = time.Now().Add(-60 * 24 * time.Hour).UTC().Format(time.RFC3339)
			return r
		}},
		{name: "attention_retry", request: unknown, ship: "dropoff", attention: "retry"},
		{name: "attention_left", request: unknown, attention: "leave"},
	}
}

// driver talks to the API and the carrier simulator.
type driver struct {
	sys *topology.System
	hc  *http.Client
	run string
	// counts of what races answered, for the report.
	mu      sync.Mutex
	refused map[string]int
	errs    []string
}

func (d *driver) note(kind string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.refused[kind]++
}

func (d *driver) problem(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.errs) < 50 {
		d.errs = append(d.errs, fmt.Sprintf(format, args...))
	}
}

// call sends one request; code 0 means no answer (a crash, a restart).
func (d *driver) call(ctx context.Context, method, url string, body any, key string) (int, []byte) {
	for {
		code, out, wait := d.callOnce(ctx, method, url, body, key)
		if code != http.StatusTooManyRequests {
			return code, out
		}
		// Rate limited: wait as the API asks, as a well-behaved client does.
		select {
		case <-ctx.Done():
			return code, out
		case <-time.After(wait):
		}
	}
}

func (d *driver) callOnce(ctx context.Context, method, url string, body any, key string) (int, []byte, time.Duration) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil, 0
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		return 0, nil, 0
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	wait := time.Second
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		wait = time.Duration(s) * time.Second
	}
	return resp.StatusCode, out, wait
}

// command sends a command until it is answered: 200 (applied), 409
// (refused by the return's state) or 422 (refused input). No answer or a
// 5xx is retried with the same Idempotency-Key, so it applies once.
func (d *driver) command(ctx context.Context, id, name string, body any, key string) int {
	for attempt := 0; ctx.Err() == nil; attempt++ {
		code, out := d.call(ctx, "POST", d.sys.APIURL+"/v1/returns/"+id+"/"+name, body, key)
		switch {
		case code == 200:
			return code
		case code == 409:
			d.note(name + " refused (409)")
			return code
		case code == 422 || code == 400:
			d.problem("%s %s: %d %s", id, name, code, strings.TrimSpace(string(out)))
			return code
		}
		sleep(ctx, time.Duration(min(attempt+1, 5))*500*time.Millisecond)
	}
	return 0
}

func (d *driver) get(ctx context.Context, id string) (domain.Return, bool) {
	code, out := d.call(ctx, "GET", d.sys.APIURL+"/v1/returns/"+id, nil, "")
	if code != 200 {
		return domain.Return{}, false
	}
	var r domain.Return
	if err := json.Unmarshal(out, &r); err != nil {
		return domain.Return{}, false
	}
	return r, true
}

// scan makes the carrier simulator scan a parcel now (a signed webhook).
func (d *driver) scan(ctx context.Context, tracking, typ string) {
	d.call(ctx, "POST", d.sys.SimURL(1)+"/v1/parcels/"+tracking+"/events", map[string]any{"type": typ, "detail": "chaos scan"}, "")
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// created is one return the run opened.
type created struct {
	id   string
	plan string
	left bool // left in needs_attention for support on purpose
}

// drive opens return n of plan p and plays every party until the return is
// final, or in needs_attention on purpose.
func (d *driver) drive(ctx context.Context, p plan, n int) created {
	c := created{plan: p.name}
	key := fmt.Sprintf("%s-%d", d.run, n)
	for attempt := 0; ctx.Err() == nil; attempt++ {
		code, out := d.call(ctx, "POST", d.sys.APIURL+"/v1/returns", p.request(n), key)
		if code == 200 || code == 201 {
			var r domain.Return
			_ = json.Unmarshal(out, &r)
			c.id = r.ID
			break
		}
		if code >= 400 && code < 500 {
			d.problem("create %d (%s): %d %s", n, p.name, code, out)
			return c
		}
		sleep(ctx, time.Duration(min(attempt+1, 5))*500*time.Millisecond)
	}
	if c.id == "" {
		return c
	}
	id := c.id
	done := map[string]bool{}
	once := func(what string, fn func() int) {
		if done[what] {
			return
		}
		if code := fn(); code != 0 {
			done[what] = true
		}
	}
	cmd := func(name string, body any) func() int {
		return func() int { return d.command(ctx, id, name, body, id+"-"+name) }
	}
	for ctx.Err() == nil {
		r, ok := d.get(ctx, id)
		if !ok {
			sleep(ctx, 300*time.Millisecond)
			continue
		}
		if r.Status.Final() {
			return c
		}
		if r.Status == domain.StatusNeedsAttention {
			if p.attention == "leave" {
				c.left = true
				return c
			}
			if p.attention == "retry" && !done["stock"] {
				sku := r.Lines[0].ExchangeSKU
				code, _ := d.call(ctx, "PUT", d.sys.SimURL(2)+"/v1/stock/"+sku, map[string]any{"available": 1000, "unit_price": map[string]any{"amount": 19900, "currency": "CNY"}}, "")
				done["stock"] = code == 200
			}
			// Support retries once the cause is fixed (a partner that
			// exhausted its retries is back, too).
			if r.Attention != nil {
				since := r.Attention.Since.Format(time.RFC3339Nano)
				once("attention "+since, func() int {
					return d.command(ctx, id, "attention", map[string]any{"action": "retry"}, id+"-attention-"+since)
				})
			}
			sleep(ctx, 300*time.Millisecond)
			continue
		}
		if p.cancelAt == r.Status && (p.cancelAt != domain.StatusAwaitingShipment || r.TrackingNumber != "") {
			once("cancel", cmd("cancel", map[string]any{"reason": "chaos: changed plans"}))
		}
		switch r.Status {
		case domain.StatusPendingReview:
			switch p.review {
			case "decline":
				once("decline", cmd("decline", map[string]any{"reason": "chaos: worn"}))
			case "info":
				if !done["info"] {
					once("request-info", cmd("request-info", map[string]any{"question": "a photo of the label?"}))
				} else {
					once("approve", cmd("approve", map[string]any{"note": "chaos"}))
				}
			default:
				if p.cancelAt != domain.StatusPendingReview {
					once("approve", cmd("approve", map[string]any{"note": "chaos"}))
				}
			}
		case domain.StatusInfoRequested:
			if p.cancelAt != domain.StatusInfoRequested {
				once("info", cmd("info", map[string]any{"answer": "here", "photos": []string{"https://img.example/label.jpg"}}))
			}
		case domain.StatusAwaitingChoice:
			if p.choice != nil {
				once("exchange-choice", cmd("exchange-choice", p.choice))
			}
		case domain.StatusAwaitingShipment:
			if r.TrackingNumber == "" && p.ship != "none" && p.ship != "" && !done["ship"] {
				var race sync.WaitGroup
				if p.raceCancel == "label" {
					race.Add(1)
					go func() {
						defer race.Done()
						d.command(ctx, id, "cancel", map[string]any{"reason": "chaos: cancel while the label is booked"}, id+"-cancel")
					}()
				}
				once("ship", cmd("shipping-choice", map[string]any{"method": p.ship}))
				race.Wait()
				if p.raceCancel == "label" {
					done["cancel"] = true
				}
			}
			if r.TrackingNumber != "" && !done["first-scan"] && (p.instantScan || p.raceCancel == "scan" || p.raceReceive) {
				done["first-scan"] = true
				var race sync.WaitGroup
				race.Add(1)
				go func() { defer race.Done(); d.scan(ctx, r.TrackingNumber, "picked_up") }()
				switch {
				case p.raceCancel == "scan":
					once("cancel", cmd("cancel", map[string]any{"reason": "chaos: cancel while the refund is paid"}))
				case p.raceReceive:
					once("receive", cmd("receive", map[string]any{}))
				}
				race.Wait()
			}
		}
		if r.WaitingOn != nil && *r.WaitingOn == domain.WaitingWarehouse && r.Status != domain.StatusAwaitingShipment {
			items := []any{}
			if p.inspect != nil {
				items = p.inspect(r)
			} else {
				for _, l := range r.Lines {
					items = append(items, map[string]any{"line_id": l.LineID, "result": "pass", "disposition": "restock"})
				}
			}
			once("inspection", cmd("inspection", map[string]any{"items": items}))
		}
		if r.Deadline != nil && r.Deadline.Kind == "inspection_answer" {
			// The customer answers a failed line: the merchant may dispose
			// of it.
			once("inspection-answer", cmd("inspection-answer", map[string]any{"choice": "dispose"}))
		}
		if p.repair && r.Deadline != nil && r.Deadline.Kind == "repair" {
			once("repair-done", cmd("repair-done", map[string]any{"line_id": "L1", "note": "new switch"}))
		}
		sleep(ctx, 400*time.Millisecond)
	}
	return c
}
