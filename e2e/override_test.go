package e2e

import (
	"strings"
	"testing"

	"github.com/rma-dev/rma/domain"
)

// TestOverridesAndGoodwillThroughTheCLIOverTheAPI: an agent cannot move a
// refund beyond the policy's support limit, an admin can; the agent's
// goodwill coupon is paid while the return still waits for review; the
// refund paid at the end is the admin's amount, under the same key, and
// the payments partner saw each movement once.
func TestOverridesAndGoodwillThroughTheCLIOverTheAPI(t *testing.T) {
	d := newDev(t, "")
	amy := d.token("--role", "support", "--subject", "support:amy")
	root := d.token("--role", "admin", "--subject", "admin:root")
	id := d.create(returnRequest("SO-O-1", "C-O-1", "SKU-RED-M", 19900, "changed_mind", "refund"))
	d.waitStatus(id, domain.StatusPendingReview)

	out, err := d.apiCLI(amy, "return", "override-refund", id, "--line", "L1", "--amount", "120", "--reason", "scuffed in our warehouse")
	t.Logf("support beyond the limit:\n%s", out)
	if err == nil || !strings.Contains(out, "403") || !strings.Contains(out, "beyond the support limit of 50.00 CNY; the admin role is needed") {
		t.Fatalf("support overriding 69.00: %v\n%s", err, out)
	}
	if out, err = d.apiCLI(root, "return", "override-refund", id, "--line", "L1", "--amount", "120", "--reason", "scuffed in our warehouse"); err != nil {
		t.Fatalf("admin override: %v\n%s", err, out)
	}
	if out, err = d.apiCLI(amy, "return", "goodwill", id, "--amount", "20", "--kind", "coupon", "--reason", "slow first answer"); err != nil {
		t.Fatalf("goodwill: %v\n%s", err, out)
	}
	r := d.waitFor(id, "goodwill paid", func(r domain.Return) bool { return len(r.Goodwill) == 1 && r.Goodwill[0].Issued })
	if r.Status != domain.StatusPendingReview || r.Lines[0].Override == nil || r.Lines[0].Override.Actor != "admin:root" {
		t.Fatalf("after the override and the grant: %s %+v", r.Status, r.Lines[0].Override)
	}
	d.mustCall("POST", "/v1/returns/"+id+"/approve", map[string]any{}, 200)
	r = d.shipAndPass(id, "dropoff", "picked_up")
	if r.RefundTotal.Amount != 12000 || r.FeesTotal.Amount != 7900 {
		t.Fatalf("refund %v fees %v, want the admin's 120.00", r.RefundTotal, r.FeesTotal)
	}
	var ledger []map[string]any
	getJSON(t, d.simURL(3, "/v1/ledger?rma_id="+id), &ledger)
	got := map[string]float64{}
	for _, e := range ledger {
		got[e["kind"].(string)+" "+e["key"].(string)] += e["amount"].(map[string]any)["amount"].(float64)
	}
	want := map[string]float64{"coupon " + id + "/goodwill-grant/1": 2000, "refund " + id + "/L1/refund": 12000}
	if len(got) != len(want) || got["coupon "+id+"/goodwill-grant/1"] != 2000 || got["refund "+id+"/L1/refund"] != 12000 {
		t.Fatalf("ledger %v, want %v", got, want)
	}
	var overridden, granted bool
	for _, e := range r.Timeline {
		overridden = overridden || (e.Type == "refund_overridden" && e.Actor == "admin:root" && strings.Contains(e.Detail, "refund 120.00 CNY instead of 189.00 CNY"))
		granted = granted || (e.Type == "goodwill_granted" && e.Actor == "support:amy")
	}
	if !overridden || !granted {
		t.Fatalf("the audit trail misses the override or the grant: %+v", r.Timeline)
	}
}
