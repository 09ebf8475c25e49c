package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/webhook"
	"github.com/rma-dev/rma/workflows"
)

// Config sizes a run.
type Config struct {
	Dir string
	// Quick shrinks every count for a run under two minutes.
	Quick bool
	// WorkflowCache is the worker's workflow cache (open returns kept in memory).
	WorkflowCache int
	// Clients and Open, when set, replace the API latency phase's client
	// count and the scale phase's waiting returns (to see latency without
	// queueing, or memory at another scale).
	Clients, Open int
	Log           *zap.Logger
	Progress      io.Writer
}

// counts are a run's sizes.
type counts struct {
	Concurrency, Throughput, Warmup int
	Clients, PerClient              int
	Open, Complete                  int
}

func (c Config) counts() counts {
	n := counts{Concurrency: 8, Throughput: 600, Warmup: 40, Clients: 20, PerClient: 15, Open: 10000, Complete: 1000}
	if c.Quick {
		n = counts{Concurrency: 8, Throughput: 120, Warmup: 16, Clients: 20, PerClient: 6, Open: 1000, Complete: 200}
	}
	if c.Clients > 0 {
		n.PerClient = n.PerClient * n.Clients / c.Clients
		n.Clients = c.Clients
	}
	if c.Open > 0 {
		n.Open = c.Open
		n.Complete = min(n.Complete, c.Open)
	}
	return n
}

// Latency is the percentiles of one API call, in milliseconds.
type Latency struct {
	N             int
	P50, P95, P99 float64
}

// Report is a run's figures.
type Report struct {
	Quick                      bool
	Concurrency, Throughput    int
	ReturnsPerSec, FloorPerSec float64
	Ratio                      float64
	// CPUStandard and CPUFloor are milliseconds of CPU per run, by part.
	CPUStandard, CPUFloor      CPU
	Standard, Exchange, Manual Cost
	Latency                    map[string]Latency
	Open, Complete             int
	WorkerRSSMB, ServerRSSMB   float64
	WorkerRSSIdleMB            float64
	CreateOpenSec              float64
	CompleteSec                float64
	WorkflowCache              int
}

// Summary is the one line make bench prints.
func (r Report) Summary() string {
	return fmt.Sprintf("bench: ratio=%.2f returns_per_s=%.1f actions_per_return=%d events_per_return=%d create_p99_ms=%.0f approve_p99_ms=%.0f worker_rss_mb_10k=%.0f",
		r.Ratio, r.ReturnsPerSec, r.Standard.Actions, r.Standard.Events, r.Latency["create"].P99, r.Latency["approve"].P99, r.WorkerRSSMB)
}

