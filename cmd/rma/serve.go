package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/api"
	"github.com/rma-dev/rma/partners"
	"github.com/rma-dev/rma/relay"
	"github.com/rma-dev/rma/sim"
	"github.com/rma-dev/rma/starter"
	"github.com/rma-dev/rma/store"
	"github.com/rma-dev/rma/worker"
)

func newWorkerCmd() *cobra.Command {
	var tf temporalFlags
	var db dbFlags
	var carrier, inventory, payments, notify, policyFile string
	wo := worker.DefaultOptions()
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run the return workflows and activities against a Temporal cluster",
		Long: `rma worker polls the rma-returns task queue and relays the notice outbox
to the notifications service. It is stateless: run as many as you need.
Partner services are reached at the RMA_*_URL addresses (the simulators of
"rma sim" by default). On SIGTERM it stops polling and lets in-flight
activities finish (up to --drain-timeout).

With --deployment-name (env RMA_DEPLOYMENT_NAME) it joins Temporal's worker
deployment versioning as build --build-id (env RMA_BUILD_ID; default: the git
commit it was built from). A new build takes returns once it is made current
or ramped; returns are auto-upgrade, so they move to it at their next task.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := newLogger(false)
			defer func() { _ = log.Sync() }()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if wo.DeploymentName != "" && wo.BuildID == "" {
				return errors.New("--deployment-name needs a build ID: pass --build-id or set RMA_BUILD_ID (this binary carries no git commit)")
			}
			if db.url == "" {
				return errors.New("the worker needs the read model: pass --database-url or set RMA_DATABASE_URL (run rma migrate first)")
			}
			policy, err := loadPolicy(policyFile)
			if err != nil {
				return err
			}
			st, err := db.open(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			c, err := tf.dial(ctx, log)
			if err != nil {
				return err
			}
			defer c.Close()
			if err := starter.New(c, policy, st).EnsureAnomalySchedule(ctx); err != nil {
				return err
			}
			acts := &activities.Activities{
				Carrier: partners.NewCarrier(carrier), Inventory: partners.NewInventory(inventory),
				Payments: partners.NewPayments(payments),
				Store:    st, Logger: log.Named("activity"),
			}
			// The notice relay and a launcher run beside every worker;
			// they share their queues with row leases.
			rl := relay.New(st, partners.NewNotifier(notify), log.Named("relay"), relay.DefaultOptions())
			lc := starter.NewLauncher(starter.New(c, policy, st), st, log.Named("launcher"))
			done := make(chan error, 2)
			go func() { done <- rl.Run(ctx) }()
			go func() { done <- lc.Run(ctx) }()
			log.Info("worker started", zap.String("temporal", tf.address), zap.String("namespace", tf.namespace))
			err = worker.Run(ctx, c, acts, wo)
			for i := 0; i < 2; i++ {
				if rerr := <-done; rerr != nil && err == nil {
					err = rerr
				}
			}
			return err
		},
	}
	tf.register(cmd)
	f := cmd.Flags()
	f.StringVar(&carrier, "carrier-url", envOr("RMA_CARRIER_URL", "http://127.0.0.1:9101"), "carrier service (env RMA_CARRIER_URL)")
	f.StringVar(&inventory, "inventory-url", envOr("RMA_INVENTORY_URL", "http://127.0.0.1:9102"), "inventory service (env RMA_INVENTORY_URL)")
	f.StringVar(&payments, "payments-url", envOr("RMA_PAYMENTS_URL", "http://127.0.0.1:9103"), "payments service (env RMA_PAYMENTS_URL)")
	f.StringVar(&notify, "notifications-url", envOr("RMA_NOTIFICATIONS_URL", "http://127.0.0.1:9104"), "notifications service (env RMA_NOTIFICATIONS_URL)")
	f.IntVar(&wo.MaxConcurrentActivities, "max-activities", wo.MaxConcurrentActivities, "concurrent activities")
	f.IntVar(&wo.MaxConcurrentWorkflowTasks, "max-workflow-tasks", wo.MaxConcurrentWorkflowTasks, "concurrent workflow tasks")
	f.DurationVar(&wo.DrainTimeout, "drain-timeout", wo.DrainTimeout, "how long shutdown waits for in-flight activities")
	f.IntVar(&wo.WorkflowCache, "workflow-cache", wo.WorkflowCache, "open returns kept in memory between tasks (evicted ones replay their short history)")
	f.StringVar(&wo.DeploymentName, "deployment-name", os.Getenv("RMA_DEPLOYMENT_NAME"), "worker deployment to join with versioning on (env RMA_DEPLOYMENT_NAME; empty: unversioned)")
	f.StringVar(&wo.BuildID, "build-id", envOr("RMA_BUILD_ID", buildRevision()), "this build's ID in the deployment (env RMA_BUILD_ID; default: the git commit)")
	f.StringVar(&policyFile, "policy", os.Getenv("RMA_POLICY"), "policy YAML (the anomaly check's schedule and rule); env RMA_POLICY")
	f.StringVar(&db.url, "database-url", os.Getenv("RMA_DATABASE_URL"), "PostgreSQL read model (env RMA_DATABASE_URL)")
	return cmd
}

func newAPICmd() *cobra.Command {
	var tf temporalFlags
	var port int
	var policyFile, dbURL string
	cmd := &cobra.Command{
		Use:   "api",
		Short: "Serve the HTTP API (stateless; scale horizontally)",
		Long: `rma api serves API.md over HTTP. Tokens come from RMA_TOKENS as
"token=role+role:subject,..." (roles: backend, support, warehouse, customer,
analyst, admin); RMA_DEV_TOKEN adds a token with every role. RMA_WEBHOOK_SECRET
is the carrier webhook secret (required).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := newLogger(false)
			defer func() { _ = log.Sync() }()
			tokens, err := api.ParseTokens(os.Getenv("RMA_TOKENS"))
			if err != nil {
				return fmt.Errorf("RMA_TOKENS: %w", err)
			}
			if t := os.Getenv("RMA_DEV_TOKEN"); t != "" {
				tokens[t] = api.Principal{Subject: "dev", Roles: api.AllRoles()}
			}
			if len(tokens) == 0 {
				return errors.New("no tokens: set RMA_TOKENS (or RMA_DEV_TOKEN for development)")
			}
			secret := os.Getenv("RMA_WEBHOOK_SECRET")
			if secret == "" {
				return errors.New("RMA_WEBHOOK_SECRET is required to authenticate carrier webhooks")
			}
			policy, err := loadPolicy(policyFile)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			c, err := tf.dial(ctx, log)
			if err != nil {
				return err
			}
			defer c.Close()
			if dbURL == "" {
				return errors.New("the API needs the read model: pass --database-url or set RMA_DATABASE_URL (run rma migrate first)")
			}
			st, err := store.Open(ctx, dbURL)
			if err != nil {
				return err
			}
			defer st.Close()
			returns := starter.New(c, policy, st)
			returns.Deferred = true
			go func() {
				if err := starter.NewLauncher(returns, st, log.Named("launcher")).Run(ctx); err != nil {
					log.Error("launcher stopped", zap.Error(err))
				}
			}()
			srv := api.New(api.Config{Returns: returns, Store: st, Tokens: tokens, WebhookSecret: []byte(secret), Logger: log,
				Ready: func(ctx context.Context) error { _, err := c.CheckHealth(ctx, nil); return err }})
			return serveUntil(ctx, log, port, srv.Handler())
		},
	}
	tf.register(cmd)
	cmd.Flags().IntVar(&port, "http-port", 8080, "port to listen on")
	cmd.Flags().StringVar(&policyFile, "policy", os.Getenv("RMA_POLICY"), "policy YAML snapshotted into new returns (env RMA_POLICY)")
	cmd.Flags().StringVar(&dbURL, "database-url", os.Getenv("RMA_DATABASE_URL"), "PostgreSQL: idempotency keys, reads, lists, webhook routing, analytics (required; env RMA_DATABASE_URL)")
	return cmd
}

