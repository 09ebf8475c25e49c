// Package chaos is the bounded chaos run of `make chaos`
// (docs/reliability.md). It starts the whole system as separate processes
// on loopback (PostgreSQL, `rma temporal`, `rma sim`, `rma api` and two
// `rma worker`s), injects partner faults, kills a worker every few seconds,
// restarts the Temporal server once midway, drives returns of every kind
// down every path while commands race the flow, and then audits the
// simulators' ledgers and the read model against the workflows.
package chaos

import (
	"context"
	"errors"
	"fmt"
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
	"time"

	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"github.com/rma-dev/rma/codec"
	"github.com/rma-dev/rma/pgdev"
	"github.com/rma-dev/rma/webhook"
	"github.com/rma-dev/rma/worker"
)

const (
	token  = "chaos-admin-token-8d3b61f0"
	secret = "chaos-webhook-secret"
)

// proc is one process of the system; its output goes to a log file in the
// run's directory.
type proc struct {
	name string
	args []string
	env  []string
	bin  string
	dir  string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	runs int
}

func (p *proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.runs++
	f, err := os.OpenFile(filepath.Join(p.dir, fmt.Sprintf("%s.%d.log", p.name, p.runs)), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("log file for %s: %w", p.name, err)
	}
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); f.Close(); close(done) }()
	p.cmd, p.done = cmd, done
	return nil
}

// kill sends SIGKILL: no drain, no goodbye.
func (p *proc) kill() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

// stop sends SIGTERM and waits, then kills.
func (p *proc) stop() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		p.kill()
	}
}

// system is the running topology.
type system struct {
	dir       string
	pg        *pgdev.Server
	dbURL     string
	temporal  *proc
	sim       *proc
	api       *proc
	workers   []*proc
	hostPort  string
	apiURL    string
	simURL    func(i int) string
	tc        client.Client
	hc        *http.Client
	closeOnce sync.Once
}

// chaosPolicy scales the deadlines the paths wait out to seconds, so a run
// ends in minutes: a return whose customer never picks a shipping method
// expires after choiceWithin.
const chaosPolicy = `review:
  reply_sla: 60s
  reply_reminder_before: 20s
  decision_sla: 120s
  decision_reminder_before: 30s
  info_within: 120s
  info_reminder_before: 30s
shipping:
  choice_within: 25s
  choice_reminder_before: 10s
  pickup_within: 180s
  pickup_reminder_before: 60s
  dropoff_within: 180s
  dropoff_reminder_before: 60s
  logistics_buffer: 60s
  transit_within: 300s
inspection:
  within: 300s
exchange:
  choice_within: 120s
  choice_reminder_before: 30s
repair:
  within: 300s
abuse:
  max_returns: 1000000
  max_value: 100000000000
`

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// portBlock finds a port with the next four free too (the simulators).
func portBlock() (int, error) {
	for i := 0; i < 50; i++ {
		p, err := freePort()
		if err != nil {
			return 0, err
		}
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
			return p, nil
		}
	}
	return 0, errors.New("no block of five free ports")
}