// Run brings the topology up, measures, and takes it down.
func Run(ctx context.Context, cfg Config) (Report, error) {
	n := cfg.counts()
	rep := Report{Quick: cfg.Quick, Concurrency: n.Concurrency, Throughput: n.Throughput, Open: n.Open, Complete: n.Complete,
		Latency: map[string]Latency{}, WorkflowCache: cfg.WorkflowCache}
	say := func(format string, args ...any) { fmt.Fprintf(cfg.Progress, format+"\n", args...) }
	say("starting PostgreSQL, the Temporal server, the worker, the simulators and the API")
	s, err := startStack(ctx, cfg.Dir, cfg.WorkflowCache, cfg.Log)
	if err != nil {
		return rep, err
	}
	defer s.stop()
	d := &driver{s: s, hc: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}, Timeout: time.Minute}}
	if rep.WorkerRSSIdleMB, err = rssMB(s.worker.cmd.Process.Pid); err != nil {
		return rep, err
	}

	say("warm-up: %d standard returns and %d floor runs", n.Warmup, n.Warmup)
	if _, err := d.many(ctx, n.Warmup, n.Concurrency, d.standard); err != nil {
		return rep, err
	}
	if _, err := d.many(ctx, n.Warmup, n.Concurrency, d.floor); err != nil {
		return rep, err
	}

	say("cost: one standard return, one exchange, one manual review, counted from their histories")
	for _, c := range []struct {
		run  func(context.Context, int) (string, error)
		into *Cost
	}{{d.standard, &rep.Standard}, {d.exchange, &rep.Exchange}, {d.manual, &rep.Manual}} {
		id, err := c.run(ctx, 0)
		if err != nil {
			return rep, err
		}
		h, err := d.history(ctx, workflows.WorkflowID(id))
		if err != nil {
			return rep, err
		}
		*c.into = CountCost(h)
	}

	say("throughput: %d standard returns, then %d floor runs, %d at a time", n.Throughput, n.Throughput, n.Concurrency)
	c0 := s.cpu()
	std, err := d.many(ctx, n.Throughput, n.Concurrency, d.standard)
	if err != nil {
		return rep, err
	}
	c1 := s.cpu()
	floor, err := d.many(ctx, n.Throughput, n.Concurrency, d.floor)
	if err != nil {
		return rep, err
	}
	rep.CPUStandard, rep.CPUFloor = c1.minus(c0).per(n.Throughput), s.cpu().minus(c1).per(n.Throughput)
	rep.ReturnsPerSec, rep.FloorPerSec = float64(n.Throughput)/std.Seconds(), float64(n.Throughput)/floor.Seconds()
	rep.Ratio = rep.ReturnsPerSec / rep.FloorPerSec

	say("API latency: %d clients, %d manual-review returns each (the first two of each client are warm-up)", n.Clients, n.PerClient)
	if err := d.latency(ctx, n, &rep); err != nil {
		return rep, err
	}

	say("scale: %d returns waiting on their pickup timers", n.Open)
	start := time.Now()
	ids := make([]string, n.Open)
	var next atomic.Int64
	if _, err := d.many(ctx, n.Open, 16, func(ctx context.Context, _ int) (string, error) {
		id, _, err := d.labelled(ctx)
		ids[next.Add(1)-1] = id
		return id, err
	}); err != nil {
		return rep, err
	}
	rep.CreateOpenSec = time.Since(start).Seconds()
	time.Sleep(2 * time.Second) // the last tasks settle
	if rep.WorkerRSSMB, err = rssMB(s.worker.cmd.Process.Pid); err != nil {
		return rep, err
	}
	if rep.ServerRSSMB, err = rssMB(s.server.cmd.Process.Pid); err != nil {
		return rep, err
	}
	say("scale: %d of them complete once their carrier events arrive", n.Complete)
	var done atomic.Int64
	start = time.Now()
	if _, err := d.many(ctx, n.Complete, n.Concurrency, func(ctx context.Context, _ int) (string, error) {
		id := ids[done.Add(1)-1]
		return id, d.finish(ctx, id)
	}); err != nil {
		return rep, err
	}
	rep.CompleteSec = time.Since(start).Seconds()
	return rep, nil
}

// driver plays the merchant backend, the customer, the carrier and the
// warehouse against the API, and the floor's clients against Temporal.
type driver struct {
	s   *stack
	hc  *http.Client
	seq atomic.Int64
}

// many runs n jobs, c at a time, and reports the wall time.
func (d *driver) many(ctx context.Context, n, c int, job func(context.Context, int) (string, error)) (time.Duration, error) {
	start := time.Now()
	var wg sync.WaitGroup
	var first error
	var mu sync.Mutex
	work := make(chan int)
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if _, err := job(ctx, i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	return time.Since(start), first
}

func (d *driver) call(ctx context.Context, method, path string, body any, want int) (map[string]any, time.Duration, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, d.s.apiURL+path, rd)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	start := time.Now()
	resp, err := d.hc.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	took := time.Since(start)
	if resp.StatusCode != want {
		return nil, took, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return out, took, nil
}

func (d *driver) request(reason, resolution string) map[string]any {
	n := d.seq.Add(1)
	line := map[string]any{"line_id": "L1", "sku": "SKU-RED-M", "batch": "B2026-11", "quantity": 1,
		"unit_price": map[string]any{"amount": 19900, "currency": "CNY"}, "reason": reason, "resolution": resolution}
	if resolution == "exchange" {
		line["exchange_sku"] = "SKU-RED-L"
	}
	if reason == "defective" {
		line["photos"] = []string{"https://img.example/b.jpg"}
	}
	kind := "return"
	if resolution == "exchange" {
		kind = "exchange"
	}
	return map[string]any{"order_id": fmt.Sprintf("SO-B-%d", n), "kind": kind, "delivered_at": time.Now().Add(-48 * time.Hour).UTC().Format(time.RFC3339),
		"channel": "web", "customer": map[string]any{"id": fmt.Sprintf("C-B-%d", n), "tier": "standard", "locale": "en", "email": "b@example.com"},
		"lines": []any{line}}
}

func (d *driver) scan(ctx context.Context, tracking, typ string) error {
	ev := workflows.CarrierEvent{EventID: fmt.Sprintf("b-%s-%s-%d", tracking, typ, d.seq.Add(1)), TrackingNumber: tracking, Type: domain.CarrierEventType(typ), OccurredAt: time.Now().UTC()}
	b, _ := json.Marshal(ev)
	req, _ := http.NewRequestWithContext(ctx, "POST", d.s.apiURL+"/v1/webhooks/carrier", bytes.NewReader(b))
	req.Header.Set(webhook.Header, webhook.Sign([]byte(secret), time.Now(), b))
	resp, err := d.hc.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		raw, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("webhook %s: %d %s", typ, resp.StatusCode, raw)
	}
	return nil
}

