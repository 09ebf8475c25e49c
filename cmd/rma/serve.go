package main

import (
	"context"
	"crypto/tls"
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
	"github.com/rma-dev/rma/metrics"
	"github.com/rma-dev/rma/partners"
	"github.com/rma-dev/rma/relay"
	"github.com/rma-dev/rma/sim"
	"github.com/rma-dev/rma/starter"
	"github.com/rma-dev/rma/store"
	"github.com/rma-dev/rma/tracing"
	"github.com/rma-dev/rma/worker"
)

func newWorkerCmd() *cobra.Command {
	var tf temporalFlags
	var db dbFlags
	var carrier, inventory, policyFile string
	var webhooksPrivate bool
	var prov providers
	var healthPort int
	wo := worker.DefaultOptions()
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run the return workflows and activities against a Temporal cluster",
		Long: `rma worker polls the rma-returns task queue and relays the notice outbox
to the notifications service. It is stateless: run as many as you need.
Partner services are reached at the RMA_*_URL addresses (the simulators of
"rma sim" by default), with the credentials in RMA_<PARTNER>_AUTH
(bearer:TOKEN or hmac:SECRET). Money can move through Stripe instead
(--payments stripe, RMA_STRIPE_SECRET_KEY) and notices go out as email
(--notifications smtp, RMA_SMTP_*), rendered from rma's zh-CN and en
templates. Every payload it writes to Temporal is
encrypted with the keys of RMA_PAYLOAD_KEYS_FILE or RMA_PAYLOAD_KEYS
(required; rma key new makes one). On SIGTERM it stops polling and lets in-flight
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
			// A bad --policy file fails here, before anything connects.
			filePolicy, err := loadPolicy(policyFile)
			if err != nil {
				return err
			}
			creds, err := loadPartnerCreds()
			if err != nil {
				return err
			}
			ms, err := metrics.New("worker")
			if err != nil {
				return err
			}
			defer ms.Close()
			tf.metrics = ms.TemporalHandler()
			tr, err := tracing.Setup(ctx, "rma-worker")
			if err != nil {
				return err
			}
			defer func() { _ = tr.Shutdown(context.WithoutCancel(ctx)) }()
			if tf.interceptors, err = tr.Interceptors(); err != nil {
				return err
			}
			// Checked here too, before anything connects: a placeholder
			// key stops the worker at once. The port is built again below
			// with the stored policy.
			if _, err := prov.paymentsPort(creds.payments, filePolicy, ms); err != nil {
				return err
			}
			notifier, err := prov.notifier(creds.notifications, ms)
			if err != nil {
				return err
			}
			if m := creds.missing(); len(m) > 0 {
				log.Warn("partners called without credentials (set RMA_<PARTNER>_AUTH, docs/security.md)", zap.Strings("partners", m))
			}
			st, err := db.open(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			// The policy is the database's current version, the same
			// for every worker and API (the file only seeds version 1).
			policy, err := storedPolicy(ctx, st, policyFile, false, log)
			if err != nil {
				return err
			}
			payments, err := prov.paymentsPort(creds.payments, policy, ms)
			if err != nil {
				return err
			}
			c, err := tf.dial(ctx, log)
			if err != nil {
				return err
			}
			defer c.Close()
			if err := starter.New(c, policy, st).WithPolicies(st.Policies()).EnsureAnomalySchedule(ctx); err != nil {
				return err
			}
			acts := &activities.Activities{
				Carrier:   partners.NewCarrier(carrier, creds.carrier, partners.WithTransport(ms.Partner("carrier", nil))),
				Inventory: partners.NewInventory(inventory, creds.inventory, partners.WithTransport(ms.Partner("inventory", nil))),
				Payments:  payments,
				Store:     st, Logger: log.Named("activity"),
			}
			// The notice relay and a launcher run beside every worker;
			// they share their queues with row leases.
			rl := relay.New(st, notifier, log.Named("relay"), relay.DefaultOptions())
			ho := relay.DefaultWebhookOptions()
			ho.AllowPrivate = webhooksPrivate
			hooks := relay.NewWebhooks(st, log.Named("webhooks"), ho)
			lc := starter.NewLauncher(starter.New(c, policy, st).WithPolicies(st.Policies()), st, log.Named("launcher"))
			done := make(chan error, 3)
			go func() { done <- rl.Run(ctx) }()
			go func() { done <- hooks.Run(ctx) }()
			go func() { done <- lc.Run(ctx) }()
			if healthPort > 0 {
				// Probes only: a failure to listen is logged, not fatal.
				go func() {
					mux := http.NewServeMux()
					mux.Handle("/metrics", ms.Handler())
					mux.Handle("/", worker.HealthHandler(worker.Ready(c, st.DB())))
					if err := serveUntil(ctx, log, healthPort, mux); err != nil {
						log.Error("health endpoint stopped", zap.Error(err))
					}
				}()
			}
			log.Info("worker started", zap.String("temporal", tf.address), zap.String("namespace", tf.namespace),
				zap.String("payments", prov.payments), zap.String("notifications", prov.notifications))
			err = worker.Run(ctx, c, acts, wo)
			for i := 0; i < cap(done); i++ {
				if rerr := <-done; rerr != nil && err == nil {
					err = rerr
				}
			}
			return err
		},
	}
	tf.register(cmd)
	tf.requireKeys = true
	f := cmd.Flags()
	f.StringVar(&carrier, "carrier-url", envOr("RMA_CARRIER_URL", "http://127.0.0.1:9101"), "carrier service (env RMA_CARRIER_URL)")
	f.StringVar(&inventory, "inventory-url", envOr("RMA_INVENTORY_URL", "http://127.0.0.1:9102"), "inventory service (env RMA_INVENTORY_URL)")
	f.StringVar(&prov.paymentsURL, "payments-url", envOr("RMA_PAYMENTS_URL", "http://127.0.0.1:9103"), "payments service, for --payments service (env RMA_PAYMENTS_URL)")
	f.StringVar(&prov.notifyURL, "notifications-url", envOr("RMA_NOTIFICATIONS_URL", "http://127.0.0.1:9104"), "notifications service, for --notifications service (env RMA_NOTIFICATIONS_URL)")
	prov.register(cmd)
	f.IntVar(&healthPort, "health-port", envInt("RMA_HEALTH_PORT", 0), "serve /healthz and /readyz (Temporal and PostgreSQL reachable) for probes, and /metrics (Prometheus) on this port; 0: none (env RMA_HEALTH_PORT)")
	f.IntVar(&wo.MaxConcurrentActivities, "max-activities", wo.MaxConcurrentActivities, "concurrent activities")
	f.IntVar(&wo.MaxConcurrentWorkflowTasks, "max-workflow-tasks", wo.MaxConcurrentWorkflowTasks, "concurrent workflow tasks")
	f.DurationVar(&wo.DrainTimeout, "drain-timeout", wo.DrainTimeout, "how long shutdown waits for in-flight activities")
	f.IntVar(&wo.WorkflowCache, "workflow-cache", wo.WorkflowCache, "open returns kept in memory between tasks (evicted ones replay their short history)")
	f.StringVar(&wo.DeploymentName, "deployment-name", os.Getenv("RMA_DEPLOYMENT_NAME"), "worker deployment to join with versioning on (env RMA_DEPLOYMENT_NAME; empty: unversioned)")
	f.StringVar(&wo.BuildID, "build-id", envOr("RMA_BUILD_ID", buildRevision()), "this build's ID in the deployment (env RMA_BUILD_ID; default: the git commit)")
	f.StringVar(&policyFile, "policy", os.Getenv("RMA_POLICY"), "policy YAML that seeds version 1 when the database holds none (later: rma policy apply); env RMA_POLICY")
	f.BoolVar(&webhooksPrivate, "webhooks-allow-private", os.Getenv("RMA_WEBHOOKS_ALLOW_PRIVATE") == "true", "let webhook endpoints resolve to private and loopback addresses (on-premises receivers; env RMA_WEBHOOKS_ALLOW_PRIVATE=true)")
	f.StringVar(&db.url, "database-url", os.Getenv("RMA_DATABASE_URL"), "PostgreSQL read model (env RMA_DATABASE_URL)")
	return cmd
}

func newAPICmd() *cobra.Command {
	var tf temporalFlags
	var port, metricsPort int
	var policyFile, dbURL, tlsCert, tlsKey, origins, uiURL, inventoryURL string
	var rateLimit float64
	var rateBurst int
	cmd := &cobra.Command{
		Use:   "api",
		Short: "Serve the HTTP API (stateless; scale horizontally)",
		Long: `rma api serves API.md over HTTP (HTTPS with --tls-cert-file/--tls-key-file).

Callers authenticate with bearer tokens made by "rma token create" (stored
hashed in PostgreSQL). RMA_TOKENS may add static ones as
"token=role+role:subject,..." (roles: backend, support, warehouse, customer,
analyst, admin; a customer token's subject is its customer ID), and
RMA_DEV_TOKEN one with every role. Each token is rate limited
(--rate-limit). RMA_WEBHOOK_SECRET is the carrier webhook secret (required).

Payloads are encrypted with RMA_PAYLOAD_KEYS_FILE or RMA_PAYLOAD_KEYS
(required), and /codec/decode serves them decoded to support and admin
tokens: point the Temporal UI's codec endpoint at <this API>/codec and list
the UI's origin in --codec-origin. Placeholder secrets ("change-me") are
refused at start.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := newLogger(false)
			defer func() { _ = log.Sync() }()
			tokens, err := loadTokens()
			if err != nil {
				return err
			}
			secret, err := webhookSecretFromEnv()
			if err != nil {
				return err
			}
			if (tlsCert == "") != (tlsKey == "") {
				return errors.New("give both --tls-cert-file and --tls-key-file, or neither")
			}
			policy, err := loadPolicy(policyFile)
			if err != nil {
				return err
			}
			keys, err := tf.keyring()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if dbURL == "" {
				return errors.New("the API needs the read model: pass --database-url or set RMA_DATABASE_URL (run rma migrate first)")
			}
			ms, err := metrics.New("api")
			if err != nil {
				return err
			}
			defer ms.Close()
			tf.metrics = ms.TemporalHandler()
			tr, err := tracing.Setup(ctx, "rma-api")
			if err != nil {
				return err
			}
			defer func() { _ = tr.Shutdown(context.WithoutCancel(ctx)) }()
			if tf.interceptors, err = tr.Interceptors(); err != nil {
				return err
			}
			c, err := tf.dial(ctx, log)
			if err != nil {
				return err
			}
			defer c.Close()
			st, err := store.Open(ctx, dbURL)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := ms.RegisterReadModel(st); err != nil {
				return err
			}
			if metricsPort > 0 {
				// Its own port: the business figures are for the monitoring
				// network, not for the API's callers.
				go func() {
					if err := serveUntil(ctx, log, metricsPort, ms.Handler()); err != nil {
						log.Error("metrics endpoint stopped", zap.Error(err))
					}
				}()
			}
			if _, err := storedPolicy(ctx, st, policyFile, false, log); err != nil {
				return err
			}
			var stock func(ctx context.Context, sku string) (int, error)
			if inventoryURL != "" {
				creds, err := loadPartnerCreds()
				if err != nil {
					return err
				}
				stock = partners.NewInventory(inventoryURL, creds.inventory, partners.WithTransport(ms.Partner("inventory", nil))).Available
			}
			returns := starter.New(c, policy, st).WithPolicies(st.Policies())
			returns.Deferred = true
			go func() {
				if err := starter.NewLauncher(returns, st, log.Named("launcher")).Run(ctx); err != nil {
					log.Error("launcher stopped", zap.Error(err))
				}
			}()
			srv := api.New(api.Config{Returns: returns, Store: st, Tokens: tokens, WebhookSecret: secret, Logger: log,
				RateLimit: rateLimit, RateBurst: rateBurst,
				Codec: keys, Namespace: tf.namespace, CodecOrigins: splitList(origins), TemporalUIURL: uiURL,
				Ready: worker.Ready(c, st.DB()), Stock: stock})
			return serveTLSUntil(ctx, log, port, tr.Handler(srv.Handler()), tlsCert, tlsKey)
		},
	}
	tf.register(cmd)
	tf.requireKeys = true
	f := cmd.Flags()
	f.IntVar(&port, "http-port", 8080, "port to listen on")
	f.StringVar(&inventoryURL, "inventory-url", os.Getenv("RMA_INVENTORY_URL"), "inventory service the eligibility preview asks for exchange stock (env RMA_INVENTORY_URL; unset: the preview does not say whether an exchange is in stock)")
	f.StringVar(&uiURL, "temporal-ui-url", envOr("RMA_TEMPORAL_UI_URL", "http://127.0.0.1:8233"), "the Temporal UI the console links each return's workflow to (env RMA_TEMPORAL_UI_URL)")
	f.IntVar(&metricsPort, "metrics-port", envInt("RMA_METRICS_PORT", 0), "serve /metrics (Prometheus: the SDK's, partner calls, returns by status, SLA breaches, refunds) on this port; 0: none (env RMA_METRICS_PORT)")
	f.StringVar(&policyFile, "policy", os.Getenv("RMA_POLICY"), "policy YAML that seeds version 1 when the database holds none (later: rma policy apply); env RMA_POLICY")
	f.StringVar(&dbURL, "database-url", os.Getenv("RMA_DATABASE_URL"), "PostgreSQL: tokens, idempotency keys, reads, lists, webhook routing, analytics (required; env RMA_DATABASE_URL)")
	f.StringVar(&tlsCert, "tls-cert-file", os.Getenv("RMA_TLS_CERT"), "serve HTTPS with this certificate (PEM; env RMA_TLS_CERT)")
	f.StringVar(&tlsKey, "tls-key-file", os.Getenv("RMA_TLS_KEY"), "the certificate's private key (PEM; env RMA_TLS_KEY)")
	f.Float64Var(&rateLimit, "rate-limit", envFloat("RMA_RATE_LIMIT", 100), "requests a second per token, sustained; 0 turns limits off (env RMA_RATE_LIMIT)")
	f.IntVar(&rateBurst, "rate-burst", 200, "requests a token may make at once above the rate")
	f.StringVar(&origins, "codec-origin", os.Getenv("RMA_CODEC_ORIGINS"), "Temporal UI origins allowed to call /codec (comma-separated, e.g. https://temporal.example.com; env RMA_CODEC_ORIGINS)")
	return cmd
}

