package e2e

import (
	"encoding/hex"
	"net/http/httptest"
	"sync"

	"context"
	"encoding/json"
	"fmt"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rma-dev/rma/chaos"
	"github.com/rma-dev/rma/domain"
	rmatopology "github.com/rma-dev/rma/topology"
)

// toolsDir is where make cluster-tools installed the Temporal server, its
// SQL tool, the UI server and stripe-mock (RMA_TOOLS_DIR, or the
// repository's .bin).
func toolsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("RMA_TOOLS_DIR")
	if dir == "" {
		abs, err := filepath.Abs(filepath.Join("..", ".bin"))
		if err != nil {
			t.Fatal(err)
		}
		dir = abs
	}
	if err := rmatopology.CheckTools(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// completing are the chaos paths that end completed when no partner fails:
// every kind of return and resolution (refund, store credit, exchange in
// and out of stock, advance exchange, repair, returnless, reship), manual
// review and a request for information, the VIP fast lane, a partial
// inspection, and a return that needs support and is retried. The paths
// that end otherwise (decline, expiry, cancel) run in make chaos.
var completing = []string{
	"auto_refund_pickup", "manual_approve_dropoff", "request_info", "store_credit", "exchange_in_stock",
	"exchange_out_of_stock", "advance_exchange", "vip_fast_lane", "partial_inspection", "repair", "returnless",
	"reship", "attention_retry",
}

// TestRealTemporalCluster runs rma's production topology against a real
// Temporal cluster: the go.temporal.io/server binary on PostgreSQL (schema
// set up by Temporal's SQL tool), the Temporal UI server, `rma setup`, the
// simulators, one `rma api` and two `rma worker`s, all separate processes
// on loopback. Three returns of every completing path go through the API;
// one worker gets SIGKILL a third of the way through and stays down, and
// the Temporal server is killed and restarted midway. Every return must
// still complete, with exactly one refund per refunded line in the ledger,
// and the Temporal UI must list them by their search attributes.
func TestRealTemporalCluster(t *testing.T) {
	tools := toolsDir(t)
	dir, err := os.MkdirTemp("", "rma-cluster-")
	if err != nil {
		t.Fatal(err)
	}
	uiListed := 0
	// Tracing on: every rma process exports spans to this receiver.
	spans := newOTLPReceiver(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", spans.url)
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "200")
	cfg := chaos.Config{Binary: binary, Dir: dir, Returns: 3 * len(completing), Concurrency: 13, FaultRate: 0, KillEvery: 0, Tools: tools, Plans: completing,
		Timeout: 12 * time.Minute, Out: logWriter{t},
		Check: func(ctx context.Context, sys *rmatopology.System, views map[string]domain.Return) error {
			var b strings.Builder
			sys.Describe(&b)
			t.Logf("topology:\n%s  temporal-ui %s", b.String(), sys.UIURL)
			n, err := checkUIListing(ctx, sys.UIURL, views)
			uiListed = n
			if err != nil {
				return err
			}
			// Both workers ran returns' activities (their logger is
			// "activity"; the relay's lines would not prove it): they share
			// the load.
			for _, w := range sys.Workers {
				logs, _ := filepath.Glob(filepath.Join(sys.Dir, w.Name+".*.log"))
				lines := 0
				for _, l := range logs {
					b, _ := os.ReadFile(l)
					lines += strings.Count(string(b), `"logger":"activity"`)
				}
				t.Logf("%s logged %d activity lines", w.Name, lines)
				if lines == 0 {
					return fmt.Errorf("%s did no work for any return", w.Name)
				}
			}
			if err := checkMetrics(t, sys, views); err != nil {
				return err
			}
			if err := spans.checkTrace(t); err != nil {
				return err
			}
			if err := checkSetupIdempotent(ctx, t, sys); err != nil {
				return err
			}
			return checkReadiness(ctx, t, sys)
		}}
	res, err := chaos.Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("%v (logs in %s)", err, dir)
	}
	t.Log(res.Line())
	t.Logf("by path: %v", res.ByPlan)
	t.Logf("returns started %d, completed %d, final %d, left for support %d; refunds in the ledger %d (for %d returns); %d listed by the Temporal UI",
		res.Returns, res.Completed, res.Terminal, res.Attention, res.Refunds, res.Refunded, uiListed)
	failed := !res.OK()
	for _, p := range res.Problems {
		t.Errorf("audit: %s", p)
	}
	for plan, byStatus := range res.ByPlan {
		for st, n := range byStatus {
			if st != domain.StatusCompleted {
				t.Errorf("%d %s returns ended %s, not completed", n, plan, st)
				failed = true
			}
		}
	}
	if len(res.ByPlan) != len(completing) || res.Completed != res.Returns {
		t.Errorf("%d of %d returns completed, %d paths of %d ran", res.Completed, res.Returns, len(res.ByPlan), len(completing))
		failed = true
	}
	if res.Refunds == 0 || res.Duplicates != 0 || res.Kills != 1 || res.Restarts != 1 {
		t.Errorf("refunds %d, duplicates %d, worker kills %d, server restarts %d", res.Refunds, res.Duplicates, res.Kills, res.Restarts)
		failed = true
	}
	if failed {
		t.Fatalf("process logs are in %s", dir)
	}
	_ = os.RemoveAll(dir)
}

