// Package topology runs rma's production topology as real processes on
// loopback: a private PostgreSQL, a Temporal server, the partner
// simulators, `rma api` and several `rma worker`s. With Options.Tools it is
// a real Temporal cluster: the server binary of go.temporal.io/server on
// PostgreSQL (schema set up by Temporal's SQL tool), the Temporal UI server,
// and `rma setup` registering the namespace and search attributes, the
// same pieces deploy/ runs in containers. Without it the server is `rma
// temporal` (the dev server on SQLite). `make topology` brings it up for a
// person; the chaos run and the real-cluster e2e test drive it.
package topology

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
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

// Options shape the topology.
type Options struct {
	// Binary is the rma binary the rma processes run.
	Binary string
	// Dir holds the data and every process's log.
	Dir string
	// Workers is the number of `rma worker` processes (default 2).
	Workers int
	// Tools, when set, is the directory of the cluster tools (CheckTools):
	// the topology then runs a real Temporal cluster on PostgreSQL and the
	// Temporal UI. Empty runs `rma temporal`.
	Tools string
	// Policy is the policy YAML every rma process runs under; empty for
	// the defaults.
	Policy string
	// SimStep is the auto carrier's time between scans (default 1 s).
	SimStep time.Duration
	// Token is an admin API token; WebhookSecret signs carrier webhooks.
	Token, WebhookSecret string
	// Ports fixes the ports a person connects to; zero ones are free
	// ports found at start.
	Ports Ports
}

// Ports a person connects to.
type Ports struct {
	Temporal, UI, API, SimBase int
}

// Proc is one process of the topology; its output goes to a log file in
// the run's directory.
type Proc struct {
	Name  string
	Ports []string
	// Health is the base URL of a worker's probes.
	Health string
	args   []string
	env    []string
	bin    string
	dir    string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	runs int
}

// Start starts (or restarts) the process.
func (p *Proc) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.runs++
	f, err := os.OpenFile(filepath.Join(p.dir, fmt.Sprintf("%s.%d.log", p.Name, p.runs)), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("log file for %s: %w", p.Name, err)
	}
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = append(hermetic(), p.env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Dir = p.dir
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); f.Close(); close(done) }()
	p.cmd, p.done = cmd, done
	return nil
}

// hermetic is this process's environment without any Temporal client
// setting: a developer's TEMPORAL_ADDRESS, API key or config file must not
// point the topology's processes at another cluster.
func hermetic() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TEMPORAL_") {
			env = append(env, kv)
		}
	}
	return append(env, "TEMPORAL_CONFIG_FILE="+os.DevNull)
}

// PID is the running process's ID.
func (p *Proc) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

func (p *Proc) exited() bool {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// Kill sends SIGKILL: no drain, no goodbye.
func (p *Proc) Kill() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

// Stop sends SIGTERM and waits, then kills.
func (p *Proc) Stop() {
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
		p.Kill()
	}
}

// System is the running topology.
type System struct {
	Dir       string
	PG        *pgdev.Server
	DBURL     string
	HostPort  string
	Namespace string
	APIURL    string
	// APIMetricsURL is the API's Prometheus endpoint; a worker's is its
	// Health URL + /metrics.
	APIMetricsURL string
	// UIURL is the Temporal UI ("" without one).
	UIURL string
	// Keys is the payload keyring every rma process uses.
	Keys *codec.Keyring
	// Client is a Temporal client with the payload codec.
	Client   client.Client
	Temporal *Proc
	UI       *Proc
	Sim      *Proc
	API      *Proc
	Workers  []*Proc
	simBase  int
	closed   sync.Once
}

// SimURL is simulator i: 1 carrier, 2 inventory, 3 payments, 4
// notifications.
func (s *System) SimURL(i int) string { return "http://127.0.0.1:" + strconv.Itoa(s.simBase+i) }

// Procs are the processes, in start order.
func (s *System) Procs() []*Proc {
	out := []*Proc{}
	for _, p := range []*Proc{s.Temporal, s.UI, s.Sim, s.API} {
		if p != nil {
			out = append(out, p)
		}
	}
	return append(out, s.Workers...)
}

// Describe lists the processes with their PIDs and ports, PostgreSQL
// first.
func (s *System) Describe(w io.Writer) {
	fmt.Fprintf(w, "  %-10s pid %-7d %s (databases rma, temporal, temporal_visibility)\n", "postgresql", s.PG.PID(), "127.0.0.1:"+strconv.Itoa(s.PG.Port))
	for _, p := range s.Procs() {
		fmt.Fprintf(w, "  %-10s pid %-7d %s\n", p.Name, p.PID(), strings.Join(p.Ports, ", "))
	}
}

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

