// Package devstack assembles the whole rma system in one process for
// `rma dev`: a private PostgreSQL (the read model), the embedded Temporal
// server and UI, the four partner simulators on loopback ports, the worker
// (reaching the simulators only through the real HTTP adapters), the notice
// relay, the HTTP API and the anomaly-check Schedule.
package devstack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
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

// Options configure the dev stack.
type Options struct {
	DataDir      string
	HTTPPort     int
	TemporalPort int
	UIPort       int
	Policy       domain.Policy
	// PolicySource is the --policy file's text: when set, a Policy that
	// differs from the stored current version is stored as the next one.
	// Empty: the stored version stays (or the defaults seed version 1).
	PolicySource  string
	CarrierAuto   bool
	CarrierStep   time.Duration
	DevToken      string
	WebhookSecret []byte
	// DatabaseURL is an existing PostgreSQL; empty starts a private one
	// under DataDir/postgres.
	DatabaseURL string
	// Keys encrypt every payload written to Temporal; the API serves them
	// decoded at /codec for the embedded UI.
	Keys   *codec.Keyring
	Logger *zap.Logger
}

// Stack is a running dev system.
type Stack struct {
	Temporal *devtemporal.Server
	Client   client.Client
	Returns  *starter.Client
	Carrier  *sim.Carrier
	Store    *store.Store
	URLs     URLs

	worker       sdkworker.Worker
	stopRelay    context.CancelFunc
	relayDone    chan struct{}
	launcherDone chan struct{}
	pg           *pgdev.Server
	servers      []*http.Server
	log          *zap.Logger
}

// URLs are where the parts listen.
type URLs struct {
	API, TemporalFrontend, TemporalUI, Database string
	Carrier, Inventory, Payments, Notifications string
}

// SimPorts are the simulators' ports: the four after the API port.
func SimPorts(httpPort int) (carrier, inventory, payments, notifications int) {
	return httpPort + 1, httpPort + 2, httpPort + 3, httpPort + 4
}

