package e2e

import (
	"context"
	"encoding/json"
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
