package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/rma-dev/rma/domain"
)

// apiCLI runs `rma` as an agent on their own machine: only the API's URL
// and a token, no Temporal address, no database, no data dir.
func (d *dev) apiCLI(tok string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + d.t.TempDir(), "RMA_API_URL=" + d.url(""), "RMA_TOKEN=" + tok,
		"TEMPORAL_ADDRESS=127.0.0.1:1", "RMA_DATABASE_URL=postgres://nowhere.invalid:1/none"}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestWorkQueueThroughTheCLIOverTheAPI: a support agent works the review
// queue from the CLI with nothing but a token: lists it soonest deadline
// first, claims a return, finds it in their own queue, approves it; the
// timeline records them. The warehouse sees its own queue, a customer
// none. An analyst reads the KPIs the same way.
func TestWorkQueueThroughTheCLIOverTheAPI(t *testing.T) {
	d := newDev(t, "")
	amy := d.token("--role", "support", "--subject", "support:amy")
	wh := d.token("--role", "warehouse", "--subject", "warehouse:wu")
	cust := d.token("--role", "customer", "--customer", "C-Q-1")
	analyst := d.token("--role", "analyst", "--subject", "analyst:li")

	first := d.create(returnRequest("SO-Q-1", "C-Q-1", "SKU-RED-M", 19900, "changed_mind", "refund"))
	d.waitStatus(first, domain.StatusPendingReview)
	time.Sleep(1100 * time.Millisecond) // a later deadline for the second
	second := d.create(returnRequest("SO-Q-2", "C-Q-2", "SKU-LAMP", 9900, "size_fit", "refund"))
	d.waitStatus(second, domain.StatusPendingReview)
	auto := d.create(returnRequest("SO-Q-3", "C-Q-3", "SKU-LAMP", 9900, "defective", "refund"))
	d.waitStatus(auto, domain.StatusAwaitingShipment)

	out, err := d.apiCLI(amy, "return", "queue")
	t.Logf("rma return queue (support:amy over the API):\n%s", out)
	if err != nil || !strings.Contains(out, "support queue: 2 waiting") || strings.Index(out, first) > strings.Index(out, second) || strings.Contains(out, auto) {
		t.Fatalf("support queue: %v\n%s", err, out)
	}
	var q struct {
		Items []struct {
			ID           string `json:"id"`
			Team         string `json:"team"`
			DeadlineKind string `json:"deadline_kind"`
			SecondsLeft  *int64 `json:"seconds_left"`
		} `json:"items"`
	}
	out, err = d.apiCLI(amy, "return", "queue", "-o", "json")
	if err != nil || json.Unmarshal([]byte(out), &q) != nil || len(q.Items) != 2 || q.Items[0].ID != first || q.Items[0].Team != "support" ||
		q.Items[0].DeadlineKind != "reply_sla" || q.Items[0].SecondsLeft == nil || *q.Items[0].SecondsLeft <= 0 {
		t.Fatalf("queue json: %v\n%s", err, out)
	}

	if out, err = d.apiCLI(amy, "return", "claim", first); err != nil {
		t.Fatalf("claim: %v\n%s", err, out)
	}
	out, err = d.apiCLI(amy, "return", "queue", "--assignee", "me")
	t.Logf("rma return queue --assignee me:\n%s", out)
	if err != nil || !strings.Contains(out, first) || strings.Contains(out, second) || !strings.Contains(out, "support:amy") {
		t.Fatalf("my queue: %v\n%s", err, out)
	}
	if out, err = d.apiCLI(amy, "return", "approve", first, "--note", "worn once, fine"); err != nil || !strings.Contains(out, "awaiting_shipment") {
		t.Fatalf("approve over the API: %v\n%s", err, out)
	}
	r := d.get(first)
	var claimed, approved bool
	for _, e := range r.Timeline {
		claimed = claimed || (e.Type == "assigned" && e.Actor == "support:amy")
		approved = approved || (e.Type == "approve_command" && e.Actor == "support:amy")
	}
	if !claimed || !approved || r.Assignee != "support:amy" {
		t.Fatalf("the timeline does not record the agent: %+v", r.Timeline)
	}
	if out, err = d.apiCLI(amy, "return", "assign", second, "--to", "support:bo", "--reason", "Chinese-speaking customer"); err != nil || !strings.Contains(out, "pending_review") {
		t.Fatalf("assign: %v\n%s", err, out)
	}
	if out, _ = d.apiCLI(amy, "return", "queue", "--assignee", "support:bo"); !strings.Contains(out, second) {
		t.Fatalf("bo's queue:\n%s", out)
	}

	// Each role its own queue; a customer none; a refusal reads clearly.
	if out, err = d.apiCLI(wh, "return", "queue"); err != nil || !strings.Contains(out, "warehouse queue: 0 waiting") {
		t.Fatalf("warehouse queue: %v\n%s", err, out)
	}
	if out, err = d.apiCLI(wh, "return", "queue", "--role", "support"); err == nil || !strings.Contains(out, "refused (forbidden, HTTP 403)") {
		t.Fatalf("warehouse reading support's queue: %v\n%s", err, out)
	}
	if out, err = d.apiCLI(cust, "return", "queue"); err == nil || !strings.Contains(out, "403") {
		t.Fatalf("customer reading a queue: %v\n%s", err, out)
	}
	if out, err = d.apiCLI(wh, "return", "approve", second); err == nil || !strings.Contains(out, "403") {
		t.Fatalf("warehouse approving: %v\n%s", err, out)
	}

	out, err = d.apiCLI(analyst, "report", "kpis")
	t.Logf("rma report kpis (analyst over the API):\n%s", out)
	if err != nil || !strings.Contains(out, "returns_total") {
		t.Fatalf("kpis over the API: %v\n%s", err, out)
	}
	if out, err = d.apiCLI(analyst, "return", "queue"); err == nil {
		t.Fatalf("an analyst has no queue:\n%s", out)
	}
}

