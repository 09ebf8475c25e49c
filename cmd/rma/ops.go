package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rma-dev/rma/api"
	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/workflows"
)

// newOpsCmd is on-call's tooling: what is late, what is stuck, and the
// re-drive once the cause is fixed. It works like rma return: over the API
// with a support token, or directly against Temporal and the read model.
func newOpsCmd() *cobra.Command {
	rc := &returnCmd{}
	cmd := &cobra.Command{
		Use:   "ops",
		Short: "On-call: late and stuck returns, and re-driving them (over the API or directly)",
		Long: `rma ops lists what needs on-call's eyes and re-drives it:

  rma ops late                  open returns past their deadline (the workflow has not acted
                                yet: a worker outage, a lagging queue) or with a breached SLA
  rma ops stuck                 returns in needs_attention with the failed step and its last
                                error, and carrier claims that could not be filed
  rma ops retry ID...           re-drive needs_attention returns once the cause is fixed
  rma ops retry --all --dry-run show what retry --all would re-drive
  rma ops extend --query Q --by 48h --reason "carrier outage" [--dry-run]
                                move the deadlines of every running return the visibility
                                query selects, ten at a time, recorded on each audit trail

Like rma return, it works over the HTTP API with a support token (--api,
--token, or RMA_API_URL and RMA_TOKEN) or directly (Temporal and
--database-url). The Temporal UI and CLI find the same returns with the
visibility queries in the README ("Where to look in the Temporal UI").`,
	}
	rc.registerFlags(cmd, "ops:"+envOr("USER", "operator"), "who is acting, recorded on the timeline (direct mode)",
		"the rma API's URL (env RMA_API_URL)", "API token with the support role, for --api (env RMA_TOKEN)")

	// A bulk extension may take the API five minutes.
	with := func(fn func(ctx context.Context, b returnsBackend, out io.Writer, args []string) error) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			return rc.withBackend(cmd, 7*time.Minute, func(ctx context.Context, b returnsBackend) error {
				return fn(ctx, b, cmd.OutOrStdout(), args)
			})
		}
	}
	late := &cobra.Command{Use: "late", Short: "Open returns past their deadline or with a breached SLA", Args: cobra.NoArgs,
		RunE: with(func(ctx context.Context, b returnsBackend, out io.Writer, _ []string) error {
			l, err := b.Late(ctx)
			if err != nil {
				return err
			}
			if rc.output == "json" {
				return render(out, "json", l)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			defer tw.Flush()
			fmt.Fprintf(tw, "%d late at %s\n", len(l.Items), l.At.Local().Format("2006-01-02 15:04:05"))
			fmt.Fprintln(tw, "ID\tSTATUS\tWAITING ON\tDEADLINE\tLATE BY\tSLA BREACHES\tASSIGNEE\tORDER")
			for _, it := range l.Items {
				dl, by := "-", "-"
				if it.Deadline != nil {
					dl = it.DeadlineKind + " " + it.Deadline.Local().Format("01-02 15:04")
				}
				if it.LateSeconds > 0 {
					by = (time.Duration(it.LateSeconds) * time.Second).String()
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", it.ID, it.Status, orDash(it.WaitingOn), dl, by, orDash(strings.Join(it.SLABreaches, ",")), orDash(it.Assignee), it.OrderID)
			}
			return nil
		})}
	stuck := &cobra.Command{Use: "stuck", Short: "Returns that cannot go on by themselves, with the last error", Args: cobra.NoArgs,
		RunE: with(func(ctx context.Context, b returnsBackend, out io.Writer, _ []string) error {
			l, err := b.Stuck(ctx)
			if err != nil {
				return err
			}
			if rc.output == "json" {
				return render(out, "json", l)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			defer tw.Flush()
			fmt.Fprintf(tw, "%d stuck\n", len(l.Items))
			fmt.Fprintln(tw, "ID\tSTATUS\tSTEP\tSINCE\tLAST ERROR\tORDER")
			for _, it := range l.Items {
				since, step, msg := "-", it.Step, it.Error
				if it.Since != nil {
					since = it.Since.Local().Format("01-02 15:04")
				}
				if step == "" && it.ClaimError != "" {
					step, msg = "carrier claim", it.ClaimError
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", it.ID, it.Status, orDash(step), since, orDash(msg), it.OrderID)
			}
			return nil
		})}
	var all, dryRun bool
	var note string
	retry := &cobra.Command{Use: "retry [ID...] [--all] [--dry-run]", Short: "Re-drive needs_attention returns once the cause is fixed (the failed step runs again with the same key)",
		RunE: with(func(ctx context.Context, b returnsBackend, out io.Writer, args []string) error {
			ids := args
			if all {
				if len(args) > 0 {
					return errors.New("give IDs or --all, not both")
				}
				l, err := b.Stuck(ctx)
				if err != nil {
					return err
				}
				for _, it := range l.Items {
					if it.Status == string(domain.StatusNeedsAttention) {
						ids = append(ids, it.ID)
					}
				}
			}
			if len(ids) == 0 && !all {
				return errors.New("give the IDs to retry, or --all (rma ops stuck lists them)")
			}
			if len(ids) == 0 {
				fmt.Fprintln(out, "nothing to retry")
				return nil
			}
			failed := 0
			for _, id := range ids {
				if dryRun {
					fmt.Fprintf(out, "would retry %s\n", id)
					continue
				}
				// Each its own time: one slow return must not starve the rest.
				cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
				r, err := b.Command(cctx, id, workflows.UpdateResolveAttention, &workflows.ResolveAttentionInput{Actor: rc.actor, Action: "retry", Note: note})
				cancel()
				if err != nil {
					failed++
					fmt.Fprintf(out, "%s: %v\n", id, explain(err))
					continue
				}
				fmt.Fprintf(out, "%s: retried, now %s\n", id, r.Status)
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d retries refused", failed, len(ids))
			}
			return nil
		})}
	retry.Flags().BoolVar(&all, "all", false, "every return in needs_attention")
	retry.Flags().BoolVar(&dryRun, "dry-run", false, "show what would be retried, change nothing")
	retry.Flags().StringVar(&note, "note", "", "why, for the timeline (e.g. the carrier is back)")
	var ext api.ExtendRequest
	var extKey string
	extend := &cobra.Command{Use: "extend --query QUERY --by DURATION --reason TEXT [--dry-run]",
		Short:   "Move the deadlines of every running return a visibility query selects (an outage), in bounded batches",
		Example: `  rma ops extend --query 'RmaStatus="awaiting_shipment" AND RmaDeadline < "2026-11-24T00:00:00Z"' --by 48h --reason "carrier outage" --dry-run`,
		Args:    cobra.NoArgs,
		RunE: with(func(ctx context.Context, b returnsBackend, out io.Writer, _ []string) error {
			key := extKey
			if key == "" {
				// The same extension run again is the same key: a retry
				// after a timeout extends nothing twice. --key tells a
				// deliberate second extension apart.
				sum := sha256.Sum256([]byte(strings.Join([]string{rc.actor, ext.Query, ext.By, ext.Reason}, "\x00")))
				key = "extend/" + hex.EncodeToString(sum[:12])
			}
			rep, err := b.Extend(ctx, ext, key)
			if err != nil {
				return err
			}
			if rc.output == "json" {
				return render(out, "json", rep)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			defer tw.Flush()
			if rep.DryRun {
				fmt.Fprintf(tw, "dry run: %d returns match %s; each would move by %s\n", rep.Matched, rep.Query, rep.By)
			} else {
				fmt.Fprintf(tw, "%d of %d returns extended by %s\n", rep.Extended, rep.Matched, rep.By)
			}
			fmt.Fprintln(tw, "ID\tSTATUS\tDEADLINE\tNEW DEADLINE\tRESULT")
			for _, it := range rep.Items {
				dl, nd, res := "-", "-", "extended"
				if it.Deadline != nil {
					dl = it.DeadlineKind + " " + it.Deadline.Local().Format("01-02 15:04")
				}
				if it.NewDeadline != nil {
					nd = it.NewDeadline.Local().Format("01-02 15:04")
				}
				switch {
				case rep.DryRun:
					res = "would extend"
				case it.Error != "":
					res = it.Error
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", it.ID, it.Status, dl, nd, res)
			}
			if !rep.DryRun && rep.Extended < rep.Matched {
				return fmt.Errorf("%d of %d extensions refused", rep.Matched-rep.Extended, rep.Matched)
			}
			return nil
		})}
	extend.Flags().StringVar(&ext.Query, "query", "", `visibility query over rma's search attributes, e.g. RmaStatus="awaiting_shipment" (only running returns match)`)
	extend.Flags().StringVar(&ext.By, "by", "", "how much later, e.g. 48h (1m to 720h)")
	extend.Flags().StringVar(&ext.Reason, "reason", "", "why, for the audit trail")
	extend.Flags().BoolVar(&ext.DryRun, "dry-run", false, "list each return's deadline and where it would move; change nothing")
	extend.Flags().IntVar(&ext.Limit, "limit", 200, "at most this many returns (up to 1000)")
	extend.Flags().StringVar(&extKey, "key", "", "idempotency key (default: derived from who, the query, --by and --reason, so running the same extension again changes nothing; give a new key to extend the same returns twice)")
	for _, f := range []string{"query", "by", "reason"} {
		_ = extend.MarkFlagRequired(f)
	}
	cmd.AddCommand(late, stuck, retry, extend)
	return cmd
}