func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil {
		return v
	}
	return def
}

func envFloat(k string, def float64) float64 {
	if v, err := strconv.ParseFloat(os.Getenv(k), 64); err == nil {
		return v
	}
	return def
}

func serveUntil(ctx context.Context, log *zap.Logger, port int, h http.Handler) error {
	return serveTLSUntil(ctx, log, port, h, "", "")
}

// serveTLSUntil serves HTTPS when a certificate is given (TLS 1.2 at
// least), plain HTTP otherwise, until ctx ends.
func serveTLSUntil(ctx context.Context, log *zap.Logger, port int, h http.Handler, certFile, keyFile string) error {
	srv := &http.Server{Addr: net.JoinHostPort("", strconv.Itoa(port)), Handler: h, ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12}}
	errc := make(chan error, 1)
	if certFile != "" {
		go func() { errc <- srv.ListenAndServeTLS(certFile, keyFile) }()
	} else {
		go func() { errc <- srv.ListenAndServe() }()
	}
	log.Info("listening", zap.Int("port", port), zap.Bool("tls", certFile != ""))
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
picked_up. docs/partners.md lists every fault and operation.

Like the real services, each simulator demands rma's credential on its
contract routes when RMA_CARRIER_AUTH, RMA_INVENTORY_AUTH, RMA_PAYMENTS_AUTH
or RMA_NOTIFICATIONS_AUTH is set (bearer:TOKEN or hmac:SECRET, the same
values the worker sends); its own controls (faults, scans, ledgers) stay open.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := newLogger(true)
			secret := os.Getenv("RMA_WEBHOOK_SECRET")
			if secret == "" {
				return errors.New("RMA_WEBHOOK_SECRET is required: the carrier simulator signs its webhooks with it")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			creds, err := loadPartnerCreds()
			if err != nil {
				return err
			}
			carrier := sim.NewCarrier(webhookURL, []byte(secret), mode == "auto", step, log.Named("sim.carrier"))
			defer carrier.Stop()
			inv, pay, notify := sim.NewInventory(), sim.NewPayments(), sim.NewNotifications()
			carrier.Auth, inv.Auth, pay.Auth, notify.Auth = creds.carrier, creds.inventory, creds.payments, creds.notifications
			handlers := []http.Handler{carrier.Handler(), inv.Handler(log), pay.Handler(log), notify.Handler(log)}
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
