package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"

	"github.com/rma-dev/rma/domain"
)

// TestVersionedPolicies: rma dev seeds version 1; rma policy apply stores
// version 2 (eu-crd, half the auto-approval value); a return opened before
// keeps version 1 to the end (its fees), one opened after runs under 2;
// the RmaPolicyVersion search attribute finds it; history, diff, what-if
// and the storefront's preview read the same versions.
func TestVersionedPolicies(t *testing.T) {
	d := newDev(t, "")
	policyCLI := func(args ...string) string {
		t.Helper()
		out, err := d.cli(append([]string{"policy"}, append(args, "--data-dir", d.dataDir)...)...)
		if err != nil {
			t.Fatalf("rma policy %v: %v\n%s", args, err, out)
		}
		return out
	}
	if out := policyCLI("history"); !strings.Contains(out, "1  ") || !strings.Contains(out, "bootstrap") {
		t.Fatalf("history after rma dev:\n%s", out)
	}
	before := d.create(returnRequest("SO-V-1", "C-V-1", "SKU-RED-M", 19900, "changed_mind", "refund"))
	d.waitStatus(before, domain.StatusPendingReview)
	if v := d.get(before).PolicyVersion; v != 1 {
		t.Fatalf("a return before the change runs under version %d", v)
	}

	proposed := filepath.Join(t.TempDir(), "proposed.yaml")
	if err := os.WriteFile(proposed, []byte("preset: eu-crd\ncurrency: CNY\nreview:\n  auto_approve:\n    max_value: 2500\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := policyCLI("whatif", "-f", proposed, "--since", "1d")
	t.Logf("rma policy whatif:\n%s", out)
	if !strings.Contains(out, "policy version 1 vs the proposal") || !strings.Contains(out, "auto_approval_rate_%") {
		t.Fatalf("whatif:\n%s", out)
	}
	if out = policyCLI("apply", "-f", proposed, "--author", "ops:lee", "--note", "EU launch"); !strings.Contains(out, "stored version 2 by ops:lee") {
		t.Fatalf("apply:\n%s", out)
	}
	if out = policyCLI("apply", "-f", proposed); !strings.Contains(out, "unchanged: version 2") {
		t.Fatalf("apply again:\n%s", out)
	}
	// An admin may apply the same over the API: unchanged, 200; the
	// history lists both versions; a support token may not apply.
	raw, _ := os.ReadFile(proposed)
	if code, v := d.call("POST", "/v1/policies", map[string]any{"policy": string(raw), "note": "again"}); code != 200 || v["version"].(float64) != 2 {
		t.Fatalf("apply the same over the API: %d %v", code, v)
	}
	amy := d.token("--role", "support", "--subject", "support:amy")
	if code, _ := d.as(amy, "POST", "/v1/policies", map[string]any{"policy": "review:\n  reply_sla: 1h\n"}); code != 403 {
		t.Fatalf("support applying a policy: %d", code)
	}
	if code, h := d.as(amy, "GET", "/v1/policies", nil); code != 200 || len(h["items"].([]any)) != 2 {
		t.Fatalf("history over the API: %d %v", code, h)
	}
	if code, _ := d.call("POST", "/v1/policies", map[string]any{"policy": "window:\n  default: -1h\n"}); code != 422 {
		t.Fatalf("an invalid policy over the API: %d", code)
	}
	out = policyCLI("diff", "1", "2")
	t.Logf("rma policy diff 1 2:\n%s", out)
	for _, want := range []string{"~ review.auto_approve.max_value: 5000 → 2500", "+ preset: eu-crd", "~ refund.due_from: receipt → request"} {
		if !strings.Contains(out, want) {
			t.Fatalf("diff misses %q:\n%s", want, out)
		}
	}

	after := d.create(returnRequest("SO-V-2", "C-V-2", "SKU-RED-M", 19900, "changed_mind", "refund"))
	d.waitStatus(after, domain.StatusPendingReview)
	r := d.get(after)
	if r.PolicyVersion != 2 || r.RefundDueAt == nil {
		t.Fatalf("a return after the change: version %d, refund due %v", r.PolicyVersion, r.RefundDueAt)
	}
	for _, id := range []string{before, after} {
		d.mustCall("POST", "/v1/returns/"+id+"/approve", map[string]any{}, 200)
		d.shipAndPass(id, "dropoff", "picked_up")
	}
	if r := d.get(before); r.PolicyVersion != 1 || r.RefundTotal.Amount != 19900-1000-1200 {
		t.Fatalf("the return opened under version 1 kept it: version %d, refund %v", r.PolicyVersion, r.RefundTotal)
	}
	if r := d.get(after); r.PolicyVersion != 2 || r.RefundTotal.Amount != 19900 {
		t.Fatalf("the return opened under version 2 (eu-crd, no fees): version %d, refund %v", r.PolicyVersion, r.RefundTotal)
	}
	c, err := d.dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var found []string
	for i := 0; i < 50 && len(found) != 1; i++ {
		found = nil
		resp, err := c.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: "RmaPolicyVersion = 2"})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range resp.Executions {
			found = append(found, e.Execution.WorkflowId)
		}
		if len(found) != 1 {
			time.Sleep(100 * time.Millisecond) // visibility catches up
		}
	}
	if len(found) != 1 || found[0] != "return/"+after {
		t.Fatalf("RmaPolicyVersion = 2 finds %v", found)
	}

	// The storefront asks before a return exists: no reason yet; the
	// exchange's stock comes from the inventory.
	req := returnRequest("SO-V-3", "C-V-3", "SKU-RED-XXL", 21900, "", "")
	pv := d.mustCall("POST", "/v1/returns/preview", req, 200)
	lines := pv["lines"].([]any)
	line := lines[0].(map[string]any)
	if pv["policy_version"].(float64) != 2 || pv["preset"] != "eu-crd" || line["eligible"] != true || line["refund_by_reason"] == nil {
		t.Fatalf("preview: %v", pv)
	}
	for _, o := range line["resolutions"].([]any) {
		opt := o.(map[string]any)
		if opt["resolution"] == "exchange" && (opt["available"] != false || !strings.Contains(opt["note"].(string), "out of stock")) {
			t.Fatalf("exchange of an out-of-stock SKU: %v", opt)
		}
	}
}
