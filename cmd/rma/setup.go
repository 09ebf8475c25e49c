package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rma-dev/rma/setup"
	"github.com/rma-dev/rma/store"
	"github.com/rma-dev/rma/webhook"
	"github.com/rma-dev/rma/workflows"
)

func newSetupCmd() *cobra.Command {
	var tf temporalFlags
	var db dbFlags
	var biRole string
	var create bool
	var retention time.Duration
	cmd := &cobra.Command{
		Use:   "setup",
		Short: "Prepare a Temporal namespace for rma: check it, register the search attributes (idempotent)",
		Long: `rma setup checks that the namespace exists and registers the search
attributes rma's workflows write (RmaStatus, RmaDeadline, ...) with their
types. Run it once per namespace before the first worker, and again after an
upgrade: what is there already is left alone, so it is safe to repeat, like
rma migrate. An attribute registered with another type is an error.

On a self-hosted cluster --create-namespace also creates a missing
namespace (with --retention). On Temporal Cloud the namespace comes from the
Cloud, and an API key may not be allowed to add search attributes: the error
then names the ones to add with tcld.

The connection flags are those of rma worker (TEMPORAL_* env or an envconfig
profile).

--bi-role NAME also creates (or updates) a PostgreSQL login role that reads
the read model's BI views (rma_returns_v1, rma_lines_v1, rma_money_v1,
rma_kpi_daily_v1; docs/analytics.md) and nothing else, with the password in
RMA_BI_PASSWORD. It needs --database-url (RMA_DATABASE_URL) and rma migrate
first.

Example:
  rma setup --address temporal-frontend:7233 --namespace returns --create-namespace`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := newLogger(false)
			defer func() { _ = log.Sync() }()
			var biPassword string
			if biRole != "" {
				biPassword = os.Getenv("RMA_BI_PASSWORD")
				if err := webhook.CheckSecret("RMA_BI_PASSWORD", biPassword); err != nil {
					return fmt.Errorf("--bi-role: %w", err)
				}
			}
			c, err := tf.dial(cmd.Context(), log)
			if err != nil {
				return err
			}
			defer c.Close()
			rep, err := setup.Run(cmd.Context(), c, setup.Options{Namespace: tf.namespace, Create: create, Retention: retention,
				SearchAttributes: workflows.SearchAttributeTypes()})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if rep.CreatedNamespace {
				fmt.Fprintf(out, "created namespace %s (retention %s)\n", tf.namespace, rep.Retention)
			} else {
				fmt.Fprintf(out, "namespace %s exists (retention %s)\n", tf.namespace, rep.Retention)
			}
			if len(rep.Added) > 0 {
				fmt.Fprintf(out, "registered search attributes: %s\n", strings.Join(rep.Added, ", "))
			}
			if len(rep.Present) > 0 {
				fmt.Fprintf(out, "already registered: %s\n", strings.Join(rep.Present, ", "))
			}
			fmt.Fprintln(out, "namespace ready for rma")
			if biRole != "" {
				st, err := db.open(cmd.Context())
				if err != nil {
					return err
				}
				defer st.Close()
				created, err := st.EnsureBIRole(cmd.Context(), biRole, biPassword)
				if err != nil {
					return err
				}
				verb := "updated"
				if created {
					verb = "created"
				}
				fmt.Fprintf(out, "%s BI role %s: reads %s, nothing else\n", verb, biRole, strings.Join(store.BIViews(), ", "))
			}
			return nil
		},
	}
	tf.register(cmd)
	f := cmd.Flags()
	f.BoolVar(&create, "create-namespace", false, "create the namespace when it is missing (self-hosted clusters)")
	f.DurationVar(&retention, "retention", 30*24*time.Hour, "how long a created namespace keeps closed returns' histories")
	f.StringVar(&biRole, "bi-role", "", "also create a read-only PostgreSQL role for BI tools (password in RMA_BI_PASSWORD; needs --database-url)")
	db.register(cmd)
	return cmd
}