// checkMetrics scrapes the API's and a worker's /metrics: the SDK's
// metrics, the partner calls, the business figures matching the read
// model, and every metric the Grafana dashboard (deploy/grafana/rma.json)
// charts.
func checkMetrics(t *testing.T, sys *rmatopology.System, views map[string]domain.Return) error {
	scrape := func(u string) (string, error) {
		resp, err := http.Get(u)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("%s: %s", u, resp.Status)
		}
		return string(b), err
	}
	apiText, err := scrape(sys.APIMetricsURL)
	if err != nil {
		return err
	}
	workerText, err := scrape(sys.Workers[1].Health + "/metrics")
	if err != nil {
		return err
	}
	completed := 0
	for _, r := range views {
		if r.Status == domain.StatusCompleted {
			completed++
		}
	}
	for _, want := range []string{fmt.Sprintf(`rma_returns{status="completed"} %d`, completed), "rma_read_model_up 1", `rma_refunded_minor_units_total{currency="CNY"}`, "temporal_request_total"} {
		if !strings.Contains(apiText, want) {
			return fmt.Errorf("the API's /metrics lacks %q", want)
		}
	}
	for _, want := range []string{`rma_partner_request_seconds_count{method="POST",outcome="ok",partner="payments"}`, `partner="carrier"`, `partner="inventory"`,
		"temporal_workflow_task_schedule_to_start_latency_seconds_bucket", `component="worker"`} {
		if !strings.Contains(workerText, want) {
			return fmt.Errorf("the worker's /metrics lacks %q", want)
		}
	}
	raw, err := os.ReadFile(filepath.Join("..", "deploy", "grafana", "rma.json"))
	if err != nil {
		return err
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		return fmt.Errorf("grafana dashboard: %w", err)
	}
	exported := apiText + workerText
	// Series that exist only once something happened (a breach).
	mayBeEmpty := map[string]bool{"rma_sla_breaches": true}
	name := regexp.MustCompile(`\b(rma|temporal)_[a-z_]+`)
	charted := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, m := range name.FindAllString(tg.Expr, -1) {
				charted++
				if !strings.Contains(exported, "\n"+m) && !mayBeEmpty[m] {
					return fmt.Errorf("dashboard panel %q charts %s, which no process exports", p.Title, m)
				}
			}
		}
	}
	t.Logf("/metrics: API %d bytes, worker %d bytes; the dashboard's %d panels chart %d metric references, all exported", len(apiText), len(workerText), len(dash.Panels), charted)
	return nil
}

