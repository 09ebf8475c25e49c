package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"

	_ "github.com/lib/pq" // read-model checks
	"github.com/rma-dev/rma/codec"
	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/webhook"
	"github.com/rma-dev/rma/workflows"
)

// fastPolicy scales the pickup deadline and buffer to seconds.
const fastPolicy = `shipping:
  pickup_within: 6s
  pickup_reminder_before: 2s
  logistics_buffer: 3s
`

// TestDev runs one `rma dev` and drives it through the paths users take.
func TestDev(t *testing.T) {
	d := newDev(t, fastPolicy)

	t.Run("standard return completes with the exact refund, once", func(t *testing.T) {
		d.t = t
		firstReq := returnRequest("SO-E2E-1", "C-E2E-1", "SKU-RED-M", 19900, "defective", "refund")
		code, out := d.call("POST", "/v1/returns", firstReq, "Idempotency-Key", "e2e-standard-1")
		id, _ := out["id"].(string)
		if code != 201 || out["status"] != "awaiting_shipment" {
			t.Fatalf("create: %d %v (the answer shows the decision at once)", code, out)
		}
		if code, again := d.call("POST", "/v1/returns", firstReq, "Idempotency-Key", "e2e-standard-1"); code != 200 || again["id"] != id {
			t.Fatalf("repeat: %d %v", code, again)
		}
		d.waitStatus(id, domain.StatusAwaitingShipment)
		r := d.shipAndPass(id, "pickup", "picked_up")
		if r.RefundTotal.Amount != 19900 || r.RefundTotal.Currency != "CNY" || r.FeesTotal.Amount != 0 {
			t.Fatalf("refund %v fees %v", r.RefundTotal, r.FeesTotal)
		}
		var ledger []map[string]any
		getJSON(t, d.simURL(3, "/v1/ledger?rma_id="+id), &ledger)
		if len(ledger) != 1 || ledger[0]["kind"] != "refund" || ledger[0]["key"] != id+"/L1/refund" || ledger[0]["amount"].(map[string]any)["amount"].(float64) != 19900 {
			t.Fatalf("ledger: %v", ledger)
		}
		d.mustCall("POST", "/v1/returns/"+id+"/survey", map[string]any{"score": 5, "comment": "quick"}, 200)
		checkSummaries(t, d, id)
		recordHistory(t, d, id, "standard_refund")

		// The workflow has ended: commands answer 409 with the status, never
		// 404, and the survey takes one answer.
		for _, cmd := range []string{"approve", "cancel", "receive"} {
			code, out := d.call("POST", "/v1/returns/"+id+"/"+cmd, map[string]any{})
			e, _ := out["error"].(map[string]any)
			if code != 409 || e["code"] != "invalid_transition" || e["status"] != "completed" {
				t.Fatalf("%s on a completed return: %d %v", cmd, code, out)
			}
		}
		if code, out := d.call("POST", "/v1/returns/"+id+"/survey", map[string]any{"score": 4}); code != 409 {
			t.Fatalf("second survey: %d %v", code, out)
		}

		if r := d.get(id); r.Status != domain.StatusCompleted || r.Survey == nil || r.Survey.Score != 5 {
			t.Fatalf("read model: %+v", r)
		}
	})

	t.Run("an idempotency key outlives the workflow", func(t *testing.T) {
		d.t = t
		req := returnRequest("SO-E2E-KEY", "C-E2E-KEY", "SKU-RED-M", 19900, "changed_mind", "refund")
		code, out := d.call("POST", "/v1/returns", req, "Idempotency-Key", "e2e-key-1")
		id, _ := out["id"].(string)
		if code != 201 || out["status"] != "pending_review" {
			t.Fatalf("create: %d %v", code, out)
		}
		// Temporal forgets the workflow (retention, or an operator deleting
		// it); PostgreSQL still knows the key.
		settledHistoryLength(t, d, id)
		c, err := d.dial()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.WorkflowService().DeleteWorkflowExecution(context.Background(), &workflowservice.DeleteWorkflowExecutionRequest{
			Namespace: "default", WorkflowExecution: &commonpb.WorkflowExecution{WorkflowId: workflows.WorkflowID(id)}}); err != nil {
			t.Fatal(err)
		}
		for i := 0; ; i++ {
			if _, err := c.DescribeWorkflowExecution(context.Background(), workflows.WorkflowID(id), ""); err != nil {
				break
			}
			if i > 100 {
				t.Fatal("the workflow was not deleted")
			}
			time.Sleep(100 * time.Millisecond)
		}
		if code, out := d.call("POST", "/v1/returns", req, "Idempotency-Key", "e2e-key-1"); code != 200 || out["id"] != id {
			t.Fatalf("same key, same body: %d %v", code, out)
		}
		other := returnRequest("SO-E2E-KEY-2", "C-E2E-KEY", "SKU-RED-M", 19900, "changed_mind", "refund")
		if code, out := d.call("POST", "/v1/returns", other, "Idempotency-Key", "e2e-key-1"); code != 409 || out["error"].(map[string]any)["code"] != "idempotency_conflict" {
			t.Fatalf("same key, other body: %d %v", code, out)
		}
		code, out = d.call("POST", "/v1/returns/"+id+"/approve", map[string]any{})
		if e, _ := out["error"].(map[string]any); code != 409 || e["status"] != "pending_review" {
			t.Fatalf("a command to a return Temporal forgot: %d %v", code, out)
		}
	})

	t.Run("exchange ships its replacement", func(t *testing.T) {
		d.t = t
		req := returnRequest("SO-E2E-2", "C-E2E-2", "SKU-RED-M", 19900, "defective", "exchange")
		req["lines"].([]any)[0].(map[string]any)["exchange_sku"] = "SKU-RED-L"
		id := d.create(req)
		d.waitStatus(id, domain.StatusAwaitingShipment)
		r := d.shipAndPass(id, "dropoff", "in_transit")
		if r.ReplacementTrackingNumber == "" || r.Lines[0].Replacement == nil || !r.Lines[0].Replacement.Shipped || r.Lines[0].Replacement.SKU != "SKU-RED-L" {
			t.Fatalf("replacement not shipped: %+v", r.Lines[0].Replacement)
		}
		var parcels struct {
			Shipped []struct {
				RMAID   string `json:"rma_id"`
				SKU     string `json:"sku"`
				Purpose string `json:"purpose"`
			} `json:"shipped"`
		}
		getJSON(t, d.simURL(1, "/v1/parcels"), &parcels)
		found := false
		for _, s := range parcels.Shipped {
			found = found || (s.RMAID == id && s.SKU == "SKU-RED-L" && s.Purpose == "replacement")
		}
		if !found {
			t.Fatalf("carrier has no replacement shipment for %s: %+v", id, parcels)
		}
		// The replacement's delivery is tracked on the timeline.
		d.scan(r.ReplacementTrackingNumber, "delivered")
		d.waitFor(id, "replacement delivered", func(r domain.Return) bool { return r.Lines[0].Replacement.Delivered })
		recordHistory(t, d, id, "exchange_replacement_tracked")
	})

	t.Run("manual approval through the CLI", func(t *testing.T) {
		d.t = t
		id := d.create(returnRequest("SO-E2E-3", "C-E2E-3", "SKU-RED-M", 19900, "changed_mind", "refund"))
		d.waitStatus(id, domain.StatusPendingReview)
		out, err := d.cli("return", "approve", id, "--note", "looks fine")
		if err != nil {
			t.Fatalf("rma return approve: %v\n%s", err, out)
		}
		r := d.waitStatus(id, domain.StatusAwaitingShipment)
		var byCLI bool
		for _, e := range r.Timeline {
			byCLI = byCLI || (e.Type == "approve_command" && e.Actor == "cli:e2e" && e.Detail == "looks fine")
		}
		if !byCLI {
			t.Fatalf("approval not recorded as the CLI's: %+v", r.Timeline)
		}
		out, err = d.cli("return", "approve", id)
		if err == nil || !strings.Contains(out, "refused (invalid_transition)") {
			t.Fatalf("second approve should be refused: %v\n%s", err, out)
		}
		out, err = d.cli("return", "list", "--order", "SO-E2E-3")
		if err != nil || !strings.Contains(out, id) || !strings.Contains(out, "awaiting_shipment") {
			t.Fatalf("rma return list: %v\n%s", err, out)
		}
	})

	t.Run("pickup expiry voids the label", func(t *testing.T) {
		d.t = t
		id := d.create(returnRequest("SO-E2E-4", "C-E2E-4", "SKU-LAMP", 9900, "defective", "refund"))
		d.waitStatus(id, domain.StatusAwaitingShipment)
		r := d.chooseShipping(id, "pickup")
		if r.Deadline == nil || r.Deadline.Kind != "pickup" || time.Until(r.Deadline.At) > 7*time.Second {
			t.Fatalf("deadline %+v", r.Deadline)
		}
		d.waitFor(id, "buffer", func(r domain.Return) bool { return r.Deadline != nil && r.Deadline.Kind == "pickup_buffer" })
		r = d.waitStatus(id, domain.StatusExpired)
		var parcels struct {
			Voided []string `json:"voided"`
		}
		getJSON(t, d.simURL(1, "/v1/parcels"), &parcels)
		if !strings.Contains(strings.Join(parcels.Voided, ","), r.TrackingNumber) {
			t.Fatalf("label %s not voided: %v", r.TrackingNumber, parcels.Voided)
		}
	})

	t.Run("returns are found by their search attributes", func(t *testing.T) {
		d.t = t
		id := d.create(returnRequest("SO-E2E-5", "C-E2E-5", "SKU-MUG", 2500, "changed_mind", "refund"))
		d.waitStatus(id, domain.StatusAwaitingShipment) // low value: auto-approved
		for _, q := range []string{"order_id=SO-E2E-5", "customer_id=C-E2E-5", "sku=SKU-MUG", "status=awaiting_shipment&customer_id=C-E2E-5"} {
			var found bool
			for i := 0; i < 50 && !found; i++ {
				_, out := d.call("GET", "/v1/returns?"+q, nil)
				items, _ := out["items"].([]any)
				for _, it := range items {
					found = found || it.(map[string]any)["id"] == id
				}
				if !found {
					time.Sleep(200 * time.Millisecond)
				}
			}
			if !found {
				t.Fatalf("%s did not find %s", q, id)
			}
		}
		// The same through Temporal's visibility API, as ops do in the UI.
		c, err := d.dial()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for _, q := range []string{`RmaOrderId = "SO-E2E-5"`, `RmaCustomerId = "C-E2E-5"`, `RmaSkus = "SKU-MUG"`, `RmaStatus = "awaiting_shipment" AND RmaKind = "return" AND RmaCustomerId = "C-E2E-5"`, `RmaDeadline > "2000-01-01T00:00:00Z" AND RmaOrderId = "SO-E2E-5"`} {
			var hit bool
			for i := 0; i < 50 && !hit; i++ {
				resp, err := c.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: q})
				if err != nil {
					t.Fatalf("%s: %v", q, err)
				}
				for _, e := range resp.Executions {
					hit = hit || e.Execution.WorkflowId == workflows.WorkflowID(id)
				}
				if !hit {
					time.Sleep(200 * time.Millisecond)
				}
			}
			if !hit {
				t.Fatalf("visibility query %s did not find %s", q, id)
			}
		}
		if code, out := d.call("GET", "/v1/returns?status=lost", nil); code != 422 {
			t.Fatalf("bad status filter: %d %v", code, out)
		}
	})

	t.Run("bad signatures and replayed events change nothing", func(t *testing.T) {
		d.t = t
		id := d.create(returnRequest("SO-E2E-6", "C-E2E-6", "SKU-RED-S", 19900, "defective", "refund"))
		d.waitStatus(id, domain.StatusAwaitingShipment)
		r := d.chooseShipping(id, "pickup")
		before := len(r.Timeline)
		ev := map[string]any{"event_id": "sig-1", "tracking_number": r.TrackingNumber, "type": "picked_up"}
		wrong := func(b []byte) string { return webhook.Sign([]byte("not-the-secret"), time.Now(), b) }
		stale := func(b []byte) string { return webhook.Sign([]byte(secret), time.Now().Add(-10*time.Minute), b) }
		for name, sign := range map[string]func([]byte) string{"wrong secret": wrong, "stale": stale, "missing": func([]byte) string { return "" }} {
			if code, out := d.webhook(ev, sign); code != 401 {
				t.Fatalf("%s signature: %d %v", name, code, out)
			}
		}
		time.Sleep(500 * time.Millisecond)
		if r := d.get(id); r.Status != domain.StatusAwaitingShipment || len(r.Timeline) != before {
			t.Fatalf("a refused webhook changed the return: %s %d→%d", r.Status, before, len(r.Timeline))
		}
		for i := 0; ; i++ {
			code, _ := d.webhook(ev, nil)
			if code == 202 {
				break
			}
			if i > 50 {
				t.Fatalf("valid webhook not accepted: %d", code)
			}
			time.Sleep(200 * time.Millisecond)
		}
		r = d.waitStatus(id, domain.StatusInTransit)
		after := len(r.Timeline)
		if code, out := d.webhook(ev, nil); code != 409 || out["error"].(map[string]any)["code"] != "replayed_event" {
			t.Fatalf("replay: %d %v", code, out)
		}
		time.Sleep(500 * time.Millisecond)
		if got := len(d.get(id).Timeline); got != after {
			t.Fatalf("replayed event changed the timeline: %d→%d", after, got)
		}
	})

	t.Run("completed returns show up in the KPIs and the read model", func(t *testing.T) {
		d.t = t
		// Two returns completed above (the refund and the exchange).
		code, k := d.call("GET", "/v1/analytics/kpis", nil)
		if code != 200 || k["completed_total"].(float64) < 2 || k["median_processing_seconds"] == nil || k["inspection_pass_rate"].(float64) != 1 ||
			k["satisfaction_avg"].(float64) != 5 || k["expired_total"].(float64) < 1 {
			t.Fatalf("kpis: %d %v", code, k)
		}
		out, err := d.cli("report", "kpis", "-o", "json", "--data-dir", d.dataDir)
		var rep map[string]any
		if err != nil || json.Unmarshal([]byte(out), &rep) != nil || rep["completed_total"] != k["completed_total"] {
			t.Fatalf("rma report kpis: %v\n%s", err, out)
		}
		if code, out := d.call("GET", "/v1/analytics/reasons?group_by=sku", nil); code != 200 || len(out["rows"].([]any)) == 0 {
			t.Fatalf("reasons: %d %v", code, out)
		}
		// Batch B2026-11 of SKU-RED-M sold 40 and came back 3+ times above;
		// an older batch sold 1000 with no returns: a jump.
		sales := []any{map[string]any{"sku": "SKU-RED-M", "batch": "B2026-11", "units_sold": 40}, map[string]any{"sku": "SKU-RED-M", "batch": "B2026-09", "units_sold": 1000}}
		if code, out := d.call("POST", "/v1/analytics/sales", map[string]any{"sales": sales}); code != 200 {
			t.Fatalf("sales import: %d %v", code, out)
		}
		code, anomalies := d.call("GET", "/v1/analytics/anomalies", nil)
		found, _ := anomalies["anomalies"].([]any)
		if code != 200 || len(found) != 1 || found[0].(map[string]any)["batch"] != "B2026-11" {
			t.Fatalf("anomalies: %d %v", code, anomalies)
		}
		// The Temporal Schedule (not cron) runs the check; trigger it now and
		// the quality team is told about the batch.
		c, err := d.dial()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		h := c.ScheduleClient().GetHandle(context.Background(), workflows.AnomalyScheduleID)
		desc, err := h.Describe(context.Background())
		if err != nil || desc.Schedule.Spec.Intervals[0].Every != 24*time.Hour {
			t.Fatalf("anomaly schedule: %v %+v", err, desc)
		}
		if err := h.Trigger(context.Background(), client.ScheduleTriggerOptions{}); err != nil {
			t.Fatal(err)
		}
		var alert map[string]any
		for i := 0; i < 100 && alert == nil; i++ {
			var outbox []map[string]any
			getJSON(t, d.simURL(4, "/v1/outbox"), &outbox)
			for _, m := range outbox {
				if m["to"] == "quality" && m["template"] == "batch_anomaly" {
					alert = m
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		if alert == nil {
			t.Fatal("the quality team was not told")
		}
		p := alert["params"].(map[string]any)
		if p["batch"] != "B2026-11" || p["sku"] != "SKU-RED-M" || p["sample"] != "40" || p["baseline"] != "0.0%" || p["rate"] == "" {
			t.Fatalf("alert: %v", alert)
		}
		// The list and a return's state come from the read model too.
		_, list := d.call("GET", "/v1/returns?status=completed&page_size=1", nil)
		if items := list["items"].([]any); len(items) != 1 || list["next_page_token"] == nil {
			t.Fatalf("paged list: %v", list)
		}
		id := list["items"].([]any)[0].(map[string]any)["id"].(string)
		db := readDatabaseURL(t, d)
		var status string
		if err := queryRow(db, "SELECT status FROM returns WHERE rma_id = $1", id).Scan(&status); err != nil || status != "completed" {
			t.Fatalf("read model row: %v %s", err, status)
		}
		var audit int
		if err := queryRow(db, "SELECT count(*) FROM audit WHERE rma_id = $1", id).Scan(&audit); err != nil || audit < 10 {
			t.Fatalf("audit rows: %v %d", err, audit)
		}
	})

	t.Run("API errors are precise", func(t *testing.T) {
		d.t = t
		cases := []struct {
			method, path string
			body         any
			status       int
			code         string
		}{
			{"POST", "/v1/returns", `{"order_id": `, 400, "bad_json"},
			{"POST", "/v1/returns", `{"order_id":"X","colour":"red"}`, 400, "unknown_field"},
			{"POST", "/v1/returns", `{"order_id": 7}`, 422, "invalid_field"},
			{"POST", "/v1/returns", map[string]any{"order_id": "X", "kind": "return"}, 422, "validation_failed"},
			{"GET", "/v1/returns/RMA-NOPE", nil, 404, "not_found"},
			{"POST", "/v1/returns/RMA-NOPE/approve", map[string]any{}, 404, "not_found"},
		}
		for _, c := range cases {
			code, out := d.call(c.method, c.path, c.body)
			e, _ := out["error"].(map[string]any)
			if code != c.status || e["code"] != c.code {
				t.Errorf("%s %s %v: got %d %v, want %d %s", c.method, c.path, c.body, code, out, c.status, c.code)
			}
		}
		// Bounded input: a 900 KB comment is refused, naming the field, and
		// nothing starts.
		huge := returnRequest("SO-E2E-HUGE", "C-E2E-HUGE", "SKU-RED-S", 19900, "defective", "refund")
		huge["lines"].([]any)[0].(map[string]any)["comment"] = strings.Repeat("x", 900<<10)
		code, out := d.call("POST", "/v1/returns", huge)
		if code != 422 || !strings.Contains(fmt.Sprint(out["error"].(map[string]any)["details"]), "lines[0].comment") {
			t.Errorf("900 KB comment: %d %.300v", code, out)
		}
		slash := returnRequest("SO-E2E-SLASH", "C-E2E-SLASH", "SKU-RED-S", 19900, "defective", "refund")
		slash["lines"].([]any)[0].(map[string]any)["line_id"] = "L1/refund"
		if code, out := d.call("POST", "/v1/returns", slash); code != 422 || !strings.Contains(fmt.Sprint(out), "lines[0].line_id") {
			t.Errorf("line id with a slash: %d %v", code, out)
		}
		// A wrong transition: approve a return that is already approved.
		id := d.create(returnRequest("SO-E2E-7", "C-E2E-7", "SKU-RED-S", 19900, "defective", "refund"))
		d.waitStatus(id, domain.StatusAwaitingShipment)
		before := settledHistoryLength(t, d, id)
		if code, out := d.call("POST", "/v1/returns/"+id+"/approve", map[string]any{}); code != 409 || out["error"].(map[string]any)["code"] != "invalid_transition" {
			t.Errorf("approve twice: %d %v", code, out)
		}
		if after := historyLength(t, d, id); after != before {
			t.Errorf("a refused update wrote %d events to history", after-before)
		}
		if code, out := d.call("POST", "/v1/returns/"+id+"/shipping-choice", map[string]any{"method": "teleport"}); code != 422 {
			t.Errorf("bad method: %d %v", code, out)
		}
		if code, out := d.call("POST", "/v1/returns/"+id+"/notes", map[string]any{"note": strings.Repeat("n", 2001)}); code != 422 || !strings.Contains(fmt.Sprint(out), "field:note") {
			t.Errorf("note over its cap: %d %.300v", code, out)
		}
		if after := settledHistoryLength(t, d, id); after != before {
			t.Errorf("over-cap commands reached the workflow: %d events", after-before)
		}
		req, _ := http.NewRequest("GET", d.url("/v1/returns/"+id), nil)
		if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
			t.Errorf("no token: %v %v", err, resp.StatusCode)
		}
	})
}

// TestScanTheInstantTheLabelExists: the carrier simulator scans every parcel
// a millisecond after booking its label, picked up, in transit and delivered,
// before or while the label step writes the parcel's route. No scan is lost:
// the webhook routes it, or the label step hands it back, exactly once.
func TestScanTheInstantTheLabelExists(t *testing.T) {
	d := newDevWith(t, "", "--sim-carrier", "auto", "--sim-step", "1ms")
	var ids []string
	for i := 0; i < 5; i++ {
		ids = append(ids, d.create(returnRequest(fmt.Sprintf("SO-E2E-FAST-%d", i), fmt.Sprintf("C-E2E-FAST-%d", i), "SKU-RED-M", 19900, "defective", "refund")))
	}
	for _, id := range ids {
		d.mustCall("POST", "/v1/returns/"+id+"/shipping-choice", map[string]any{"method": "pickup"}, 200)
	}
	for _, id := range ids {
		r := d.waitFor(id, "arrival", func(r domain.Return) bool { return r.WaitingOn != nil && *r.WaitingOn == domain.WaitingWarehouse })
		if n := countEvents(r, "carrier_delivered"); n != 1 {
			t.Fatalf("%s: %d delivered scans on the timeline: %+v", id, n, r.Timeline)
		}
		if r.Stages["picked_up"].IsZero() || r.Stages["delivered"].IsZero() {
			t.Fatalf("%s: stages %v", id, r.Stages)
		}
	}
}

func countEvents(r domain.Return, typ string) int {
	n := 0
	for _, e := range r.Timeline {
		if e.Type == typ {
			n++
		}
	}
	return n
}

// TestRestartResumesOpenReturns stops rma dev mid-return and starts it again
// on the same data dir: the return is still there and its timer still fires.
func TestRestartResumesOpenReturns(t *testing.T) {
	d := newDev(t, "shipping:\n  choice_within: 15s\n  choice_reminder_before: 5s\n")
	id := d.create(returnRequest("SO-E2E-R", "C-E2E-R", "SKU-RED-M", 19900, "defective", "refund"))
	r := d.waitStatus(id, domain.StatusAwaitingShipment)
	if r.Deadline == nil || r.Deadline.Kind != "shipping_choice" {
		t.Fatalf("deadline %+v", r.Deadline)
	}
	d.stop()
	d.start()
	if r := d.get(id); r.Status != domain.StatusAwaitingShipment {
		t.Fatalf("after restart: %s", r.Status)
	}
	r = d.waitStatus(id, domain.StatusExpired)
	if !strings.Contains(r.Timeline[len(r.Timeline)-1].Detail, "no shipping method chosen") {
		t.Fatalf("expired for the wrong reason: %+v", r.Timeline[len(r.Timeline)-1])
	}
}

// recordHistory writes the workflow history to $RMA_RECORD_HISTORY/<name>.json
// when set (make record-histories): the files in workflows/testdata are
// replayed by TestReplayRecordedHistories on every change to the workflow.
func recordHistory(t *testing.T, d *dev, id, name string) {
	if err := writeHistory(d, id, name); err != nil {
		t.Error(err)
	}
}

func writeHistory(d *dev, id, name string) error {
	dir := os.Getenv("RMA_RECORD_HISTORY")
	if dir == "" {
		return nil
	}
	h, err := fetchHistory(d, id)
	if err != nil {
		return err
	}
	// The corpus is kept decoded: replaying it needs no key, and the
	// replayer's codec passes plain payloads through.
	if err := codec.DecodeAll(context.Background(), d.keys(), h); err != nil {
		return err
	}
	b, err := protojson.MarshalOptions{Indent: "  "}.Marshal(h)
	if err != nil {
		return fmt.Errorf("encode history of %s: %w", id, err)
	}
	if len(b) < 1<<20 {
		return os.WriteFile(filepath.Join(dir, name+".json"), b, 0o644)
	}
	// The worst case is megabytes of repeated text: keep it compressed.
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	if _, err := zw.Write(b); err != nil {
		return fmt.Errorf("compress history of %s: %w", id, err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("compress history of %s: %w", id, err)
	}
	return os.WriteFile(filepath.Join(dir, name+".json.gz"), z.Bytes(), 0o644)
}

// fetchHistory reads a history as stored, as anyone with access to the
// Temporal server does: payloads stay encrypted (the client's codec decodes
// values, not histories).
func fetchHistory(d *dev, id string) (*historypb.History, error) {
	c, err := client.Dial(client.Options{HostPort: "127.0.0.1:" + strconv.Itoa(d.temporal)})
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	defer c.Close()
	it := c.GetWorkflowHistory(context.Background(), workflows.WorkflowID(id), "", false, 0)
	h := &historypb.History{}
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("history of %s: %w", id, err)
		}
		h.Events = append(h.Events, ev)
	}
	return h, nil
}

