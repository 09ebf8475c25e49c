package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/webhook"
)

// receiver is a merchant system: it verifies each delivery's signature,
// keeps the events, and can fail a number of requests first.
type receiver struct {
	mu      sync.Mutex
	secrets [][]byte
	fail    int
	events  []map[string]any
	headers []string
	refused int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.fail > 0 {
		rc.fail--
		rc.refused++
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	for _, s := range rc.secrets {
		if err := webhook.Verify(s, r.Header.Get(webhook.Header), body, time.Now()); err != nil {
			http.Error(w, "bad signature: "+err.Error(), http.StatusUnauthorized)
			return
		}
	}
	var ev map[string]any
	if err := json.Unmarshal(body, &ev); err != nil || ev["id"] != r.Header.Get("X-RMA-Event-Id") {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	rc.events = append(rc.events, ev)
	rc.headers = append(rc.headers, r.Header.Get(webhook.Header))
	w.WriteHeader(http.StatusNoContent)
}

// of is the events of one return, in arrival order.
func (rc *receiver) of(id string) []map[string]any {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []map[string]any
	for _, ev := range rc.events {
		if ev["rma_id"] == id {
			out = append(out, ev)
		}
	}
	return out
}

func (rc *receiver) waitFor(t *testing.T, id, typ string) []map[string]any {
	t.Helper()
	for i := 0; i < 300; i++ {
		evs := rc.of(id)
		for _, ev := range evs {
			if ev["type"] == typ {
				return evs
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s never received %s for %s: %v", "the receiver", typ, id, types2(rc.of(id)))
	return nil
}

func types2(evs []map[string]any) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev["type"].(string))
	}
	return out
}

// TestSignedWebhooks: a merchant endpoint receives every event of a
// standard return, signed and in order; while it is down, nothing is lost;
// a rotated secret keeps verifying (both secrets for a day); a replay
// sends the events again; the delivery log shows the attempts.
func TestSignedWebhooks(t *testing.T) {
	d := newDev(t, "")
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	backend := d.token("--role", "backend", "--subject", "backend:erp")
	code, created := d.as(backend, "POST", "/v1/webhook-endpoints", map[string]any{"url": srv.URL + "/rma", "events": []string{"*"}, "description": "ERP"})
	if code != 201 || created["secret"] == nil {
		t.Fatalf("add endpoint: %d %v", code, created)
	}
	epID, secret := created["id"].(string), created["secret"].(string)
	rc.mu.Lock()
	rc.secrets = [][]byte{[]byte(secret)}
	rc.mu.Unlock()
	if code, out := d.as(backend, "POST", "/v1/webhook-endpoints", map[string]any{"url": "ftp://x", "events": []string{"return.nope"}}); code != 422 {
		t.Fatalf("a bad endpoint: %d %v", code, out)
	}

	// One standard return, every event in order.
	id := d.create(returnRequest("SO-WH-1", "C-WH-1", "SKU-RED-M", 19900, "defective", "refund"))
	d.shipAndPass(id, "dropoff", "picked_up")
	evs := rc.waitFor(t, id, "return.completed")
	var lines []string
	seen := map[string]bool{}
	for _, ev := range evs {
		data := ev["data"].(map[string]any)
		lines = append(lines, fmt.Sprintf("%s %-28s status=%v", ev["id"], ev["type"], data["status"]))
		if seen[ev["id"].(string)] {
			t.Fatalf("event %s delivered twice", ev["id"])
		}
		seen[ev["id"].(string)] = true
	}
	t.Logf("the receiver saw, for %s:\n%s", id, strings.Join(lines, "\n"))
	want := []string{"return.created", "return.approved", "return.label_issued", "return.received", "return.inspected", "return.refunded", "return.completed"}
	got := types2(evs)
	at := 0
	for _, w := range want {
		for at < len(got) && got[at] != w {
			at++
		}
		if at == len(got) {
			t.Fatalf("events out of order or missing %s: %v", w, got)
		}
	}
	if !strings.Contains(strings.Join(got, " "), "return.status_changed") {
		t.Fatalf("no status_changed: %v", got)
	}

	// The receiver is down for a while: every event still arrives, in order.
	rc.mu.Lock()
	rc.fail = 4
	rc.mu.Unlock()
	id2 := d.create(returnRequest("SO-WH-2", "C-WH-2", "SKU-RED-M", 19900, "defective", "refund"))
	d.shipAndPass(id2, "dropoff", "picked_up")
	evs2 := rc.waitFor(t, id2, "return.completed")
	if types2(evs2)[0] != "return.created" || rc.refused != 4 {
		t.Fatalf("after the outage: %v, refused %d", types2(evs2), rc.refused)
	}

	// Rotation: the new secret verifies, and so does the old one, for a day.
	code, rotated := d.as(backend, "POST", "/v1/webhook-endpoints/"+epID+"/rotate-secret", nil)
	if code != 200 || rotated["secret"] == nil || rotated["secret"] == secret {
		t.Fatalf("rotate: %d %v", code, rotated)
	}
	rc.mu.Lock()
	rc.secrets = [][]byte{[]byte(rotated["secret"].(string)), []byte(secret)} // each must verify
	before := len(rc.events)
	rc.mu.Unlock()
	id3 := d.create(returnRequest("SO-WH-3", "C-WH-3", "SKU-RED-M", 19900, "defective", "refund"))
	rc.waitFor(t, id3, "return.created")

	// Replay sends the first return's events again, same ids.
	code, replayed := d.as(backend, "POST", "/v1/webhook-endpoints/"+epID+"/replay?since=1h", nil)
	if code != 200 || replayed["queued"].(float64) < float64(len(evs)) {
		t.Fatalf("replay: %d %v", code, replayed)
	}
	for i := 0; i < 300 && len(rc.of(id)) < 2*len(evs); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if n := len(rc.of(id)); n < 2*len(evs) {
		t.Fatalf("replay delivered %d of %d again", n-len(evs), len(evs))
	}
	if len(rc.events) <= before {
		t.Fatal("nothing arrived after the rotation")
	}

	code, log := d.as(backend, "GET", "/v1/webhook-endpoints/"+epID+"/deliveries?page_size=200", nil)
	items := log["items"].([]any)
	retried := 0
	for _, it := range items {
		if it.(map[string]any)["attempts"].(float64) > 1 {
			retried++
		}
	}
	if code != 200 || len(items) == 0 || retried == 0 {
		t.Fatalf("delivery log: %d, %d items, %d retried", code, len(items), retried)
	}
	// Another backend sees none of this endpoint; removal stops deliveries.
	other := d.token("--role", "backend", "--subject", "backend:wms")
	if code, _ := d.as(other, "DELETE", "/v1/webhook-endpoints/"+epID, nil); code != 404 {
		t.Fatalf("another backend removing the endpoint: %d", code)
	}
	if code, _ := d.as(backend, "DELETE", "/v1/webhook-endpoints/"+epID, nil); code != 204 {
		t.Fatalf("remove: %d", code)
	}
	_ = domain.StatusCompleted
}
