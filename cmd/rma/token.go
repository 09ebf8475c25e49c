package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rma-dev/rma/api"
	"github.com/rma-dev/rma/store"
)

func newTokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Create, list and revoke API tokens (stored hashed in PostgreSQL)",
		Long: `API tokens authenticate callers of rma api. Each has a subject (who it is,
written to the audit trail), one or more roles, an optional expiry, and, for
customer tokens, the one customer ID it acts for: a customer token sees and
commands only that customer's returns.

Roles: backend (merchant systems: start returns), support, warehouse, customer,
analyst (reports) and admin (everything, and overrides above the limit).

Only a hash of each token is stored; the token itself is printed once, by
create, alone on the last line of its output.`,
		Example: `  rma token create --role support --subject amy@shop.example --ttl 720h
  rma token create --role customer --customer C-1 --ttl 24h
  rma token list
  rma token revoke tok_3f2a9c01b7de`,
	}
	cmd.AddCommand(newTokenCreateCmd(), newTokenListCmd(), newTokenRevokeCmd())
	return cmd
}

func newTokenCreateCmd() *cobra.Command {
	var db dbFlags
	var roles []string
	var customer, subject string
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "create --role ROLE [--role ROLE...] [--customer ID] [--subject NAME] [--ttl 24h]",
		Short: "Create a token and print it (alone, on the last line)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			roles = dedupe(roles)
			if err := api.ValidatePrincipal(roles, customer); err != nil {
				return err
			}
			if ttl < 0 {
				return errors.New("--ttl must be positive (or 0: never expires)")
			}
			if subject == "" {
				if customer == "" {
					return errors.New("--subject is required: who the token is for (it is written to the audit trail)")
				}
				subject = customer
			}
			st, err := db.open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			t, value, err := st.CreateToken(cmd.Context(), store.Token{Subject: subject, Roles: roles, CustomerID: customer}, ttl, time.Now())
			if err != nil {
				return fmt.Errorf("%w (has rma migrate run on this database?)", err)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "created %s for %s, roles %s", t.ID, t.Subject, strings.Join(t.Roles, ", "))
			if t.CustomerID != "" {
				fmt.Fprintf(out, ", customer %s", t.CustomerID)
			}
			if t.ExpiresAt != nil {
				fmt.Fprintf(out, ", expires %s", t.ExpiresAt.Format(time.RFC3339))
			}
			fmt.Fprintln(out, "\nthe token is shown only now; keep it secret (rma token revoke "+t.ID+" ends it):")
			fmt.Fprintln(out, value)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&roles, "role", nil, "role (repeat for several): backend, support, warehouse, customer, analyst, admin")
	f.StringVar(&customer, "customer", "", "the customer a customer token acts for")
	f.StringVar(&subject, "subject", "", "who the token is for (default for customer tokens: the customer ID)")
	f.DurationVar(&ttl, "ttl", 0, "lifetime, e.g. 24h (default: no expiry)")
	_ = cmd.MarkFlagRequired("role")
	db.register(cmd)
	return cmd
}

func newTokenListCmd() *cobra.Command {
	var db dbFlags
	var all bool
	var output string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List tokens (never their values)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := db.open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			ts, err := st.Tokens(cmd.Context(), all, time.Now())
			if err != nil {
				return err
			}
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if ts == nil {
					ts = []store.Token{}
				}
				return enc.Encode(ts)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSUBJECT\tROLES\tCUSTOMER\tCREATED\tEXPIRES\tSTATE")
			for _, t := range ts {
				exp, state := "never", "live"
				if t.ExpiresAt != nil {
					exp = t.ExpiresAt.Format(time.RFC3339)
					if !t.ExpiresAt.After(time.Now()) {
						state = "expired"
					}
				}
				if t.RevokedAt != nil {
					state = "revoked " + t.RevokedAt.Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Subject, strings.Join(t.Roles, ","), orDash(t.CustomerID), t.CreatedAt.Format(time.RFC3339), exp, state)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "include revoked and expired tokens")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	db.register(cmd)
	return cmd
}

func newTokenRevokeCmd() *cobra.Command {
	var db dbFlags
	cmd := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a token by its ID (from rma token list); it stops working at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := db.open(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			t, err := st.RevokeToken(cmd.Context(), args[0], time.Now())
			if errors.Is(err, store.ErrNoToken) {
				return fmt.Errorf("no token %s (rma token list --all shows them)", args[0])
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked %s (%s) at %s\n", t.ID, t.Subject, t.RevokedAt.Format(time.RFC3339))
			return nil
		},
	}
	db.register(cmd)
	return cmd
}

func dedupe(xs []string) []string {
	var out []string
	for _, x := range xs {
		x = strings.TrimSpace(x)
		dup := false
		for _, y := range out {
			dup = dup || x == y
		}
		if !dup {
			out = append(out, x)
		}
	}
	return out
}