// labelled opens a standard return and chooses pickup: it then waits on its
// pickup timer.
func (d *driver) labelled(ctx context.Context) (string, string, error) {
	out, _, err := d.call(ctx, "POST", "/v1/returns", d.request("defective", "refund"), 201)
	if err != nil {
		return "", "", err
	}
	id := out["id"].(string)
	if err := d.waitIdle(ctx, workflows.WorkflowID(id)); err != nil {
		return id, "", err
	}
	out, _, err = d.call(ctx, "POST", "/v1/returns/"+id+"/shipping-choice", map[string]any{"method": "pickup"}, 200)
	if err != nil {
		return id, "", err
	}
	tracking, _ := out["tracking_number"].(string)
	if tracking == "" {
		return id, "", fmt.Errorf("%s: no tracking number after the shipping choice", id)
	}
	return id, tracking, nil
}

// waitIdle paces a run like real life, where hours pass between a return's
// events: it waits until the workflow has finished the task the last
// message started (or has started at all), so every message gets a workflow
// task of its own, as it would in production. The floor is paced the same
// way.
func (d *driver) waitIdle(ctx context.Context, wid string) error {
	for i := 0; i < 4000; i++ {
		desc, err := d.s.tc.DescribeWorkflowExecution(ctx, wid, "")
		if err == nil && desc.PendingWorkflowTask == nil {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("%s never went idle", wid)
}

// finish plays the carrier and the warehouse for a labelled return.
func (d *driver) finish(ctx context.Context, id string) error {
	out, _, err := d.call(ctx, "GET", "/v1/returns/"+id, nil, 200)
	if err != nil {
		return err
	}
	tracking, _ := out["tracking_number"].(string)
	return d.deliver(ctx, id, tracking)
}

// deliver scans the parcel picked up and delivered, and inspects it.
func (d *driver) deliver(ctx context.Context, id, tracking string) error {
	for _, typ := range []string{"picked_up", "delivered"} {
		if err := d.scan(ctx, tracking, typ); err != nil {
			return err
		}
		if err := d.waitIdle(ctx, workflows.WorkflowID(id)); err != nil {
			return err
		}
	}
	// The warehouse inspects what it holds (that is its receipt).
	out, _, err := d.call(ctx, "POST", "/v1/returns/"+id+"/inspection", map[string]any{"items": []any{map[string]any{"line_id": "L1", "result": "pass", "disposition": "restock"}}}, 200)
	if err != nil {
		return err
	}
	if out["status"] != "completed" {
		return fmt.Errorf("%s: %v after inspection", id, out["status"])
	}
	return nil
}

// standard is request → auto-approve → pickup → picked up → delivered →
// inspect → refund, through the API.
func (d *driver) standard(ctx context.Context, _ int) (string, error) {
	id, tracking, err := d.labelled(ctx)
	if err != nil {
		return id, err
	}
	return id, d.deliver(ctx, id, tracking)
}

// exchange is the standard path for an exchange from stock.
func (d *driver) exchange(ctx context.Context, _ int) (string, error) {
	out, _, err := d.call(ctx, "POST", "/v1/returns", d.request("defective", "exchange"), 201)
	if err != nil {
		return "", err
	}
	id := out["id"].(string)
	if err := d.until(ctx, id, "awaiting_shipment"); err != nil {
		return id, err
	}
	if _, _, err := d.call(ctx, "POST", "/v1/returns/"+id+"/shipping-choice", map[string]any{"method": "pickup"}, 200); err != nil {
		return id, err
	}
	return id, d.finish(ctx, id)
}

// manual is a return support approves by hand.
func (d *driver) manual(ctx context.Context, _ int) (string, error) {
	out, _, err := d.call(ctx, "POST", "/v1/returns", d.request("changed_mind", "refund"), 201)
	if err != nil {
		return "", err
	}
	id := out["id"].(string)
	if err := d.waitIdle(ctx, workflows.WorkflowID(id)); err != nil {
		return id, err
	}
	if _, _, err := d.call(ctx, "POST", "/v1/returns/"+id+"/approve", map[string]any{"note": "ok"}, 200); err != nil {
		return id, err
	}
	if _, _, err := d.call(ctx, "POST", "/v1/returns/"+id+"/shipping-choice", map[string]any{"method": "pickup"}, 200); err != nil {
		return id, err
	}
	return id, d.finish(ctx, id)
}

func (d *driver) until(ctx context.Context, id, status string) error {
	for i := 0; i < 500; i++ {
		out, _, err := d.call(ctx, "GET", "/v1/returns/"+id, nil, 200)
		if err != nil {
			return err
		}
		if out["status"] == status {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("%s never reached %s", id, status)
}

// floor drives one floor run with the same messages as a standard return.
func (d *driver) floor(ctx context.Context, _ int) (string, error) {
	id := fmt.Sprintf("floor-%d-%d", time.Now().UnixNano(), d.seq.Add(1))
	tc := d.s.tc
	if _, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: FloorTaskQueue}, FloorWorkflowType); err != nil {
		return id, fmt.Errorf("start floor: %w", err)
	}
	if err := d.waitIdle(ctx, id); err != nil {
		return id, err
	}
	step := func() error {
		h, err := tc.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: id, UpdateName: FloorUpdate, WaitForStage: client.WorkflowUpdateStageCompleted})
		if err != nil {
			return fmt.Errorf("floor update: %w", err)
		}
		return h.Get(ctx, nil)
	}
	if err := step(); err != nil {
		return id, err
	}
	for i := 0; i < 2; i++ {
		if err := tc.SignalWorkflow(ctx, id, "", FloorSignal, nil); err != nil {
			return id, fmt.Errorf("floor signal: %w", err)
		}
		if err := d.waitIdle(ctx, id); err != nil {
			return id, err
		}
	}
	if err := step(); err != nil {
		return id, err
	}
	return id, tc.GetWorkflow(ctx, id, "").Get(ctx, nil)
}