// checkSetupIdempotent: rma setup again on the topology's namespace
// changes nothing; on a new namespace it creates it and registers every
// attribute, and a second run there changes nothing either.
func checkSetupIdempotent(ctx context.Context, t *testing.T, sys *rmatopology.System) error {
	run := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, binary, append([]string{"setup", "--address", sys.HostPort}, args...)...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TEMPORAL_CONFIG_FILE=" + os.DevNull}
		out, err := cmd.CombinedOutput()
		t.Logf("rma setup %v:\n%s", args, out)
		return string(out), err
	}
	all := "RmaCustomerId, RmaDeadline, RmaKind, RmaOrderId, RmaPolicyVersion, RmaSkus, RmaStatus, RmaTrackingNumbers"
	steps := []struct {
		args []string
		want []string
	}{
		{[]string{"--namespace", "default"}, []string{"namespace default exists", "already registered: " + all}},
		{[]string{"--namespace", "rma-second", "--create-namespace", "--retention", "48h"}, []string{"created namespace rma-second (retention 48h0m0s)", "registered search attributes: " + all}},
		{[]string{"--namespace", "rma-second", "--create-namespace"}, []string{"namespace rma-second exists (retention 48h0m0s)", "already registered: " + all}},
	}
	for _, s := range steps {
		out, err := run(s.args...)
		if err != nil {
			return fmt.Errorf("rma setup %v: %w: %s", s.args, err, out)
		}
		for _, w := range s.want {
			if !strings.Contains(out, w) {
				return fmt.Errorf("rma setup %v printed %q, want %q", s.args, out, w)
			}
		}
		if strings.Contains(out, "registered search attributes") && strings.Contains(out, "already registered") {
			return fmt.Errorf("rma setup %v both added and found attributes: %s", s.args, out)
		}
	}
	if out, err := run("--namespace", "no-such-namespace"); err == nil || !strings.Contains(out, "does not exist") {
		return fmt.Errorf("rma setup on a missing namespace without --create-namespace: %v %s", err, out)
	}
	return nil
}

// checkReadiness: the API's and the surviving worker's /readyz follow
// their Temporal and PostgreSQL connections. The server goes down and comes
// back; then PostgreSQL goes down for good (this is the run's last check).
func checkReadiness(ctx context.Context, t *testing.T, sys *rmatopology.System) error {
	probes := []string{sys.APIURL + "/readyz", sys.Workers[1].Health + "/readyz"}
	expect := func(want int, cause string) error {
		for _, u := range probes {
			var code int
			var body string
			for i := 0; i < 150; i++ {
				resp, err := http.Get(u)
				if err == nil {
					b := new(strings.Builder)
					_, _ = io.Copy(b, resp.Body)
					resp.Body.Close()
					code, body = resp.StatusCode, b.String()
					if code == want && strings.Contains(body, cause) {
						break
					}
				}
				time.Sleep(200 * time.Millisecond)
			}
			if code != want || !strings.Contains(body, cause) {
				return fmt.Errorf("%s answered %d %s, want %d naming %q", u, code, body, want, cause)
			}
			t.Logf("%s: %d %s", u, code, strings.TrimSpace(body))
		}
		return nil
	}
	if err := expect(200, "ready"); err != nil {
		return err
	}
	sys.Temporal.Kill()
	if err := expect(503, "temporal"); err != nil {
		return err
	}
	if err := sys.Temporal.Start(); err != nil {
		return err
	}
	if err := sys.WaitTemporal(ctx); err != nil {
		return err
	}
	if err := expect(200, "ready"); err != nil {
		return err
	}
	sys.PG.Stop()
	return expect(503, "postgresql")
}

