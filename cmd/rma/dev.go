//go:build !nodev

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/rma-dev/rma/codec"
	"github.com/rma-dev/rma/devstack"
	"github.com/rma-dev/rma/webhook"
)

func newDevCmd() *cobra.Command {
	var o struct {
		dataDir, policy, simCarrier string
		databaseURL                 string
		httpPort, temporalPort      int
		uiPort                      int
		simStep                     time.Duration
		demo                        bool
	}
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the whole system in one process: Temporal + UI, simulators, worker and API",
		Long: `rma dev runs everything on embedded defaults, with nothing to install:
  - a real Temporal server (SQLite file in --data-dir, so open returns and
    their timers survive a restart) and the Temporal Web UI,
  - a private PostgreSQL (the read model, audit trail and analytics), started
    from the locally installed binaries with its data in --data-dir/postgres
    (as the unprivileged "postgres" user when run as root, since initdb
    refuses root), unless --database-url is given,
  - local simulators of the carrier, inventory, payments and notifications
    services on the four ports after --http-port, reached over real HTTP,
  - the worker and the HTTP API.

It prints every address and runs until interrupted (Ctrl-C). A second start on
the same --data-dir resumes every open return.

Auth: RMA_DEV_TOKEN (env) is a bearer token with every role; if unset a token
is generated and printed ("rma token create" makes narrower ones, e.g. a
customer's). RMA_WEBHOOK_SECRET signs carrier webhooks; if unset one is
generated and kept in --data-dir.

Encryption: every payload is encrypted before it reaches Temporal, with the
keys of RMA_PAYLOAD_KEYS_FILE or RMA_PAYLOAD_KEYS, or else a key generated and
kept in --data-dir/payload-keys. The Temporal UI shows it decoded through the
API's codec server (/codec), which trusts the local UI.

Examples:
  rma dev
  rma dev --demo                      # seed a few returns at different stages
  rma dev --policy fast.yaml --sim-carrier manual`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.simCarrier != "auto" && o.simCarrier != "manual" {
				return fmt.Errorf("--sim-carrier must be auto or manual, not %q", o.simCarrier)
			}
			policySource, policy, err := readPolicyFile(o.policy)
			if err != nil {
				return err
			}
			if o.policy == "" {
				policySource = ""
			}
			dataDir, err := filepath.Abs(o.dataDir)
			if err != nil {
				return fmt.Errorf("data dir: %w", err)
			}
			if err := os.MkdirAll(dataDir, 0o750); err != nil {
				return fmt.Errorf("create data dir: %w", err)
			}
			secret, err := webhookSecret(dataDir)
			if err != nil {
				return err
			}
			keys, err := devPayloadKeys(dataDir)
			if err != nil {
				return err
			}
			token := os.Getenv("RMA_DEV_TOKEN")
			if token == "" {
				token = webhook.RandomSecret(16)
			}
			log := newLogger(true)
			defer func() { _ = log.Sync() }()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			st, err := devstack.Start(ctx, devstack.Options{
				DataDir: dataDir, HTTPPort: o.httpPort, TemporalPort: o.temporalPort, UIPort: o.uiPort, Policy: policy, PolicySource: policySource,
				CarrierAuto: o.simCarrier == "auto", CarrierStep: o.simStep, DevToken: token, WebhookSecret: secret, Logger: log,
				DatabaseURL: o.databaseURL, Keys: keys,
			})
			if err != nil {
				return err
			}
			u := st.URLs
			fmt.Fprintf(cmd.OutOrStdout(), `rma dev is running (data in %s)
  API            %s      (OpenAPI: %s/v1/openapi.json)
  Temporal       %s   (TEMPORAL_ADDRESS for rma and temporal CLIs)
  Temporal UI    %s
  PostgreSQL     %s   (read model and audit; rma report uses it)
  simulators     carrier %s  inventory %s  payments %s  notifications %s
  carrier sim    %s (change with --sim-carrier)
  dev token      %s   (export RMA_DEV_TOKEN=... to choose it)
Press Ctrl-C to stop; a restart on the same --data-dir resumes every open return.
`, dataDir, u.API, u.API, u.TemporalFrontend, u.TemporalUI, u.Database, u.Carrier, u.Inventory, u.Payments, u.Notifications, o.simCarrier, token)
			if o.demo {
				ids, err := devstack.SeedDemo(ctx, st)
				if err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), "demo seeding stopped:", err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "demo returns: %s\n", strings.Join(ids, " "))
			}
			<-ctx.Done()
			fmt.Fprintln(cmd.OutOrStdout(), "stopping: draining the worker...")
			sctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
			defer cancel()
			st.Stop(sctx)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dataDir, "data-dir", envOr("RMA_DATA_DIR", ".rma-dev"), "where Temporal's SQLite file and dev secrets live (env RMA_DATA_DIR)")
	f.IntVar(&o.httpPort, "http-port", 8080, "HTTP API port; the simulators take the next four")
	f.IntVar(&o.temporalPort, "temporal-port", 7233, "Temporal frontend (gRPC) port")
	f.IntVar(&o.uiPort, "ui-port", 8233, "Temporal Web UI port")
	f.StringVar(&o.policy, "policy", os.Getenv("RMA_POLICY"), "policy YAML (see rma policy show); env RMA_POLICY")
	f.StringVar(&o.simCarrier, "sim-carrier", "auto", "carrier simulator: auto plays pickup, transit and delivery by itself; manual moves parcels only on webhooks from outside")
	f.DurationVar(&o.simStep, "sim-step", 5*time.Second, "auto carrier: time between scans")
	f.BoolVar(&o.demo, "demo", false, "seed a handful of returns at different stages")
	f.StringVar(&o.databaseURL, "database-url", os.Getenv("RMA_DATABASE_URL"), "use this PostgreSQL instead of starting a private one (env RMA_DATABASE_URL)")
	return cmd
}

// webhookSecret is RMA_WEBHOOK_SECRET, or a secret kept in the data dir so
// restarts and `rma sim carrier` agree on it.
func webhookSecret(dataDir string) ([]byte, error) {
	if s := os.Getenv("RMA_WEBHOOK_SECRET"); s != "" {
		return []byte(s), nil
	}
	path := filepath.Join(dataDir, "webhook-secret")
	if b, err := os.ReadFile(path); err == nil {
		return []byte(strings.TrimSpace(string(b))), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read webhook secret: %w", err)
	}
	s := webhook.RandomSecret(32)
	if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write webhook secret: %w", err)
	}
	return []byte(s), nil
}

// devPayloadKeys is the configured keyring, or one kept in the data dir so
// a restart still reads the returns it encrypted.
func devPayloadKeys(dataDir string) (*codec.Keyring, error) {
	if k, ok, err := codec.Load(os.Getenv); err != nil || ok {
		return k, err
	}
	path := filepath.Join(dataDir, "payload-keys")
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		entry, kerr := codec.NewKey("dev1")
		if kerr != nil {
			return nil, kerr
		}
		if err := os.WriteFile(path, []byte(entry+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("write payload keys: %w", err)
		}
	}
	return codec.LoadFile(path)
}