// startSystem brings the topology up: PostgreSQL (migrated), the Temporal
// server, the simulators, the API and two workers.
func startSystem(ctx context.Context, bin, dir string, workers int) (s *system, err error) {
	s = &system{dir: dir, hc: &http.Client{Timeout: 40 * time.Second}}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if s.pg, err = pgdev.Start(ctx, filepath.Join(dir, "pg"), "rma"); err != nil {
		return nil, fmt.Errorf("start PostgreSQL: %w", err)
	}
	s.dbURL = s.pg.URL
	if out, err := exec.CommandContext(ctx, bin, "migrate", "--database-url", s.dbURL).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("rma migrate: %w: %s", err, out)
	}
	policy := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policy, []byte(chaosPolicy), 0o600); err != nil {
		return nil, fmt.Errorf("write policy: %w", err)
	}
	tport, err := freePort()
	if err != nil {
		return nil, err
	}
	apiPort, err := freePort()
	if err != nil {
		return nil, err
	}
	simBase, err := portBlock()
	if err != nil {
		return nil, err
	}
	s.hostPort = "127.0.0.1:" + strconv.Itoa(tport)
	s.apiURL = "http://127.0.0.1:" + strconv.Itoa(apiPort)
	s.simURL = func(i int) string { return "http://127.0.0.1:" + strconv.Itoa(simBase+i) }
	mk := func(name string, env []string, args ...string) *proc {
		return &proc{name: name, args: args, env: env, bin: bin, dir: dir}
	}
	s.temporal = mk("temporal", nil, "temporal", "--data-dir", filepath.Join(dir, "temporal"), "--port", strconv.Itoa(tport), "--ui-port", "0")
	if err := s.temporal.start(); err != nil {
		return nil, err
	}
	if err := s.waitTemporal(ctx); err != nil {
		return nil, err
	}
	// Payloads are encrypted and partners authenticated, as in production.
	keySpec, err := codec.NewKey("chaos")
	if err != nil {
		return nil, err
	}
	keys, err := codec.ParseKeyring(keySpec)
	if err != nil {
		return nil, err
	}
	copts := client.Options{HostPort: s.hostPort, Logger: worker.NewLogger(zap.NewNop())}
	codec.Configure(&copts, keys)
	if s.tc, err = client.DialContext(ctx, copts); err != nil {
		return nil, fmt.Errorf("dial temporal: %w", err)
	}
	auth := []string{"RMA_CARRIER_AUTH=hmac:" + webhook.RandomSecret(20), "RMA_INVENTORY_AUTH=bearer:" + webhook.RandomSecret(20),
		"RMA_PAYMENTS_AUTH=hmac:" + webhook.RandomSecret(20), "RMA_NOTIFICATIONS_AUTH=bearer:" + webhook.RandomSecret(20)}
	s.sim = mk("sim", append([]string{"RMA_WEBHOOK_SECRET=" + secret}, auth...), "sim", "--base-port", strconv.Itoa(simBase),
		"--webhook-url", s.apiURL+"/v1/webhooks/carrier", "--sim-carrier", "auto", "--sim-step", "1s")
	if err := s.sim.start(); err != nil {
		return nil, err
	}
	common := []string{"TEMPORAL_ADDRESS=" + s.hostPort, "RMA_DATABASE_URL=" + s.dbURL, "RMA_POLICY=" + policy, codec.EnvKeys + "=" + keySpec}
	s.api = mk("api", append(common, "RMA_TOKENS="+token+"=admin:chaos", "RMA_WEBHOOK_SECRET="+secret), "api", "--http-port", strconv.Itoa(apiPort))
	if err := s.api.start(); err != nil {
		return nil, err
	}
	wenv := append(append(common, auth...), "RMA_CARRIER_URL="+s.simURL(1), "RMA_INVENTORY_URL="+s.simURL(2), "RMA_PAYMENTS_URL="+s.simURL(3), "RMA_NOTIFICATIONS_URL="+s.simURL(4))
	for i := 0; i < workers; i++ {
		w := mk(fmt.Sprintf("worker%d", i+1), wenv, "worker")
		if err := w.start(); err != nil {
			return nil, err
		}
		s.workers = append(s.workers, w)
	}
	for _, u := range []string{s.simURL(1) + "/v1/parcels", s.simURL(2) + "/v1/stock", s.simURL(3) + "/v1/ledger", s.simURL(4) + "/v1/outbox", s.apiURL + "/readyz"} {
		if err := waitHTTP(ctx, u); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// waitTemporal waits until the frontend answers a health check.
func (s *system) waitTemporal(ctx context.Context) error {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		c, err := client.DialContext(ctx, client.Options{HostPort: s.hostPort, Logger: worker.NewLogger(zap.NewNop())})
		if err == nil {
			_, err = c.CheckHealth(ctx, nil)
			c.Close()
			if err == nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("temporal at %s never answered (see %s)", s.hostPort, filepath.Join(s.dir, "temporal.*.log"))
}

// restartTemporal kills the server (SIGKILL) and starts it again on the
// same SQLite file.
func (s *system) restartTemporal(ctx context.Context) error {
	s.temporal.kill()
	if err := s.temporal.start(); err != nil {
		return err
	}
	return s.waitTemporal(ctx)
}

func waitHTTP(ctx context.Context, url string) error {
	for i := 0; i < 600; i++ {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s never answered", url)
}

func (s *system) close() {
	s.closeOnce.Do(func() {
		for _, w := range s.workers {
			w.stop()
		}
		for _, p := range []*proc{s.api, s.sim} {
			if p != nil {
				p.stop()
			}
		}
		if s.tc != nil {
			s.tc.Close()
		}
		if s.temporal != nil {
			s.temporal.stop()
		}
		if s.pg != nil {
			s.pg.Stop()
		}
	})
}

// logf writes a progress line.
func logf(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "%s %s\n", time.Now().Format("15:04:05"), strings.TrimSpace(fmt.Sprintf(format, args...)))
}