// chooseShipping answers the shipping choice as the customer and waits for
// the label.
func (d *dev) chooseShipping(id, method string) domain.Return {
	d.t.Helper()
	d.mustCall("POST", "/v1/returns/"+id+"/shipping-choice", map[string]any{"method": method}, 200)
	return d.waitFor(id, "label", func(r domain.Return) bool { return r.TrackingNumber != "" })
}

// shipAndPass plays customer, carrier and warehouse: the shipping choice,
// the first scan and delivery, receipt, and a passed inspection of L1.
func (d *dev) shipAndPass(id, method, firstScan string) domain.Return {
	d.t.Helper()
	r := d.chooseShipping(id, method)
	d.scan(r.TrackingNumber, firstScan)
	d.scan(r.TrackingNumber, "delivered")
	d.waitFor(id, "arrival", func(r domain.Return) bool { return r.WaitingOn != nil && *r.WaitingOn == domain.WaitingWarehouse })
	d.mustCall("POST", "/v1/returns/"+id+"/receive", map[string]any{"note": "box ok"}, 200)
	d.mustCall("POST", "/v1/returns/"+id+"/inspection", map[string]any{"items": []any{map[string]any{"line_id": "L1", "result": "pass", "disposition": "restock"}}}, 200)
	return d.waitStatus(id, domain.StatusCompleted)
}

