package e2e

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/temporal"
	"go.temporal.io/server/temporaltest"

	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/pgdev"
	"github.com/rma-dev/rma/workflows"
)

// proc is one rma process of the production topology.
type proc struct {
	cmd *exec.Cmd
	out *bytes.Buffer
}

func startProc(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(binary, args...), out: &bytes.Buffer{}}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(40 * time.Second):
			_ = p.cmd.Process.Kill()
			t.Errorf("rma %v did not stop on SIGTERM", args)
		}
		if t.Failed() {
			t.Logf("rma %v output:\n%s", args, p.out.String())
		}
	})
	return p
}

func waitHTTP(t *testing.T, url string) {
	t.Helper()
	for i := 0; i < 300; i++ {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s never answered", url)
}

// TestProductionTopology runs the deploy/ topology as real processes on
// loopback against a separate Temporal server: the partner simulators, a
// worker and two API replicas (the API is stateless, so any replica serves
// any return). The auto carrier drives the parcel with signed webhooks.
func TestProductionTopology(t *testing.T) {
	ts := temporaltest.NewServer(temporaltest.WithT(t), temporaltest.WithBaseServerOptions(
		temporal.WithDynamicConfigClient(dynamicconfig.StaticClient{dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key(): true})))
	ns, hostport := ts.GetDefaultNamespace(), ts.GetFrontendHostPort()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := ts.GetDefaultClient().OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace: ns, SearchAttributes: workflows.SearchAttributeTypes()}); err != nil {
		t.Fatal(err)
	}

	pg, err := pgdev.Start(ctx, filepath.Join(t.TempDir(), "pg"), "rma")
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Stop()
	if out, err := exec.Command(binary, "migrate", "--database-url", pg.URL).CombinedOutput(); err != nil || !strings.Contains(string(out), "applied migrations") {
		t.Fatalf("rma migrate: %v %s", err, out)
	}
	simBase := httpBase(t) - 1
	api1, api2 := freePort(t), freePort(t)
	sim := func(i int) string { return "http://127.0.0.1:" + strconv.Itoa(simBase+i) }
	temporalEnv := []string{"TEMPORAL_ADDRESS=" + hostport, "TEMPORAL_NAMESPACE=" + ns, "RMA_DATABASE_URL=" + pg.URL}
	startProc(t, []string{"RMA_WEBHOOK_SECRET=" + secret}, "sim", "--base-port", strconv.Itoa(simBase),
		"--webhook-url", "http://127.0.0.1:"+strconv.Itoa(api1)+"/v1/webhooks/carrier", "--sim-carrier", "auto", "--sim-step", "500ms")
	startProc(t, append(temporalEnv, "RMA_CARRIER_URL="+sim(1), "RMA_INVENTORY_URL="+sim(2), "RMA_PAYMENTS_URL="+sim(3), "RMA_NOTIFICATIONS_URL="+sim(4)), "worker")
	apiEnv := append(temporalEnv, "RMA_TOKENS="+token+"=backend+support+warehouse+customer+analyst:ops", "RMA_WEBHOOK_SECRET="+secret)
	for _, p := range []int{api1, api2} {
		startProc(t, apiEnv, "api", "--http-port", strconv.Itoa(p))
	}
	for _, u := range []string{sim(1) + "/v1/parcels", sim(3) + "/v1/ledger", "http://127.0.0.1:" + strconv.Itoa(api1) + "/readyz", "http://127.0.0.1:" + strconv.Itoa(api2) + "/readyz"} {
		waitHTTP(t, u)
	}

	a := &dev{t: t, http: api1}
	b := &dev{t: t, http: api2}
	id := a.create(returnRequest("SO-TOPO-1", "C-TOPO-1", "SKU-RED-M", 19900, "defective", "refund"))
	b.waitStatus(id, domain.StatusAwaitingShipment)
	b.mustCall("POST", "/v1/returns/"+id+"/shipping-choice", map[string]any{"method": "pickup"}, 200)
	// The auto carrier picks up, moves and delivers the parcel by webhook.
	a.waitFor(id, "delivery by the auto carrier", func(r domain.Return) bool {
		return r.WaitingOn != nil && *r.WaitingOn == domain.WaitingWarehouse
	})
	b.mustCall("POST", "/v1/returns/"+id+"/receive", nil, 200)
	a.mustCall("POST", "/v1/returns/"+id+"/inspection", map[string]any{"items": []any{map[string]any{"line_id": "L1", "result": "pass", "disposition": "restock"}}}, 200)
	r := b.waitStatus(id, domain.StatusCompleted)
	if r.RefundTotal.Amount != 19900 {
		t.Fatalf("refund %v", r.RefundTotal)
	}
	var ledger []map[string]any
	getJSON(t, sim(3)+"/v1/ledger?rma_id="+id, &ledger)
	if len(ledger) != 1 {
		t.Fatalf("ledger: %v", ledger)
	}
	// The worker projected into the shared read model; either replica
	// serves analytics from it.
	code, k := a.call("GET", "/v1/analytics/kpis", nil)
	if code != 200 || k["completed_total"].(float64) != 1 {
		t.Fatalf("kpis: %d %v", code, k)
	}
}