// TestOnCallTooling: rma ops over the API, as on-call uses it. A review
// whose reply SLA passed is late; an exchange whose SKU the inventory does
// not know is stuck in needs_attention with the partner's error; once the
// SKU is stocked, retry --all --dry-run names it and retry --all re-drives
// it.
func TestOnCallTooling(t *testing.T) {
	d := newDev(t, `review:
  reply_sla: 3s
  reply_reminder_before: 1s
  decision_sla: 1h
`)
	ops := d.token("--role", "support", "--subject", "ops:kim")
	slow := d.create(returnRequest("SO-OPS-1", "C-OPS-1", "SKU-RED-M", 19900, "changed_mind", "refund"))
	d.waitFor(slow, "the reply SLA breached", func(r domain.Return) bool { return len(r.SLABreaches) > 0 })
	ex := returnRequest("SO-OPS-2", "C-OPS-2", "SKU-RED-M", 19900, "defective", "exchange")
	ex["lines"].([]any)[0].(map[string]any)["exchange_sku"] = "SKU-NEW-OPS"
	stuck := d.create(ex)
	d.waitStatus(stuck, domain.StatusNeedsAttention)

	out, err := d.apiCLI(ops, "ops", "late")
	t.Logf("rma ops late:\n%s", out)
	if err != nil || !strings.Contains(out, slow) || !strings.Contains(out, "review_reply") || strings.Contains(out, stuck) {
		t.Fatalf("ops late: %v\n%s", err, out)
	}
	out, err = d.apiCLI(ops, "ops", "stuck")
	t.Logf("rma ops stuck:\n%s", out)
	if err != nil || !strings.Contains(out, stuck) || !strings.Contains(out, "needs_attention") || !strings.Contains(out, "SKU-NEW-OPS") {
		t.Fatalf("ops stuck: %v\n%s", err, out)
	}
	// The cause is fixed: the SKU is stocked.
	req, _ := http.NewRequest("PUT", d.simURL(2, "/v1/stock/SKU-NEW-OPS"), strings.NewReader(`{"available": 10, "unit_price": {"amount": 19900, "currency": "CNY"}}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("stock the SKU: %v", err)
	}
	resp.Body.Close()
	out, err = d.apiCLI(ops, "ops", "retry", "--all", "--dry-run")
	t.Logf("rma ops retry --all --dry-run:\n%s", out)
	if err != nil || strings.TrimSpace(out) != "would retry "+stuck {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	if r := d.get(stuck); r.Status != domain.StatusNeedsAttention {
		t.Fatalf("the dry run changed %s: %s", stuck, r.Status)
	}
	out, err = d.apiCLI(ops, "ops", "retry", "--all", "--note", "SKU stocked")
	t.Logf("rma ops retry --all:\n%s", out)
	if err != nil || !strings.Contains(out, stuck+": retried") {
		t.Fatalf("retry: %v\n%s", err, out)
	}
	r := d.waitFor(stuck, "re-driven past the reservation", func(r domain.Return) bool { return r.Status != domain.StatusNeedsAttention })
	var byOps bool
	for _, e := range r.Timeline {
		byOps = byOps || (e.Type == "attention_retry" && e.Actor == "ops:kim")
	}
	if !byOps {
		t.Fatalf("the retry is not on the timeline as ops:kim's: %+v", r.Timeline)
	}
	if out, _ = d.apiCLI(ops, "ops", "stuck"); strings.Contains(out, stuck) {
		t.Fatalf("still stuck after the retry:\n%s", out)
	}

	// A carrier outage: every return of the query gets two more days.
	waiting := d.create(returnRequest("SO-OPS-3", "C-OPS-3", "SKU-LAMP", 9900, "defective", "refund"))
	before := d.waitStatus(waiting, domain.StatusAwaitingShipment).Deadline
	if before == nil {
		t.Fatalf("no deadline to extend")
	}
	q := `RmaOrderId="SO-OPS-3" AND RmaStatus="awaiting_shipment"`
	var dry string
	for i := 0; i < 50; i++ { // visibility follows the history by a moment
		if dry, err = d.apiCLI(ops, "ops", "extend", "--query", q, "--by", "48h", "--reason", "carrier outage", "--dry-run"); err == nil && strings.Contains(dry, waiting) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("rma ops extend --dry-run:\n%s", dry)
	if !strings.Contains(dry, "dry run: 1 returns match") || !strings.Contains(dry, "would extend") {
		t.Fatalf("extend dry run: %v\n%s", err, dry)
	}
	if r := d.get(waiting); !r.Deadline.At.Equal(before.At) {
		t.Fatalf("the dry run moved the deadline: %v -> %v", before.At, r.Deadline.At)
	}
	out, err = d.apiCLI(ops, "ops", "extend", "--query", q, "--by", "48h", "--reason", "carrier outage")
	t.Logf("rma ops extend:\n%s", out)
	if err != nil || !strings.Contains(out, "1 of 1 returns extended by 48h") {
		t.Fatalf("extend: %v\n%s", err, out)
	}
	r = d.get(waiting)
	if !r.Deadline.At.Equal(before.At.Add(48 * time.Hour)) {
		t.Fatalf("deadline %v, want %v", r.Deadline.At, before.At.Add(48*time.Hour))
	}
	var extended bool
	for _, e := range r.Timeline {
		extended = extended || (e.Type == "deadline_extended" && e.Actor == "ops:kim" && strings.Contains(e.Detail, "carrier outage"))
	}
	if !extended {
		t.Fatalf("the extension is not on the audit trail: %+v", r.Timeline)
	}
	// The same extension run again (an operator retrying after a timeout)
	// adds no more time: its key is derived from what it does.
	if out, err = d.apiCLI(ops, "ops", "extend", "--query", q, "--by", "48h", "--reason", "carrier outage"); err != nil {
		t.Fatalf("extend again: %v\n%s", err, out)
	}
	if r = d.get(waiting); !r.Deadline.At.Equal(before.At.Add(48*time.Hour)) || countType(r, "deadline_extended") != 1 {
		t.Fatalf("the same extension ran twice: deadline %v, %d extensions", r.Deadline.At, countType(r, "deadline_extended"))
	}
}

func countType(r domain.Return, typ string) int {
	n := 0
	for _, e := range r.Timeline {
		if e.Type == typ {
			n++
		}
	}
	return n
}