// settledHistoryLength waits until the workflow has finished its current
// task (the create call answers before the first task runs), then reports
// the history's length.
func settledHistoryLength(t *testing.T, d *dev, id string) int {
	n := historyLength(t, d, id)
	for i := 0; i < 50; i++ {
		time.Sleep(200 * time.Millisecond)
		m := historyLength(t, d, id)
		if m == n {
			return n
		}
		n = m
	}
	t.Fatalf("history of %s never settled", id)
	return n
}

// historyLength reads a workflow's history length, waiting for the workflow
// to exist: the create call answers once the return is in PostgreSQL, and a
// launcher starts the workflow a moment later.
func historyLength(t *testing.T, d *dev, id string) int {
	c, err := d.dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := 0; ; i++ {
		desc, err := c.DescribeWorkflowExecution(context.Background(), workflows.WorkflowID(id), "")
		if err == nil {
			return int(desc.WorkflowExecutionInfo.HistoryLength)
		}
		if i > 100 {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func readDatabaseURL(t *testing.T, d *dev) string {
	b, err := os.ReadFile(filepath.Join(d.dataDir, "database-url"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func queryRow(url, q string, args ...any) *sql.Row {
	db, err := sql.Open("postgres", url)
	if err != nil {
		panic(err)
	}
	defer db.Close()
	return db.QueryRow(q, args...)
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// checkSummaries reads the history as the Temporal UI does and checks that
// activities and timers carry business summaries.
func checkSummaries(t *testing.T, d *dev, id string) {
	c, err := d.dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	it := c.GetWorkflowHistory(context.Background(), workflows.WorkflowID(id), "", false, 0)
	var activities, timers []string
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		var s string
		if p := ev.GetUserMetadata().GetSummary(); p != nil {
			if err := codec.DataConverter(d.keys()).FromPayload(p, &s); err != nil {
				t.Fatal(err)
			}
		}
		switch {
		case ev.GetActivityTaskScheduledEventAttributes() != nil:
			activities = append(activities, s)
		case ev.GetMarkerRecordedEventAttributes().GetMarkerName() == "LocalActivity":
			activities = append(activities, s)
		case ev.GetTimerStartedEventAttributes() != nil:
			timers = append(timers, s)
		}
	}
	joined := strings.Join(activities, " | ")
	for _, want := range []string{"book pickup label, ship by", "refund 199.00 CNY for L1"} {
		if !strings.Contains(joined, want) {
			t.Errorf("no activity summary %q in %s", want, joined)
		}
	}
	for _, s := range append(activities, timers...) {
		if s == "" {
			t.Errorf("an activity or timer has no summary: %v %v", activities, timers)
			break
		}
	}
	if len(timers) == 0 || !strings.Contains(strings.Join(timers, " | "), "inspection SLA") {
		t.Errorf("timer summaries: %v", timers)
	}
	fmt.Printf("history of %s: %d activities, %d timers; e.g. %q, %q\n", id, len(activities), len(timers), activities[len(activities)-1], timers[0])
}