// latency measures create, approve and status with many clients at once.
func (d *driver) latency(ctx context.Context, n counts, rep *Report) error {
	var mu sync.Mutex
	samples := map[string][]time.Duration{}
	record := func(what string, i int, took time.Duration) {
		if i < 2 {
			return // warm-up
		}
		mu.Lock()
		samples[what] = append(samples[what], took)
		mu.Unlock()
	}
	ids := make([][]string, n.Clients)
	phase := func(what string, fn func(c, i int) (time.Duration, error)) error {
		var wg sync.WaitGroup
		errs := make(chan error, n.Clients)
		for c := 0; c < n.Clients; c++ {
			wg.Add(1)
			go func(c int) {
				defer wg.Done()
				for i := 0; i < n.PerClient; i++ {
					took, err := fn(c, i)
					if err != nil {
						errs <- err
						return
					}
					record(what, i, took)
				}
			}(c)
		}
		wg.Wait()
		close(errs)
		return <-errs
	}
	if err := phase("create", func(c, _ int) (time.Duration, error) {
		out, took, err := d.call(ctx, "POST", "/v1/returns", d.request("changed_mind", "refund"), 201)
		if err == nil {
			ids[c] = append(ids[c], out["id"].(string))
		}
		return took, err
	}); err != nil {
		return err
	}
	// Support answers hours later in real life: let every workflow start
	// and settle first.
	for _, cl := range ids {
		for _, id := range cl {
			if err := d.waitIdle(ctx, workflows.WorkflowID(id)); err != nil {
				return err
			}
		}
	}
	if err := phase("approve", func(c, i int) (time.Duration, error) {
		_, took, err := d.call(ctx, "POST", "/v1/returns/"+ids[c][i]+"/approve", map[string]any{"note": "ok"}, 200)
		return took, err
	}); err != nil {
		return err
	}
	if err := phase("status", func(c, i int) (time.Duration, error) {
		_, took, err := d.call(ctx, "GET", "/v1/returns/"+ids[c][i], nil, 200)
		return took, err
	}); err != nil {
		return err
	}
	// A scan is answered 202 before the workflow applies it; the lag is how
	// long until the caller's GET shows it (the only read that is not
	// read-your-writes). The shipping choice before it is an update that
	// books a label, measured too.
	tracking := make([][]string, n.Clients)
	if err := phase("shipping choice", func(c, i int) (time.Duration, error) {
		out, took, err := d.call(ctx, "POST", "/v1/returns/"+ids[c][i]+"/shipping-choice", map[string]any{"method": "pickup"}, 200)
		if err == nil {
			tn, _ := out["tracking_number"].(string)
			tracking[c] = append(tracking[c], tn)
		}
		return took, err
	}); err != nil {
		return err
	}
	if err := phase("scan visible", func(c, i int) (time.Duration, error) {
		start := time.Now()
		if err := d.scan(ctx, tracking[c][i], "picked_up"); err != nil {
			return 0, err
		}
		for {
			out, _, err := d.call(ctx, "GET", "/v1/returns/"+ids[c][i], nil, 200)
			if err != nil {
				return 0, err
			}
			if out["status"] == string(domain.StatusInTransit) {
				return time.Since(start), nil
			}
			if time.Since(start) > time.Minute {
				return 0, fmt.Errorf("%s: the picked_up scan never showed (status %v)", ids[c][i], out["status"])
			}
			time.Sleep(time.Millisecond)
		}
	}); err != nil {
		return err
	}
	// The engine's own floor for the same calls: start a floor run, and
	// its first update, at the same concurrency.
	fids := make([][]string, n.Clients)
	if err := phase("floor start", func(c, i int) (time.Duration, error) {
		id := fmt.Sprintf("floor-lat-%d-%d-%d", c, i, d.seq.Add(1))
		start := time.Now()
		_, err := d.s.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: FloorTaskQueue}, FloorWorkflowType)
		fids[c] = append(fids[c], id)
		return time.Since(start), err
	}); err != nil {
		return err
	}
	for _, cl := range fids {
		for _, id := range cl {
			if err := d.waitIdle(ctx, id); err != nil {
				return err
			}
		}
	}
	if err := phase("floor update", func(c, i int) (time.Duration, error) {
		start := time.Now()
		h, err := d.s.tc.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: fids[c][i], UpdateName: FloorUpdate, WaitForStage: client.WorkflowUpdateStageCompleted})
		if err == nil {
			err = h.Get(ctx, nil)
		}
		return time.Since(start), err
	}); err != nil {
		return err
	}
	for what, s := range samples {
		rep.Latency[what] = percentiles(s)
	}
	return nil
}

