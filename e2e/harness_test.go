// Package e2e runs the real rma binary (`rma dev`: embedded Temporal server,
// simulators, worker, API) as a subprocess and drives it over HTTP, the CLI
// and signed webhooks, the way users and carriers do.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go.temporal.io/sdk/client"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rma-dev/rma/codec"
	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/webhook"
)

const (
	token  = "e2e-dev-token-4c1f9a7e2b"
	secret = "e2e-webhook-secret"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rma-e2e-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "rma")
	build := exec.Command("go", "build", "-o", binary, "../cmd/rma")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build rma:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// dev is one `rma dev` process.
type dev struct {
	t                  *testing.T
	dataDir, policy    string
	http, temporal, ui int
	cmd                *exec.Cmd
	out                *bytes.Buffer
	// exited closes when cmd has exited, with exitErr.
	exited  chan struct{}
	exitErr error
	// carrier is the simulator's mode and scan step ("manual" by default).
	carrier []string
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// httpBase finds a port with the next four free too (the simulators').
func httpBase(t *testing.T) int {
	for i := 0; i < 50; i++ {
		p := freePort(t)
		ok := true
		for j := 1; j <= 4 && ok; j++ {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+j))
			if err != nil {
				ok = false
				continue
			}
			l.Close()
		}
		if ok {
			return p
		}
	}
	t.Fatal("no block of five free ports")
	return 0
}

func newDev(t *testing.T, policyYAML string) *dev {
	return newDevWith(t, policyYAML, "--sim-carrier", "manual")
}

// newDevWith starts rma dev with the given carrier simulator flags.
func newDevWith(t *testing.T, policyYAML string, carrier ...string) *dev {
	dir := t.TempDir()
	policy := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policy, []byte(policyYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	d := &dev{t: t, dataDir: filepath.Join(dir, "data"), policy: policy, http: httpBase(t), temporal: freePort(t), ui: freePort(t), carrier: carrier}
	d.start()
	t.Cleanup(d.stop)
	return d
}

func (d *dev) start() {
	d.t.Helper()
	for attempt := 1; !d.launchUntilReady(); attempt++ {
		// A free port probed a moment ago can be taken by another test's
		// process before rma dev binds it: take new ones.
		if attempt == 3 || !strings.Contains(d.out.String(), "address already in use") {
			d.t.Fatalf("rma dev exited:\n%s", d.out.String())
		}
		d.t.Logf("rma dev lost a port to another process; retrying on new ports")
		d.http, d.temporal, d.ui = httpBase(d.t), freePort(d.t), freePort(d.t)
	}
}

// launchUntilReady starts rma dev and reports whether it became ready
// (false: it exited first).
func (d *dev) launchUntilReady() bool {
	d.t.Helper()
	exited := d.launch()
	deadline := time.After(60 * time.Second)
	for {
		if resp, err := http.Get(d.url("/readyz")); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return true
			}
		}
		select {
		case <-exited:
			return false
		case <-deadline:
			d.t.Fatalf("rma dev did not become ready:\n%s", d.out.String())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// launch starts the rma dev process; the channel closes when it exits.
func (d *dev) launch() <-chan struct{} {
	d.out = &bytes.Buffer{}
	args := append([]string{"dev", "--data-dir", d.dataDir, "--http-port", strconv.Itoa(d.http),
		"--temporal-port", strconv.Itoa(d.temporal), "--ui-port", strconv.Itoa(d.ui), "--policy", d.policy}, d.carrier...)
	d.cmd = exec.Command(binary, args...)
	d.cmd.Env = append(os.Environ(), "RMA_DEV_TOKEN="+token, "RMA_WEBHOOK_SECRET="+secret)
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	if err := d.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	exited := make(chan struct{})
	cmd := d.cmd
	d.exited = exited
	go func() {
		d.exitErr = cmd.Wait()
		close(exited)
	}()
	return exited
}

// stop interrupts rma dev like Ctrl-C and waits for a clean exit.
func (d *dev) stop() {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-d.exited:
		if d.exitErr != nil {
			d.t.Errorf("rma dev exited with %v:\n%s", d.exitErr, d.out.String())
		}
	case <-time.After(60 * time.Second):
		_ = d.cmd.Process.Kill()
		d.t.Errorf("rma dev did not stop within 60s")
	}
	d.cmd = nil
}

func (d *dev) url(path string) string { return "http://127.0.0.1:" + strconv.Itoa(d.http) + path }

func (d *dev) simURL(offset int, path string) string {
	return "http://127.0.0.1:" + strconv.Itoa(d.http+offset) + path
}

// call sends a request and decodes the JSON answer.
func (d *dev) call(method, path string, body any, headers ...string) (int, map[string]any) {
	d.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, d.url(path), rd)
	req.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

func (d *dev) get(id string) domain.Return {
	d.t.Helper()
	req, _ := http.NewRequest("GET", d.url("/v1/returns/"+id), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		d.t.Fatalf("get %s: %d %s", id, resp.StatusCode, b)
	}
	var r domain.Return
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		d.t.Fatal(err)
	}
	return r
}

// getQuiet is get for goroutines other than the test's: it panics instead
// of failing the test.
func (d *dev) getQuiet(id string) domain.Return {
	req, _ := http.NewRequest("GET", d.url("/v1/returns/"+id), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(fmt.Sprintf("get %s: %v", id, err))
	}
	defer resp.Body.Close()
	var r domain.Return
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		panic(fmt.Sprintf("get %s: %d %s", id, resp.StatusCode, b))
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		panic(fmt.Sprintf("decode %s: %v", id, err))
	}
	return r
}