func serveUntil(ctx context.Context, log *zap.Logger, port int, h http.Handler) error {
	srv := &http.Server{Addr: net.JoinHostPort("", strconv.Itoa(port)), Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("listening", zap.Int("port", port))
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

func newSimCmd() *cobra.Command {
	var base int
	var webhookURL, mode string
	var step time.Duration
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Run the partner simulators standalone (carrier, inventory, payments, notifications)",
		Long: `rma sim serves the four simulators on --base-port+1 .. +4 (9101-9104 by
default), the same contracts as the real services (docs/partners.md). Faults
are set at run time with POST /v1/_faults on any simulator, for all its
operations or per operation:
  {"latency_ms":200,"fail_rate":0.1,"lost_reply_rate":0.1,"duplicate_rate":0.1}
  {"endpoints":{"refund":{"lost_reply_rate":0.5}}}     (payments: refunds only)
lost_reply_rate runs the call and then answers 500; late_reply_rate runs it
and holds the answer; reorder_rate (carrier) sends delivered before
picked_up. docs/partners.md lists every fault and operation.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := newLogger(true)
			secret := os.Getenv("RMA_WEBHOOK_SECRET")
			if secret == "" {
				return errors.New("RMA_WEBHOOK_SECRET is required: the carrier simulator signs its webhooks with it")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			carrier := sim.NewCarrier(webhookURL, []byte(secret), mode == "auto", step, log.Named("sim.carrier"))
			defer carrier.Stop()
			handlers := []http.Handler{carrier.Handler(), sim.NewInventory().Handler(log), sim.NewPayments().Handler(log), sim.NewNotifications().Handler(log)}
			errc := make(chan error, len(handlers))
			for i, h := range handlers {
				go func(port int, h http.Handler) { errc <- serveUntil(ctx, log, port, h) }(base+1+i, h)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "simulators: carrier :%d inventory :%d payments :%d notifications :%d\n", base+1, base+2, base+3, base+4)
			return <-errc
		},
	}
	cmd.Flags().IntVar(&base, "base-port", 9100, "the simulators listen on base+1..base+4")
	cmd.Flags().StringVar(&webhookURL, "webhook-url", envOr("RMA_WEBHOOK_URL", "http://127.0.0.1:8080/v1/webhooks/carrier"), "where the carrier posts tracking events (env RMA_WEBHOOK_URL)")
	cmd.Flags().StringVar(&mode, "sim-carrier", "auto", "auto: scan parcels by itself; manual: only on demand")
	cmd.Flags().DurationVar(&step, "sim-step", 5*time.Second, "auto carrier: time between scans")
	cmd.AddCommand(newSimCarrierCmd())
	return cmd
}
