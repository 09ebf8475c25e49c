package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/webhook"
)

// TestRestockWebhookShipsTheWaitingExchange: a replacement sold out, the
// customer waits; the return ships nothing from empty stock and waits for
// the inventory's restock event, which the inventory system delivers to
// the API's signed webhook; then the replacement is reserved and ships.
func TestRestockWebhookShipsTheWaitingExchange(t *testing.T) {
	d := newDev(t, "")
	const sku = "SKU-RESTOCK-E2E"
	put := func(available int) {
		t.Helper()
		if err := d.setStock(sku, available); err != nil {
			t.Fatal(err)
		}
	}
	put(0)
	id := d.create(exchangeTo("SO-RS-1", sku))
	d.waitStatus(id, domain.StatusAwaitingChoice)
	d.mustCall("POST", "/v1/returns/"+id+"/exchange-choice", map[string]any{"choice": "wait"}, 200)
	r := d.chooseShipping(id, "dropoff")
	d.scan(r.TrackingNumber, "picked_up")
	d.scan(r.TrackingNumber, "delivered")
	d.waitFor(id, "arrival", func(r domain.Return) bool { return r.WaitingOn != nil && *r.WaitingOn == domain.WaitingWarehouse })
	d.mustCall("POST", "/v1/returns/"+id+"/inspection", map[string]any{"items": []any{map[string]any{"line_id": "L1", "result": "pass", "disposition": "restock"}}}, 200)
	r = d.waitFor(id, "waiting for the restock", func(r domain.Return) bool { return r.Deadline != nil && r.Deadline.Kind == "restock" })
	if r.Status != domain.StatusResolving || len(r.AwaitingRestock) != 1 || r.Lines[0].Replacement.Shipped {
		t.Fatalf("waiting for restock: %s %v shipped %v", r.Status, r.AwaitingRestock, r.Lines[0].Replacement.Shipped)
	}

	put(3)
	ev := map[string]any{"event_id": "inv-e2e-1", "sku": sku, "available": 3, "at": time.Now().UTC().Format(time.RFC3339)}
	raw, _ := json.Marshal(ev)
	req, _ := http.NewRequest("POST", d.url("/v1/webhooks/inventory"), bytes.NewReader(raw))
	req.Header.Set(webhook.Header, webhook.Sign([]byte(secret), time.Now(), raw))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Told []string `json:"told"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(out.Told) != 1 || out.Told[0] != id {
		t.Fatalf("inventory webhook: %d %+v", resp.StatusCode, out)
	}
	// Unsigned, it is refused.
	req, _ = http.NewRequest("POST", d.url("/v1/webhooks/inventory"), bytes.NewReader(raw))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Fatalf("an unsigned restock event: %v %v", err, resp)
	}
	r = d.waitStatus(id, domain.StatusCompleted)
	if !r.Lines[0].Replacement.Shipped || r.ReplacementTrackingNumber == "" || len(r.AwaitingRestock) != 0 {
		t.Fatalf("after the restock: %+v", r.Lines[0].Replacement)
	}
}

// setStock sets a SKU's stock in the inventory simulator (a new SKU costs
// 199.00).
func (d *dev) setStock(sku string, available int) error {
	raw, _ := json.Marshal(map[string]any{"available": available, "unit_price": map[string]any{"amount": 19900, "currency": "CNY"}})
	req, _ := http.NewRequest("PUT", d.simURL(2, "/v1/stock/"+sku), bytes.NewReader(raw))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("set stock of %s: %s", sku, resp.Status)
	}
	return nil
}

// restock sets a SKU's stock and sends the inventory's signed restock
// event, as the inventory system would.
func (d *dev) restock(sku string, available int, eventID string) (int, error) {
	if err := d.setStock(sku, available); err != nil {
		return 0, err
	}
	raw, _ := json.Marshal(map[string]any{"event_id": eventID, "sku": sku, "available": available, "at": time.Now().UTC().Format(time.RFC3339)})
	req, _ := http.NewRequest("POST", d.url("/v1/webhooks/inventory"), bytes.NewReader(raw))
	req.Header.Set(webhook.Header, webhook.Sign([]byte(secret), time.Now(), raw))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
