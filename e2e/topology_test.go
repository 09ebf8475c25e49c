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

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/temporal"
	"go.temporal.io/server/temporaltest"

	"github.com/rma-dev/rma/codec"
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
	hostPort  string
	namespace string
	keys      *codec.Keyring
}

func startTopology(t *testing.T) *topology {
	t.Helper()
	return startTopologyWith(t, "", "auto")
}

// startTopologyWith runs the topology under a policy ("" for the
// defaults) with the carrier simulator in the given mode.
func startTopologyWith(t *testing.T, policyYAML, carrier string) *topology {
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
	tp := &topology{dbURL: pg.URL, hostPort: hostport, namespace: ns, sim: func(i int) string { return "http://127.0.0.1:" + strconv.Itoa(simBase+i) }}
	keySpec, err := codec.NewKey("topology")
	if err != nil {
		t.Fatal(err)
	}
	tp.keys, _ = codec.ParseKeyring(keySpec)
	temporalEnv := []string{"TEMPORAL_ADDRESS=" + hostport, "TEMPORAL_NAMESPACE=" + ns, "RMA_DATABASE_URL=" + pg.URL, codec.EnvKeys + "=" + keySpec}
	// Each partner demands its own credential; bearer and HMAC both.
	partnerAuth := []string{"RMA_CARRIER_AUTH=hmac:c4rr13r-5ecret-0f-the-topology", "RMA_INVENTORY_AUTH=bearer:1nv3nt0ry-t0ken-of-the-topology",
		"RMA_PAYMENTS_AUTH=hmac:p4ym3nt5-5ecret-of-the-topology", "RMA_NOTIFICATIONS_AUTH=bearer:n0t1fy-t0ken-of-the-topology"}
	if policyYAML != "" {
		policy := filepath.Join(t.TempDir(), "policy.yaml")
		if err := os.WriteFile(policy, []byte(policyYAML), 0o600); err != nil {
			t.Fatal(err)
		}
		temporalEnv = append(temporalEnv, "RMA_POLICY="+policy)
	}
	startProc(t, append([]string{"RMA_WEBHOOK_SECRET=" + secret}, partnerAuth...), "sim", "--base-port", strconv.Itoa(simBase),
		"--webhook-url", "http://127.0.0.1:"+strconv.Itoa(api1)+"/v1/webhooks/carrier", "--sim-carrier", carrier, "--sim-step", "500ms")
	tp.workerEnv = append(append(temporalEnv, partnerAuth...), "RMA_CARRIER_URL="+tp.sim(1), "RMA_INVENTORY_URL="+tp.sim(2), "RMA_PAYMENTS_URL="+tp.sim(3), "RMA_NOTIFICATIONS_URL="+tp.sim(4))
	tp.worker = startProc(t, tp.workerEnv, "worker")
	apiEnv := append(temporalEnv, "RMA_TOKENS="+token+"=admin:ops", "RMA_WEBHOOK_SECRET="+secret)
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

// TestScanAndItsDeadlineInOneWorkflowTask: the pickup scan and the end of
// the pickup buffer reach the workflow in one workflow task. The worker is
// killed while the buffer runs; the buffer's timer fires, then the carrier's
// pickup scan arrives, and only then does a worker come back: its first task
// holds both. Every turn of a wait applies what arrived before it fires a
// due deadline, so the scan counts and the return goes on, instead of
// expiring with the parcel already in the carrier's hands.
func TestScanAndItsDeadlineInOneWorkflowTask(t *testing.T) {
	tp := startTopologyWith(t, `shipping:
  pickup_within: 2s
  pickup_reminder_before: 1s
  logistics_buffer: 4s
`, "manual")
	a := tp.a
	id := a.create(returnRequest("SO-RACE-1", "C-RACE-1", "SKU-LAMP", 9900, "defective", "refund"))
	a.waitStatus(id, domain.StatusAwaitingShipment)
	a.mustCall("POST", "/v1/returns/"+id+"/shipping-choice", map[string]any{"method": "pickup"}, 200)
	r := a.waitFor(id, "the pickup buffer", func(r domain.Return) bool { return r.Deadline != nil && r.Deadline.Kind == "pickup_buffer" })
	_ = tp.worker.cmd.Process.Kill()
	_ = tp.worker.cmd.Wait()
	// The buffer's timer fires with no worker to act on it.
	time.Sleep(time.Until(r.Deadline.At) + 2*time.Second)
	if code, out := a.webhookQuiet(r.TrackingNumber, "picked_up"); code != 202 {
		t.Fatalf("scan: %d %v", code, out)
	}
	startProc(t, tp.workerEnv, "worker")
	r = a.waitFor(id, "the scan applied", func(r domain.Return) bool { return r.Status != domain.StatusAwaitingShipment })
	if r.Status != domain.StatusInTransit {
		t.Fatalf("the scan that came with the deadline did not count: %s %v", r.Status, types(r))
	}
	// The history shows both in one task: the timer fired, the signal came,
	// and only then did a workflow task start.
	o := client.Options{HostPort: tp.hostPort, Namespace: tp.namespace}
	codec.Configure(&o, tp.keys)
	c, err := client.Dial(o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	it := c.GetWorkflowHistory(context.Background(), workflows.WorkflowID(id), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var seq []enumspb.EventType
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		seq = append(seq, ev.EventType)
	}
	together := false
	for i, e := range seq {
		if e != enumspb.EVENT_TYPE_TIMER_FIRED {
			continue
		}
		for _, f := range seq[i+1:] {
			if f == enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED {
				break
			}
			if f == enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED {
				together = true
			}
		}
	}
	if !together {
		t.Fatalf("no workflow task held a fired timer and the scan together: %v", seq)
	}
}