// lowFreePort is a free port below 32768: Temporal's SQL stores keep
// membership ports in a smallint column, and the kernel's free ports are
// above it.
func lowFreePort() (int, error) {
	for i := 0; i < 200; i++ {
		p := 20000 + rand.IntN(12000)
		l, err := net.Listen("tcp", addr(p))
		if err != nil {
			continue
		}
		l.Close()
		return p, nil
	}
	return 0, errors.New("no free port below 32768")
}

func orFree(p *int) error {
	if *p != 0 {
		return nil
	}
	v, err := freePort()
	*p = v
	return err
}

func addr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

// Start brings the topology up: PostgreSQL (migrated), the Temporal server
// (and UI), the simulators, the API and the workers. On error everything
// started is stopped.
func Start(ctx context.Context, o Options) (s *System, err error) {
	if o.Workers == 0 {
		o.Workers = 2
	}
	if o.SimStep == 0 {
		o.SimStep = time.Second
	}
	if o.Token == "" || o.WebhookSecret == "" {
		return nil, errors.New("topology: Token and WebhookSecret are required")
	}
	if o.Tools != "" {
		if err := CheckTools(o.Tools); err != nil {
			return nil, err
		}
	}
	s = &System{Dir: o.Dir, Namespace: "default"}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if err := os.MkdirAll(o.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("topology dir: %w", err)
	}
	if s.PG, err = pgdev.Start(ctx, filepath.Join(o.Dir, "pg"), "rma"); err != nil {
		return nil, fmt.Errorf("start PostgreSQL: %w", err)
	}
	s.DBURL = s.PG.URL
	migrate := exec.CommandContext(ctx, o.Binary, "migrate", "--database-url", s.DBURL)
	migrate.Env = hermetic()
	if out, err := migrate.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("rma migrate: %w: %s", err, out)
	}
	var policy string
	if o.Policy != "" {
		policy = filepath.Join(o.Dir, "policy.yaml")
		if err := os.WriteFile(policy, []byte(o.Policy), 0o600); err != nil {
			return nil, fmt.Errorf("write policy: %w", err)
		}
	}
	p := o.Ports
	for _, port := range []*int{&p.Temporal, &p.API} {
		if err := orFree(port); err != nil {
			return nil, err
		}
	}
	if p.SimBase == 0 {
		if p.SimBase, err = portBlock(); err != nil {
			return nil, err
		}
	}
	s.simBase = p.SimBase
	s.HostPort = addr(p.Temporal)
	s.APIURL = "http://" + addr(p.API)
	mk := func(name, bin string, env []string, args ...string) *Proc {
		return &Proc{Name: name, args: args, env: env, bin: bin, dir: o.Dir}
	}
	if o.Tools == "" {
		s.Temporal = mk("temporal", o.Binary, nil, "temporal", "--data-dir", filepath.Join(o.Dir, "temporal"), "--port", strconv.Itoa(p.Temporal), "--ui-port", "0")
		s.Temporal.Ports = []string{"grpc " + s.HostPort}
	} else {
		if err := s.cluster(ctx, o, &p); err != nil {
			return nil, err
		}
	}
	if err := s.Temporal.Start(); err != nil {
		return nil, err
	}
	if err := s.WaitTemporal(ctx); err != nil {
		return nil, err
	}
	if o.Tools != "" {
		// What an operator runs once per namespace (deploy/README.md).
		setup := exec.CommandContext(ctx, o.Binary, "setup", "--address", s.HostPort, "--namespace", s.Namespace, "--create-namespace")
		setup.Env = hermetic()
		if out, err := setup.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("rma setup: %w: %s", err, out)
		}
		if err := s.UI.Start(); err != nil {
			return nil, err
		}
	}
	// Payloads are encrypted and partners authenticated, as in production.
	keySpec, err := codec.NewKey("topology")
	if err != nil {
		return nil, err
	}
	if s.Keys, err = codec.ParseKeyring(keySpec); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(o.Dir, "payload-keys"), []byte(keySpec+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write payload keys: %w", err)
	}
	copts := client.Options{HostPort: s.HostPort, Namespace: s.Namespace, Logger: worker.NewLogger(zap.NewNop())}
	codec.Configure(&copts, s.Keys)
	if s.Client, err = client.DialContext(ctx, copts); err != nil {
		return nil, fmt.Errorf("dial temporal: %w", err)
	}
	auth := []string{"RMA_CARRIER_AUTH=hmac:" + webhook.RandomSecret(20), "RMA_INVENTORY_AUTH=bearer:" + webhook.RandomSecret(20),
		"RMA_PAYMENTS_AUTH=hmac:" + webhook.RandomSecret(20), "RMA_NOTIFICATIONS_AUTH=bearer:" + webhook.RandomSecret(20)}
	s.Sim = mk("sim", o.Binary, append([]string{"RMA_WEBHOOK_SECRET=" + o.WebhookSecret}, auth...), "sim", "--base-port", strconv.Itoa(p.SimBase),
		"--webhook-url", s.APIURL+"/v1/webhooks/carrier", "--sim-carrier", "auto", "--sim-step", o.SimStep.String())
	s.Sim.Ports = []string{fmt.Sprintf("carrier %s, inventory %s, payments %s, notifications %s", addr(p.SimBase+1), addr(p.SimBase+2), addr(p.SimBase+3), addr(p.SimBase+4))}
	if err := s.Sim.Start(); err != nil {
		return nil, err
	}
	common := []string{"TEMPORAL_ADDRESS=" + s.HostPort, "TEMPORAL_NAMESPACE=" + s.Namespace, "RMA_DATABASE_URL=" + s.DBURL, codec.EnvKeysFile + "=" + filepath.Join(o.Dir, "payload-keys")}
	if policy != "" {
		common = append(common, "RMA_POLICY="+policy)
	}
	// The API finds the cluster through a profile of Temporal's client
	// config file, the workers through TEMPORAL_* variables and rma setup
	// through flags: the three ways an operator configures the connection.
	profile := filepath.Join(o.Dir, "temporal.toml")
	if err := os.WriteFile(profile, []byte(fmt.Sprintf("[profile.topology]\naddress = %q\nnamespace = %q\n", s.HostPort, s.Namespace)), 0o600); err != nil {
		return nil, fmt.Errorf("write temporal.toml: %w", err)
	}
	apiEnv := []string{"TEMPORAL_CONFIG_FILE=" + profile, "TEMPORAL_PROFILE=topology", "RMA_DATABASE_URL=" + s.DBURL, codec.EnvKeysFile + "=" + filepath.Join(o.Dir, "payload-keys"),
		"RMA_TOKENS=" + o.Token + "=admin:ops", "RMA_WEBHOOK_SECRET=" + o.WebhookSecret}
	if policy != "" {
		apiEnv = append(apiEnv, "RMA_POLICY="+policy)
	}
	if s.UIURL != "" {
		apiEnv = append(apiEnv, "RMA_CODEC_ORIGINS="+s.UIURL)
	}
	mport, err := freePort()
	if err != nil {
		return nil, err
	}
	s.APIMetricsURL = "http://" + addr(mport) + "/metrics"
	s.API = mk("api", o.Binary, apiEnv, "api", "--http-port", strconv.Itoa(p.API), "--metrics-port", strconv.Itoa(mport))
	s.API.Ports = []string{"http " + addr(p.API), "metrics " + s.APIMetricsURL}
	if err := s.API.Start(); err != nil {
		return nil, err
	}
	wenv := append(append(append([]string{}, common...), auth...), "RMA_CARRIER_URL="+s.SimURL(1), "RMA_INVENTORY_URL="+s.SimURL(2), "RMA_PAYMENTS_URL="+s.SimURL(3), "RMA_NOTIFICATIONS_URL="+s.SimURL(4))
	for i := 0; i < o.Workers; i++ {
		hp, err := freePort()
		if err != nil {
			return nil, err
		}
		w := mk(fmt.Sprintf("worker%d", i+1), o.Binary, wenv, "worker", "--health-port", strconv.Itoa(hp))
		w.Ports = []string{"probes and metrics http://" + addr(hp) + " (polls " + s.HostPort + ")"}
		w.Health = "http://" + addr(hp)
		if err := w.Start(); err != nil {
			return nil, err
		}
		s.Workers = append(s.Workers, w)
	}
	wait := []string{s.SimURL(1) + "/v1/parcels", s.SimURL(2) + "/v1/stock", s.SimURL(3) + "/v1/ledger", s.SimURL(4) + "/v1/outbox", s.APIURL + "/readyz"}
	if s.UIURL != "" {
		wait = append(wait, s.UIURL+"/api/v1/settings")
	}
	for _, w := range s.Workers {
		wait = append(wait, w.Health+"/readyz")
	}
	for _, u := range wait {
		if err := waitHTTP(ctx, u); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// cluster prepares the real Temporal cluster: its schema in the private
// PostgreSQL, the server's config, and the UI's.
func (s *System) cluster(ctx context.Context, o Options, p *Ports) error {
	tools := o.Tools
	if err := setupSchema(ctx, filepath.Join(tools, SQLToolBinary), s.PG.Port, "rma"); err != nil {
		return err
	}
	if err := orFree(&p.UI); err != nil {
		return err
	}
	cp := clusterPorts{Frontend: p.Temporal, PG: s.PG.Port, User: "rma", DynamicConfig: filepath.Join(o.Dir, "temporal", "dynamicconfig.yaml")}
	for _, port := range []*int{&cp.FrontendHTTP, &cp.History, &cp.Matching, &cp.Worker, &cp.Metrics} {
		if err := orFree(port); err != nil {
			return err
		}
	}
	for _, port := range []*int{&cp.FrontendMembership, &cp.HistoryMembership, &cp.MatchingMembership, &cp.WorkerMembership} {
		var err error
		if *port, err = lowFreePort(); err != nil {
			return err
		}
	}
	conf := filepath.Join(o.Dir, "temporal", "config.yaml")
	if err := render(serverConfig, conf, cp); err != nil {
		return err
	}
	if err := os.WriteFile(cp.DynamicConfig, []byte(dynamicConfig), 0o600); err != nil {
		return fmt.Errorf("write dynamic config: %w", err)
	}
	s.Temporal = &Proc{Name: "temporal", bin: filepath.Join(tools, ServerBinary), dir: o.Dir,
		args: []string{"--config-file", conf, "--allow-no-auth", "start"},
		Ports: []string{"grpc " + addr(cp.Frontend), "http " + addr(cp.FrontendHTTP), "history " + addr(cp.History), "matching " + addr(cp.Matching),
			"worker " + addr(cp.Worker), fmt.Sprintf("membership %d-%d-%d-%d", cp.FrontendMembership, cp.HistoryMembership, cp.MatchingMembership, cp.WorkerMembership),
			"metrics http://" + addr(cp.Metrics) + "/metrics"}}
	s.UIURL = "http://" + addr(p.UI)
	uiRoot := filepath.Join(o.Dir, "ui")
	if err := render(uiConfig, filepath.Join(uiRoot, "config", "development.yaml"), map[string]any{
		"Port": p.UI, "Frontend": p.Temporal, "Codec": "http://" + addr(p.API) + "/codec"}); err != nil {
		return err
	}
	s.UI = &Proc{Name: "temporal-ui", bin: filepath.Join(tools, UIBinary), dir: o.Dir,
		args: []string{"--root", uiRoot, "--config", "config", "--env", "development", "start"}, Ports: []string{"http " + addr(p.UI)}}
	return nil
}

// WaitTemporal waits until the frontend answers a health check.
func (s *System) WaitTemporal(ctx context.Context) error {
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		if s.Temporal.exited() {
			return fmt.Errorf("the temporal server exited at start (see %s)", filepath.Join(s.Dir, "temporal.*.log"))
		}
		c, err := client.DialContext(ctx, client.Options{HostPort: s.HostPort, Logger: worker.NewLogger(zap.NewNop())})
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
	return fmt.Errorf("temporal at %s never answered (see %s)", s.HostPort, filepath.Join(s.Dir, "temporal.*.log"))
}

// RestartTemporal kills the server (SIGKILL) and starts it again on the
// same store.
func (s *System) RestartTemporal(ctx context.Context) error {
	s.Temporal.Kill()
	if err := s.Temporal.Start(); err != nil {
		return err
	}
	return s.WaitTemporal(ctx)
}

func waitHTTP(ctx context.Context, url string) error {
	for i := 0; i < 1200; i++ {
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

// Logs are the run's log files, for a failure report.
func (s *System) Logs() []string {
	m, _ := filepath.Glob(filepath.Join(s.Dir, "*.log"))
	sort.Strings(m)
	return m
}

// Close stops every process: workers first, PostgreSQL last.
func (s *System) Close() {
	s.closed.Do(func() {
		for _, w := range s.Workers {
			w.Stop()
		}
		for _, p := range []*Proc{s.API, s.Sim, s.UI} {
			if p != nil {
				p.Stop()
			}
		}
		if s.Client != nil {
			s.Client.Close()
		}
		if s.Temporal != nil {
			s.Temporal.Stop()
		}
		if s.PG != nil {
			s.PG.Stop()
		}
	})
}