// waitStatusQuiet waits up to a minute for a status and returns the return
// as it stands then.
func (d *dev) waitStatusQuiet(id string, s domain.Status) domain.Return {
	deadline := time.Now().Add(60 * time.Second)
	r := d.getQuiet(id)
	for r.Status != s && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		r = d.getQuiet(id)
	}
	return r
}

// webhookQuiet sends one signed scan and reports the answer.
func (d *dev) webhookQuiet(tracking, typ string) (int, map[string]any) {
	eventMu.Lock()
	eventSeq++
	id := fmt.Sprintf("e2e-%d-%d", time.Now().UnixNano(), eventSeq)
	eventMu.Unlock()
	raw, _ := json.Marshal(map[string]any{"event_id": id, "tracking_number": tracking, "type": typ, "occurred_at": time.Now().UTC().Format(time.RFC3339)})
	req, _ := http.NewRequest("POST", d.url("/v1/webhooks/carrier"), bytes.NewReader(raw))
	req.Header.Set(webhook.Header, webhook.Sign([]byte(secret), time.Now(), raw))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(fmt.Sprintf("webhook: %v", err))
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func (d *dev) waitFor(id string, what string, ok func(domain.Return) bool) domain.Return {
	d.t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	var r domain.Return
	for time.Now().Before(deadline) {
		r = d.get(id)
		if ok(r) {
			return r
		}
		time.Sleep(200 * time.Millisecond)
	}
	d.t.Fatalf("return %s never reached %s; it is %s, timeline %+v", id, what, r.Status, r.Timeline)
	return r
}

func (d *dev) waitStatus(id string, s domain.Status) domain.Return {
	d.t.Helper()
	return d.waitFor(id, string(s), func(r domain.Return) bool { return r.Status == s })
}

func (d *dev) mustCall(method, path string, body any, want int) map[string]any {
	d.t.Helper()
	code, out := d.call(method, path, body)
	if code != want {
		d.t.Fatalf("%s %s: got %d %v, want %d", method, path, code, out, want)
	}
	return out
}

// create opens a return and returns its ID.
func (d *dev) create(req map[string]any) string {
	d.t.Helper()
	out := d.mustCall("POST", "/v1/returns", req, 201)
	return out["id"].(string)
}

// webhook posts a signed carrier event as the carrier would.
func (d *dev) webhook(ev map[string]any, sign func([]byte) string) (int, map[string]any) {
	d.t.Helper()
	raw, _ := json.Marshal(ev)
	req, _ := http.NewRequest("POST", d.url("/v1/webhooks/carrier"), bytes.NewReader(raw))
	if sign == nil {
		sign = func(b []byte) string { return webhook.Sign([]byte(secret), time.Now(), b) }
	}
	req.Header.Set(webhook.Header, sign(raw))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

var eventSeq int
var eventMu sync.Mutex

func (d *dev) scan(tracking, typ string) {
	d.t.Helper()
	eventMu.Lock()
	eventSeq++
	id := fmt.Sprintf("e2e-%d-%d", time.Now().UnixNano(), eventSeq)
	eventMu.Unlock()
	ev := map[string]any{"event_id": id, "tracking_number": tracking, "type": typ, "occurred_at": time.Now().UTC().Format(time.RFC3339)}
	// The label's route is written with the label, so this is routed at
	// once; a carrier would retry a 503 anyway.
	for i := 0; i < 50; i++ {
		code, out := d.webhook(ev, nil)
		if code == 202 {
			return
		}
		if code != 503 {
			d.t.Fatalf("webhook %s: %d %v", typ, code, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	d.t.Fatalf("webhook %s for %s never routed", typ, tracking)
}

// cli runs the rma binary against this dev's Temporal.
func (d *dev) cli(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), "TEMPORAL_ADDRESS=127.0.0.1:"+strconv.Itoa(d.temporal), "RMA_CARRIER_URL="+d.simURL(1, ""), "USER=e2e", "RMA_DATA_DIR="+d.dataDir)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func returnRequest(order, customer, sku string, price int64, reason, resolution string) map[string]any {
	line := map[string]any{"line_id": "L1", "sku": sku, "batch": "B2026-11", "quantity": 1,
		"unit_price": map[string]any{"amount": price, "currency": "CNY"}, "reason": reason, "resolution": resolution}
	if domain.Reason(reason).MerchantFault() {
		line["photos"] = []string{"https://img.example/" + order + ".jpg"}
	}
	kind := "return"
	if resolution == "exchange" {
		kind = "exchange"
	}
	return map[string]any{"order_id": order, "kind": kind, "delivered_at": time.Now().Add(-48 * time.Hour).UTC().Format(time.RFC3339), "channel": "web",
		"customer": map[string]any{"id": customer, "tier": "standard", "locale": "en", "email": customer + "@example.com"}, "lines": []any{line}}
}

// keys is the payload keyring rma dev made in its data dir.
func (d *dev) keys() *codec.Keyring {
	d.t.Helper()
	k, err := codec.LoadFile(filepath.Join(d.dataDir, "payload-keys"))
	if err != nil {
		d.t.Fatal(err)
	}
	return k
}

// dial connects to the dev server as rma does: with the payload codec.
func (d *dev) dial() (client.Client, error) {
	o := client.Options{HostPort: "127.0.0.1:" + strconv.Itoa(d.temporal)}
	codec.Configure(&o, d.keys())
	return client.Dial(o)
}
