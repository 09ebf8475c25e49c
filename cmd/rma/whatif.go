package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rma-dev/rma/api"
	"github.com/rma-dev/rma/domain"
)

func newWhatIfCmd() *cobra.Command {
	var db dbFlags
	var file, since, output, apiURL, token string
	var minutes float64
	var changes int
	var direct bool
	cmd := &cobra.Command{
		Use:   "whatif -f proposed.yaml [--since 30d]",
		Short: "Replay past returns under a proposed policy, beside the current one",
		Long: `Replay the returns of a period from the read model through the pure policy
rules (eligibility, review, fees) under the current stored policy and a
proposed file, side by side: eligible and ineligible, the auto-approval
rate, the returns that need a human and the support hours they imply, fees,
refunds and returnless refunds, and the first returns whose outcome
changes, with why. No workflow is touched. Directly (--database-url) or
through the API with an analyst token (--api, RMA_API_URL).`,
		Example: `  rma policy whatif -f proposed.yaml --since 30d
  rma policy whatif -f proposed.yaml --since 2026-10-01 -o csv > whatif.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" && output != "csv" {
				return fmt.Errorf("--output must be table, json or csv")
			}
			src, proposed, err := readPolicyFile(file)
			if err != nil {
				return err
			}
			from, err := api.ParseSince(since, time.Now())
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Minute)
			defer cancel()
			var rep api.WhatIfAnswer
			if apiURL != "" && !direct {
				a, err := newAPIBackend(apiURL, token)
				if err != nil {
					return err
				}
				body := api.WhatIfRequest{Policy: src, Since: since, MinutesPerReview: minutes, Changes: changes}
				if err := a.call(ctx, http.MethodPost, "/v1/policy/whatif", body, &rep); err != nil {
					return err
				}
			} else {
				st, err := db.open(ctx)
				if err != nil {
					return err
				}
				defer st.Close()
				if rep, err = api.RunWhatIf(ctx, st, proposed, from, domain.WhatIfOptions{MinutesPerReview: minutes, ListChanges: changes}); err != nil {
					return err
				}
			}
			return printWhatIf(cmd.OutOrStdout(), output, rep)
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "the proposed policy YAML (- for stdin)")
	cmd.Flags().StringVar(&since, "since", "30d", "replay returns opened since: a duration (30d, 72h) or a date (2026-10-01)")
	cmd.Flags().Float64Var(&minutes, "minutes-per-review", 6, "support minutes one human review takes, for the hours")
	cmd.Flags().IntVar(&changes, "changes", 20, "list at most this many changed returns")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table, json or csv")
	cmd.Flags().StringVar(&apiURL, "api", os.Getenv("RMA_API_URL"), "the rma API's URL: replay through it with an analyst token (env RMA_API_URL)")
	cmd.Flags().StringVar(&token, "token", os.Getenv("RMA_TOKEN"), "API token with the analyst role (env RMA_TOKEN)")
	cmd.Flags().BoolVar(&direct, "direct", false, "read the database even when RMA_API_URL is set")
	_ = cmd.MarkFlagRequired("file")
	db.register(cmd)
	return cmd
}

// whatIfRows are the figures side by side: name, current, proposed, delta.
func whatIfRows(r api.WhatIfAnswer) [][4]string {
	c, p := r.Report.Current, r.Report.Proposed
	i := func(a, b int) [4]string {
		return [4]string{"", strconv.Itoa(a), strconv.Itoa(b), fmt.Sprintf("%+d", b-a)}
	}
	f := func(a, b float64, format string) [4]string {
		return [4]string{"", fmt.Sprintf(format, a), fmt.Sprintf(format, b), fmt.Sprintf("%+"+format[1:], b-a)}
	}
	m := func(a, b domain.Money) [4]string {
		return [4]string{"", a.String(), b.String(), domain.Money{Amount: b.Amount - a.Amount, Currency: a.Currency}.String()}
	}
	rows := [][4]string{
		i(c.Returns, p.Returns), i(c.Eligible, p.Eligible), i(c.Ineligible, p.Ineligible), i(c.AutoApproved, p.AutoApproved),
		f(c.AutoApprovalRate*100, p.AutoApprovalRate*100, "%.1f"), i(c.NeedHuman, p.NeedHuman), f(c.SupportHours, p.SupportHours, "%.1f"),
		m(c.Fees, p.Fees), m(c.Refunds, p.Refunds), i(c.Returnless, p.Returnless), m(c.ReturnlessValue, p.ReturnlessValue),
	}
	for k, name := range []string{"returns", "eligible", "ineligible", "auto_approved", "auto_approval_rate_%", "need_human", "support_hours", "fees", "refunds", "returnless", "returnless_value"} {
		rows[k][0] = name
	}
	return rows
}

func printWhatIf(w io.Writer, output string, r api.WhatIfAnswer) error {
	switch output {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case "csv":
		cw := csv.NewWriter(w)
		_ = cw.Write([]string{"figure", "current", "proposed", "delta"})
		for _, row := range whatIfRows(r) {
			_ = cw.Write(row[:])
		}
		cw.Flush()
		return cw.Error()
	}
	fmt.Fprintf(w, "what-if: %d returns since %s, %s in %s\n", r.Report.Cases, r.Since.UTC().Format(time.RFC3339), r.Took, r.Current)
	if r.Report.Undated > 0 {
		fmt.Fprintf(w, "(%d returns predate delivery dates in the read model: counted as delivered when requested)\n", r.Report.Undated)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "FIGURE\tCURRENT\tPROPOSED\tDELTA\t")
	for _, row := range whatIfRows(r) {
		fmt.Fprintln(tw, strings.Join(row[:], "\t")+"\t")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%d returns change outcome", r.Report.Changed)
	if len(r.Report.Changes) > 0 {
		fmt.Fprintf(w, "; the first %d:\n", len(r.Report.Changes))
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "RETURN\tFROM\tTO\tWHY")
		for _, c := range r.Report.Changes {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.ID, c.From, c.To, c.Why)
		}
		return tw.Flush()
	}
	fmt.Fprintln(w)
	return nil
}
