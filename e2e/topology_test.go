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

// topology is the deploy/ topology as real processes on loopback against a
// separate Temporal server: PostgreSQL (migrated by `rma migrate`), the
// partner simulators, a worker and two API replicas.
type topology struct {
	a, b      *dev
	sim       func(i int) string
	workerEnv []string
	worker    *proc
	dbURL     string
}

func startTopology(t *testing.T) *topology {
	t.Helper()
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
	t.Cleanup(pg.Stop)
	if out, err := exec.Command(binary, "migrate", "--database-url", pg.URL).CombinedOutput(); err != nil || !strings.Contains(string(out), "applied migrations") {
		t.Fatalf("rma migrate: %v %s", err, out)
	}
	simBase := httpBase(t) - 1
	api1, api2 := freePort(t), freePort(t)
	tp := &topology{dbURL: pg.URL, sim: func(i int) string { return "http://127.0.0.1:" + strconv.Itoa(simBase+i) }}
	temporalEnv := []string{"TEMPORAL_ADDRESS=" + hostport, "TEMPORAL_NAMESPACE=" + ns, "RMA_DATABASE_URL=" + pg.URL}
	startProc(t, []string{"RMA_WEBHOOK_SECRET=" + secret}, "sim", "--base-port", strconv.Itoa(simBase),
		"--webhook-url", "http://127.0.0.1:"+strconv.Itoa(api1)+"/v1/webhooks/carrier", "--sim-carrier", "auto", "--sim-step", "500ms")
	tp.workerEnv = append(temporalEnv, "RMA_CARRIER_URL="+tp.sim(1), "RMA_INVENTORY_URL="+tp.sim(2), "RMA_PAYMENTS_URL="+tp.sim(3), "RMA_NOTIFICATIONS_URL="+tp.sim(4))
	tp.worker = startProc(t, tp.workerEnv, "worker")
	apiEnv := append(temporalEnv, "RMA_TOKENS="+token+"=backend+support+warehouse+customer+analyst:ops", "RMA_WEBHOOK_SECRET="+secret)
	for _, p := range []int{api1, api2} {
		startProc(t, apiEnv, "api", "--http-port", strconv.Itoa(p))
	}
	for _, u := range []string{tp.sim(1) + "/v1/parcels", tp.sim(3) + "/v1/ledger", "http://127.0.0.1:" + strconv.Itoa(api1) + "/readyz", "http://127.0.0.1:" + strconv.Itoa(api2) + "/readyz"} {
		waitHTTP(t, u)
	}
	tp.a, tp.b = &dev{t: t, http: api1}, &dev{t: t, http: api2}
	return tp
}

// TestProductionTopology runs a return through the production topology: any
// API replica serves any return, and the auto carrier drives the parcel with
// signed webhooks.
func TestProductionTopology(t *testing.T) {
	tp := startTopology(t)
	a, b := tp.a, tp.b
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
	getJSON(t, tp.sim(3)+"/v1/ledger?rma_id="+id, &ledger)
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

// TestCrashMidRefundPaysOnce kills the worker (SIGKILL, no drain) while the
// refund call is in flight at a slow payment service. The refund is a local
// activity inside the workflow task that applies the inspection; that task
// times out, a new worker runs it again, and the refund is sent again with
// the same idempotency key (RMA, line, purpose): the customer is paid
// exactly once. The warehouse's inspection call may fail with the worker:
// it is retried with the same Idempotency-Key, which is the update ID, so it
// applies once.
func TestCrashMidRefundPaysOnce(t *testing.T) {
	tp := startTopology(t)
	a := tp.a
	id := a.create(returnRequest("SO-CRASH-1", "C-CRASH-1", "SKU-LAMP", 9900, "defective", "refund"))
	a.waitStatus(id, domain.StatusAwaitingShipment)
	a.mustCall("POST", "/v1/returns/"+id+"/shipping-choice", map[string]any{"method": "pickup"}, 200)
	a.waitFor(id, "delivery", func(r domain.Return) bool { return r.WaitingOn != nil && *r.WaitingOn == domain.WaitingWarehouse })
	a.mustCall("POST", "/v1/returns/"+id+"/receive", nil, 200)

	// Every payment call now takes 3 s, so the refund is in flight when the
	// worker dies.
	resp, err := http.Post(tp.sim(3)+"/v1/_faults", "application/json", strings.NewReader(`{"latency_ms": 3000}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("set faults: %v", err)
	}
	inspect := map[string]any{"items": []any{map[string]any{"line_id": "L1", "result": "pass", "disposition": "restock"}}}
	first := make(chan int, 1)
	go func() {
		code, _ := a.call("POST", "/v1/returns/"+id+"/inspection", inspect, "Idempotency-Key", "inspect-"+id)
		first <- code
	}()
	// The refund takes 3 s at the payment service; kill the worker in the
	// middle of it.
	time.Sleep(1500 * time.Millisecond)
	_ = tp.worker.cmd.Process.Kill()
	_ = tp.worker.cmd.Wait()
	killedAt := time.Now()
	startProc(t, tp.workerEnv, "worker")
	code := <-first
	for i := 0; code != 200 && i < 10; i++ {
		t.Logf("inspection answered %d while the worker was down; retrying with the same Idempotency-Key", code)
		code, _ = a.call("POST", "/v1/returns/"+id+"/inspection", inspect, "Idempotency-Key", "inspect-"+id)
	}
	if code != 200 {
		t.Fatalf("inspection never applied: %d", code)
	}
	deadline := time.Now().Add(90 * time.Second)
	var r domain.Return
	for time.Now().Before(deadline) {
		if r = a.get(id); r.Status == domain.StatusCompleted {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if r.Status != domain.StatusCompleted {
		t.Fatalf("not completed after the crash: %s", r.Status)
	}
	var ledger []map[string]any
	getJSON(t, tp.sim(3)+"/v1/ledger?rma_id="+id, &ledger)
	refunds := 0
	for _, e := range ledger {
		if e["kind"] == "refund" {
			refunds++
		}
	}
	if refunds != 1 || r.RefundTotal.Amount != 9900 {
		t.Fatalf("paid %d times (refund_total %v): %v", refunds, r.RefundTotal, ledger)
	}
	t.Logf("worker killed mid-refund; recovered in %s; %d refund in the ledger", time.Since(killedAt).Round(time.Second), refunds)
}
