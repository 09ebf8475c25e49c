package bench

import (
	"bufio"
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
	"syscall"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.uber.org/zap"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/api"
	"github.com/rma-dev/rma/codec"
	"github.com/rma-dev/rma/devtemporal"
	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/partners"
	"github.com/rma-dev/rma/pgdev"
	"github.com/rma-dev/rma/relay"
	"github.com/rma-dev/rma/sim"
	"github.com/rma-dev/rma/starter"
	"github.com/rma-dev/rma/store"
	"github.com/rma-dev/rma/webhook"
	"github.com/rma-dev/rma/worker"
	"github.com/rma-dev/rma/workflows"
)

// The bench runs the production topology on loopback: PostgreSQL, the
// Temporal server and the worker as processes of their own (so their memory
// is measured apart), and in the driver's process the zero-latency partner
// simulators and the HTTP API its clients call. The same binary plays the
// server and the worker roles (RoleEnv).

// RoleEnv selects what a bench process is: "server", "worker" or the driver.
const RoleEnv = "RMA_BENCH_ROLE"

// Secret signs the bench's carrier webhooks.
const secret = "bench-webhook-secret"

// Token is the bench clients' bearer token (every role).
const token = "bench-token"

// RunRole runs a server or worker process until SIGTERM; it reports false
// when this process is the driver.
func RunRole(ctx context.Context, log *zap.Logger) (bool, error) {
	switch os.Getenv(RoleEnv) {
	case "server":
		return true, runServer(ctx, log)
	case "worker":
		return true, runWorker(ctx, log)
	}
	return false, nil
}

func runServer(ctx context.Context, log *zap.Logger) error {
	port, _ := strconv.Atoi(os.Getenv("RMA_BENCH_PORT"))
	sa := workflows.SearchAttributeTypes()
	srv, err := devtemporal.Start(ctx, devtemporal.Options{DataDir: os.Getenv("RMA_BENCH_DIR"), FrontendPort: port, SearchAttributes: sa, Logger: log})
	if err != nil {
		return err
	}
	fmt.Println("ready")
	<-ctx.Done()
	srv.Stop()
	return nil
}

func runWorker(ctx context.Context, log *zap.Logger) error {
	keys, _, err := codec.Load(os.Getenv)
	if err != nil {
		return err
	}
	c, err := client.DialContext(ctx, clientOptions(os.Getenv("TEMPORAL_ADDRESS"), keys, worker.NewLogger(log)))
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer c.Close()
	st, err := store.Open(ctx, os.Getenv("RMA_DATABASE_URL"))
	if err != nil {
		return err
	}
	defer st.Close()
	o := worker.DefaultOptions()
	if n, err := strconv.Atoi(os.Getenv("RMA_BENCH_CACHE")); err == nil && n > 0 {
		o.WorkflowCache = n
	}
	acts := &activities.Activities{
		Carrier: partners.NewCarrier(os.Getenv("RMA_CARRIER_URL"), webhook.Credential{}), Inventory: partners.NewInventory(os.Getenv("RMA_INVENTORY_URL"), webhook.Credential{}),
		Payments: partners.NewPayments(os.Getenv("RMA_PAYMENTS_URL"), webhook.Credential{}), Store: st, Logger: log,
	}
	w := worker.New(c, acts, o)
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	defer w.Stop()
	// The floor runs in this process too, on the same server.
	fw := sdkworker.New(c, FloorTaskQueue, sdkworker.Options{MaxConcurrentWorkflowTaskExecutionSize: o.MaxConcurrentWorkflowTasks, MaxConcurrentWorkflowTaskPollers: o.WorkflowTaskPollers})
	fw.RegisterWorkflowWithOptions(Floor, workflow.RegisterOptions{Name: FloorWorkflowType})
	fw.RegisterActivity(Noop)
	if err := fw.Start(); err != nil {
		return fmt.Errorf("start floor worker: %w", err)
	}
	defer fw.Stop()
	rl := relay.New(st, partners.NewNotifier(os.Getenv("RMA_NOTIFICATIONS_URL"), webhook.Credential{}), log.Named("relay"), relay.DefaultOptions())
	go func() { _ = rl.Run(ctx) }()
	fmt.Println("ready")
	<-ctx.Done()
	return nil
}

// proc is a child process of the bench.
type proc struct {
	cmd  *exec.Cmd
	name string
}

func startProc(ctx context.Context, dir, role string, env []string) (*proc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the bench binary: %w", err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(append(os.Environ(), RoleEnv+"="+role), env...)
	logf, err := os.Create(filepath.Join(dir, role+".log"))
	if err != nil {
		return nil, fmt.Errorf("log file: %w", err)
	}
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("pipe: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", role, err)
	}
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.TrimSpace(sc.Text()) == "ready" {
				ready <- nil
				_, _ = io.Copy(io.Discard, out)
				return
			}
		}
		ready <- fmt.Errorf("%s exited before it was ready (see %s)", role, logf.Name())
	}()
	select {
	case err := <-ready:
		if err != nil {
			return nil, err
		}
	case <-time.After(3 * time.Minute):
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("%s not ready after 3 minutes", role)
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		return nil, ctx.Err()
	}
	return &proc{cmd: cmd, name: role}, nil
}