// Start brings everything up; on error what started is stopped again.
func Start(ctx context.Context, o Options) (st *Stack, err error) {
	s := &Stack{log: o.Logger}
	defer func() {
		if err != nil {
			s.Stop(context.Background())
		}
	}()
	for _, p := range []int{o.HTTPPort, o.TemporalPort, o.UIPort, o.HTTPPort + 1, o.HTTPPort + 2, o.HTTPPort + 3, o.HTTPPort + 4} {
		if err := portFree(p); err != nil {
			return nil, err
		}
	}
	dbURL := o.DatabaseURL
	if dbURL == "" {
		s.pg, err = pgdev.Start(ctx, filepath.Join(o.DataDir, "postgres"), "rma")
		if err != nil {
			return nil, fmt.Errorf("start PostgreSQL: %w", err)
		}
		dbURL = s.pg.URL
	}
	if s.Store, err = store.Open(ctx, dbURL); err != nil {
		return nil, err
	}
	if _, err := s.Store.Migrate(ctx); err != nil {
		return nil, err
	}
	// `rma report` and psql find the database through this file.
	if err := os.WriteFile(filepath.Join(o.DataDir, "database-url"), []byte(dbURL+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write database-url: %w", err)
	}
	if o.Keys == nil {
		return nil, errors.New("devstack: payload keys are required")
	}
	s.Temporal, err = devtemporal.Start(ctx, devtemporal.Options{
		DataDir: o.DataDir, FrontendPort: o.TemporalPort, UIPort: o.UIPort,
		SearchAttributes: workflows.SearchAttributeTypes(), Logger: o.Logger,
		// The UI decodes payloads in the browser through the API's codec
		// server; Temporal stores only ciphertext.
		CodecEndpoint: "http://127.0.0.1:" + strconv.Itoa(o.HTTPPort) + "/codec",
	})
	if err != nil {
		return nil, err
	}
	copts := client.Options{HostPort: s.Temporal.FrontendAddress(), Namespace: s.Temporal.Namespace(), Logger: worker.NewLogger(o.Logger)}
	codec.Configure(&copts, o.Keys)
	s.Client, err = client.DialContext(ctx, copts)
	if err != nil {
		return nil, fmt.Errorf("connect to embedded temporal: %w", err)
	}
	cp, ip, pp, np := SimPorts(o.HTTPPort)
	base := func(p int) string { return "http://127.0.0.1:" + strconv.Itoa(p) }
	s.URLs = URLs{API: base(o.HTTPPort), Database: dbURL, TemporalFrontend: s.Temporal.FrontendAddress(), TemporalUI: "http://" + s.Temporal.UIAddress(),
		Carrier: base(cp), Inventory: base(ip), Payments: base(pp), Notifications: base(np)}

	// Each simulator demands its own credential, as the real partner
	// would; fresh ones every start, since both sides live here.
	auth := make([]webhook.Credential, 4)
	for i := range auth {
		if auth[i], err = webhook.ParseCredential("dev partner credential", "bearer:"+webhook.RandomSecret(24)); err != nil {
			return nil, err
		}
	}
	s.Carrier = sim.NewCarrier(s.URLs.API+"/v1/webhooks/carrier", o.WebhookSecret, o.CarrierAuto, o.CarrierStep, o.Logger.Named("sim.carrier"))
	s.Carrier.Auth = auth[0]
	inv, pay, notify := sim.NewInventory(), sim.NewPayments(), sim.NewNotifications()
	inv.Auth, pay.Auth, notify.Auth = auth[1], auth[2], auth[3]
	sims := map[int]http.Handler{
		cp: s.Carrier.Handler(),
		ip: inv.Handler(o.Logger.Named("sim.inventory")),
		pp: pay.Handler(o.Logger.Named("sim.payments")),
		np: notify.Handler(o.Logger.Named("sim.notifications")),
	}
	for port, h := range sims {
		if err := s.serve(port, h); err != nil {
			return nil, err
		}
	}

	acts := &activities.Activities{
		Carrier: partners.NewCarrier(s.URLs.Carrier, auth[0]), Inventory: partners.NewInventory(s.URLs.Inventory, auth[1]),
		Payments: partners.NewPayments(s.URLs.Payments, auth[2]),
		Store:    s.Store,
		Logger:   o.Logger.Named("activity"),
	}
	s.worker = worker.New(s.Client, acts, worker.DefaultOptions())
	if err := s.worker.Start(); err != nil {
		return nil, fmt.Errorf("start worker: %w", err)
	}
	rctx, stopRelay := context.WithCancel(context.Background())
	s.stopRelay = stopRelay
	rl := relay.New(s.Store, partners.NewNotifier(s.URLs.Notifications, auth[3]), o.Logger.Named("relay"), relay.DefaultOptions())
	s.relayDone = make(chan struct{})
	ho := relay.DefaultWebhookOptions()
	ho.AllowPrivate = true // rma dev's receivers are on loopback
	hooks := relay.NewWebhooks(s.Store, o.Logger.Named("webhooks"), ho)
	go func() {
		defer close(s.relayDone)
		go func() {
			if err := hooks.Run(rctx); err != nil {
				o.Logger.Error("webhook relay stopped", zap.Error(err))
			}
		}()
		if err := rl.Run(rctx); err != nil {
			o.Logger.Error("notice relay stopped", zap.Error(err))
		}
	}()

	src, note := o.PolicySource, "rma dev --policy"
	if src == "" {
		src, note = "# the seeds' defaults (rma policy show)\n", "rma dev: the defaults"
	}
	if _, _, err := s.Store.EnsurePolicy(ctx, src, o.Policy, note, o.PolicySource != "", time.Now()); err != nil {
		return nil, err
	}
	s.Returns = starter.New(s.Client, o.Policy, s.Store).WithPolicies(s.Store.Policies())
	s.Returns.Deferred = true
	launcher := starter.NewLauncher(s.Returns, s.Store, o.Logger.Named("launcher"))
	s.launcherDone = make(chan struct{})
	go func() {
		defer close(s.launcherDone)
		if err := launcher.Run(rctx); err != nil {
			o.Logger.Error("launcher stopped", zap.Error(err))
		}
	}()
	if err := s.Returns.EnsureAnomalySchedule(ctx); err != nil {
		return nil, err
	}
	tokens := map[string]api.Principal{o.DevToken: {Subject: "dev", Roles: api.AllRoles()}}
	srv := api.New(api.Config{
		Returns: s.Returns, Store: s.Store, Tokens: tokens, WebhookSecret: o.WebhookSecret, Logger: o.Logger.Named("api"),
		Codec: o.Keys, Namespace: s.Temporal.Namespace(), CodecTrustUI: true, TemporalUIURL: "http://" + s.Temporal.UIAddress(),
		CodecOrigins: []string{"http://" + s.Temporal.UIAddress(), "http://localhost:" + strconv.Itoa(o.UIPort)},
		Ready:        func(ctx context.Context) error { _, err := s.Client.CheckHealth(ctx, nil); return err },
		Stock:        partners.NewInventory(s.URLs.Inventory, auth[1]).Available,
	})
	if err := s.serve(o.HTTPPort, srv.Handler()); err != nil {
		return nil, err
	}
	return s, nil
}

func portFree(p int) error {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		return fmt.Errorf("port %d is in use (choose others with --http-port, --temporal-port, --ui-port; the simulators use the four ports after --http-port): %w", p, err)
	}
	return l.Close()
}

func (s *Stack) serve(port int, h http.Handler) error {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("listen on %d: %w", port, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	s.servers = append(s.servers, srv)
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server stopped", zap.Int("port", port), zap.Error(err))
		}
	}()
	return nil
}

// Stop shuts down in reverse: stop taking requests, drain the worker's
// in-flight activities, then stop the simulators and the server. The SQLite
// file keeps every open return for the next start.
func (s *Stack) Stop(ctx context.Context) {
	if s.Carrier != nil {
		s.Carrier.Stop()
	}
	if len(s.servers) > 0 {
		api := s.servers[len(s.servers)-1]
		_ = api.Shutdown(ctx)
	}
	if s.worker != nil {
		s.worker.Stop()
	}
	if s.stopRelay != nil {
		s.stopRelay()
		<-s.relayDone
		if s.launcherDone != nil {
			<-s.launcherDone
		}
	}
	for _, srv := range s.servers {
		_ = srv.Shutdown(ctx)
	}
	if s.Client != nil {
		s.Client.Close()
	}
	if s.Temporal != nil {
		s.Temporal.Stop()
	}
	if s.Store != nil {
		_ = s.Store.Close()
	}
	if s.pg != nil {
		s.pg.Stop()
	}
}