func percentiles(s []time.Duration) Latency {
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	at := func(q float64) float64 {
		if len(s) == 0 {
			return 0
		}
		i := int(q*float64(len(s)-1) + 0.5)
		return float64(s[i].Microseconds()) / 1000
	}
	return Latency{N: len(s), P50: at(0.50), P95: at(0.95), P99: at(0.99)}
}

func (d *driver) history(ctx context.Context, wid string) (*historypb.History, error) {
	it := d.s.tc.GetWorkflowHistory(ctx, wid, "", false, 0)
	h := &historypb.History{}
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("history of %s: %w", wid, err)
		}
		h.Events = append(h.Events, ev)
	}
	return h, nil
}

// Print writes the report for humans.
func Print(w io.Writer, r Report) {
	mode := "full"
	if r.Quick {
		mode = "quick (BENCH_QUICK=1)"
	}
	fmt.Fprintf(w, "run: %s\n", mode)
	fmt.Fprintf(w, "throughput at %d concurrent: %.1f returns/s, floor %.1f runs/s, ratio %.2f (%d of each)\n", r.Concurrency, r.ReturnsPerSec, r.FloorPerSec, r.Ratio, r.Throughput)
	for _, c := range []struct {
		name string
		c    CPU
	}{{"standard return", r.CPUStandard}, {"floor run", r.CPUFloor}} {
		fmt.Fprintf(w, "CPU per %s: %.1f ms (server %.1f, worker %.1f, driver with API and simulators %.1f, PostgreSQL %.1f)\n",
			c.name, c.c.Total(), c.c.Server, c.c.Worker, c.c.Driver, c.c.Postgres)
	}
	for _, c := range []struct {
		name string
		c    Cost
	}{{"standard return", r.Standard}, {"exchange", r.Exchange}, {"manual review", r.Manual}} {
		fmt.Fprintf(w, "cost of a %s: %s; $%.2f per 1,000\n", c.name, c.c, c.c.Dollars(1000))
	}
	for _, k := range []string{"create", "approve", "status", "shipping choice", "scan visible", "floor start", "floor update"} {
		l := r.Latency[k]
		fmt.Fprintf(w, "latency %-15s p50 %.1f ms  p95 %.1f ms  p99 %.1f ms  (%d calls)\n", k, l.P50, l.P95, l.P99, l.N)
	}
	fmt.Fprintf(w, "scale: %d returns waiting on pickup timers (opened in %.0f s): worker RSS %.0f MB (idle %.0f MB, workflow cache %d), server RSS %.0f MB\n",
		r.Open, r.CreateOpenSec, r.WorkerRSSMB, r.WorkerRSSIdleMB, r.WorkflowCache, r.ServerRSSMB)
	fmt.Fprintf(w, "scale: %d of them completed in %.1f s once their carrier events arrived\n", r.Complete, r.CompleteSec)
}