func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
	}
}

// rssMB is the resident memory of a process, from /proc.
func rssMB(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read status of %d: %w", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			if err != nil {
				return 0, fmt.Errorf("parse VmRSS %q: %w", rest, err)
			}
			return float64(kb) / 1024, nil
		}
	}
	return 0, errors.New("no VmRSS")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// serve runs a handler on a free loopback port.
func serve(h http.Handler) (string, *http.Server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return "http://" + l.Addr().String(), srv, nil
}

// stack is a running bench topology.
type stack struct {
	dir     string
	pg      *pgdev.Server
	st      *store.Store
	server  *proc
	worker  *proc
	tc      client.Client
	apiURL  string
	carrier *sim.Carrier
	pay     *sim.Payments
	https   []*http.Server
	log     *zap.Logger

	stopLauncher context.CancelFunc
}

func startStack(ctx context.Context, dir string, cache int, log *zap.Logger) (s *stack, err error) {
	s = &stack{dir: dir, log: log}
	defer func() {
		if err != nil {
			s.stop()
		}
	}()
	if s.pg, err = pgdev.Start(ctx, filepath.Join(dir, "pg"), "rma"); err != nil {
		return s, err
	}
	if s.st, err = store.Open(ctx, s.pg.URL); err != nil {
		return s, err
	}
	if _, err = s.st.Migrate(ctx); err != nil {
		return s, err
	}
	port, err := freePort()
	if err != nil {
		return s, err
	}
	if s.server, err = startProc(ctx, dir, "server", []string{"RMA_BENCH_PORT=" + strconv.Itoa(port), "RMA_BENCH_DIR=" + filepath.Join(dir, "temporal")}); err != nil {
		return s, err
	}
	hostport := "127.0.0.1:" + strconv.Itoa(port)
	// Payloads are encrypted as in production, so the figures include it.
	keySpec, err := codec.NewKey("bench")
	if err != nil {
		return s, err
	}
	keys, err := codec.ParseKeyring(keySpec)
	if err != nil {
		return s, err
	}
	if s.tc, err = client.DialContext(ctx, clientOptions(hostport, keys, worker.NewLogger(log.Named("client")))); err != nil {
		return s, fmt.Errorf("dial: %w", err)
	}

	// The API listens first: the carrier simulator posts its webhooks there.
	apiL, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return s, fmt.Errorf("listen: %w", err)
	}
	s.apiURL = "http://" + apiL.Addr().String()
	s.carrier = sim.NewCarrier(s.apiURL+"/v1/webhooks/carrier", []byte(secret), false, time.Second, log.Named("sim"))
	inv := sim.NewInventory()
	for _, sku := range []string{"SKU-RED-L", "SKU-RED-XL", "SKU-BLUE-L"} {
		inv.Engine.SetStock(sku, 1_000_000, domain.Money{Amount: 19900, Currency: domain.DefaultCurrency})
	}
	s.pay = sim.NewPayments()
	urls := map[string]http.Handler{"RMA_CARRIER_URL": s.carrier.Handler(), "RMA_INVENTORY_URL": inv.Handler(log), "RMA_PAYMENTS_URL": s.pay.Handler(log),
		"RMA_NOTIFICATIONS_URL": sim.NewNotifications().Handler(log)}
	env := []string{"TEMPORAL_ADDRESS=" + hostport, "RMA_DATABASE_URL=" + s.pg.URL, "RMA_BENCH_CACHE=" + strconv.Itoa(cache), codec.EnvKeys + "=" + keySpec}
	for k, h := range urls {
		u, srv, err := serve(h)
		if err != nil {
			return s, err
		}
		s.https = append(s.https, srv)
		env = append(env, k+"="+u)
	}
	if s.worker, err = startProc(ctx, dir, "worker", env); err != nil {
		return s, err
	}
	returns := starter.New(s.tc, domain.Defaults(), s.st)
	returns.Deferred = true
	lctx, stopLauncher := context.WithCancel(context.Background())
	s.stopLauncher = stopLauncher
	go func() { _ = starter.NewLauncher(returns, s.st, log.Named("launcher")).Run(lctx) }()
	srv := api.New(api.Config{Returns: returns, Store: s.st, Tokens: map[string]api.Principal{token: {Subject: "bench", Roles: api.AllRoles()}},
		WebhookSecret: []byte(secret), Logger: zap.NewNop()})
	h := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = h.Serve(apiL) }()
	s.https = append(s.https, h)
	return s, nil
}

func (s *stack) stop() {
	if s.stopLauncher != nil {
		s.stopLauncher()
	}
	for _, h := range s.https {
		_ = h.Close()
	}
	if s.worker != nil {
		s.worker.stop()
	}
	if s.tc != nil {
		s.tc.Close()
	}
	if s.server != nil {
		s.server.stop()
	}
	if s.st != nil {
		_ = s.st.Close()
	}
	if s.pg != nil {
		s.pg.Stop()
	}
}

// clientOptions dial the bench's server with the payload codec, as rma does.
func clientOptions(hostport string, keys *codec.Keyring, l sdklog.Logger) client.Options {
	o := client.Options{HostPort: hostport, Logger: l}
	codec.Configure(&o, keys)
	return o
}