// checkUIListing asks the Temporal UI server (its HTTP API, which the
// web pages call) for the returns by their search attributes: every
// completed return by RmaStatus, and one by its order and customer.
func checkUIListing(ctx context.Context, ui string, views map[string]domain.Return) (int, error) {
	want := map[string]bool{}
	var one domain.Return
	for id, r := range views {
		if r.Status == domain.StatusCompleted {
			want["return/"+id] = true
			one = r
		}
	}
	if len(want) == 0 {
		return 0, fmt.Errorf("no completed return to look for in the UI")
	}
	var got map[string]bool
	var err error
	// Visibility follows the history by a moment.
	for i := 0; i < 60; i++ {
		got, err = uiList(ctx, ui, `RmaStatus="completed" AND RmaKind IN ("return","exchange")`)
		if err == nil && len(got) == len(want) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err != nil {
		return 0, err
	}
	for id := range want {
		if !got[id] {
			return len(got), fmt.Errorf("the UI does not list completed return %s by RmaStatus (it lists %d of %d)", id, len(got), len(want))
		}
	}
	if len(got) != len(want) {
		return len(got), fmt.Errorf("the UI lists %d completed returns, the read model has %d", len(got), len(want))
	}
	byOrder, err := uiList(ctx, ui, fmt.Sprintf(`RmaOrderId=%q AND RmaCustomerId=%q`, one.OrderID, one.Customer.ID))
	if err != nil {
		return len(got), err
	}
	if len(byOrder) != 1 || !byOrder["return/"+one.ID] {
		return len(got), fmt.Errorf("the UI lists %v for order %s, want %s", keys(byOrder), one.OrderID, one.ID)
	}
	return len(got), nil
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func uiList(ctx context.Context, ui, query string) (map[string]bool, error) {
	u := ui + "/api/v1/namespaces/default/workflows?pageSize=1000&query=" + url.QueryEscape(query)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("temporal ui: %w", err)
	}
	defer resp.Body.Close()
	var body struct {
		Executions []struct {
			Execution struct {
				WorkflowID string `json:"workflowId"`
			} `json:"execution"`
		} `json:"executions"`
		NextPageToken string `json:"nextPageToken"`
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("temporal ui %s: %s", query, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("decode the ui's list: %w", err)
	}
	out := map[string]bool{}
	for _, e := range body.Executions {
		out[e.Execution.WorkflowID] = true
	}
	return out, nil
}

// otlpReceiver is an OTLP/HTTP trace endpoint in the test: it keeps every
// span the rma processes export.
type otlpReceiver struct {
	url   string
	mu    sync.Mutex
	spans []recvSpan
}

type recvSpan struct {
	service, name string
	trace         string
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	rcv := &otlpReceiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rcv.mu.Lock()
		for _, rs := range req.GetResourceSpans() {
			service := ""
			for _, a := range rs.GetResource().GetAttributes() {
				if a.GetKey() == "service.name" {
					service = a.GetValue().GetStringValue()
				}
			}
			for _, ss := range rs.GetScopeSpans() {
				for _, sp := range ss.GetSpans() {
					rcv.spans = append(rcv.spans, recvSpan{service: service, name: sp.GetName(), trace: hex.EncodeToString(sp.GetTraceId())})
				}
			}
		}
		rcv.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		b, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		_, _ = w.Write(b)
	}))
	t.Cleanup(srv.Close)
	rcv.url = srv.URL
	return rcv
}

// checkTrace finds one trace that runs from an API request through the
// workflow start to the workflow run and an activity on a worker.
func (rcv *otlpReceiver) checkTrace(t *testing.T) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		rcv.mu.Lock()
		byTrace := map[string][]recvSpan{}
		for _, s := range rcv.spans {
			byTrace[s.trace] = append(byTrace[s.trace], s)
		}
		total := len(rcv.spans)
		rcv.mu.Unlock()
		for id, ss := range byTrace {
			var api, start, run, act bool
			for _, s := range ss {
				api = api || (s.service == "rma-api" && strings.HasPrefix(s.name, "POST /v1/returns"))
				start = start || (s.service == "rma-api" && strings.HasPrefix(s.name, "StartWorkflow:"))
				run = run || (s.service == "rma-worker" && strings.HasPrefix(s.name, "RunWorkflow:"))
				act = act || (s.service == "rma-worker" && strings.HasPrefix(s.name, "RunActivity:"))
			}
			if api && start && run && act {
				t.Logf("tracing: %d spans exported; trace %s runs API → StartWorkflow → RunWorkflow → RunActivity (%d spans)", total, id, len(ss))
				return nil
			}
		}
		if time.Now().After(deadline) {
			names := map[string]int{}
			for _, s := range rcv.spans {
				names[s.service+" "+strings.SplitN(s.name, ":", 2)[0]]++
			}
			return fmt.Errorf("no trace links an API request to a workflow run and an activity (%d spans: %v)", total, names)
		}
		time.Sleep(300 * time.Millisecond)
	}
}
