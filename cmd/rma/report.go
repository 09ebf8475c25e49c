package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rma-dev/rma/api"
	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/store"
)

// dbFlags find the read model: --database-url, RMA_DATABASE_URL, or the
// database-url file `rma dev` writes in its data dir.
type dbFlags struct{ url, dataDir string }

func (f *dbFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.url, "database-url", os.Getenv("RMA_DATABASE_URL"), "PostgreSQL URL (env RMA_DATABASE_URL)")
	cmd.Flags().StringVar(&f.dataDir, "data-dir", envOr("RMA_DATA_DIR", ".rma-dev"), "without a URL, use the database of the rma dev in this dir")
}

func (f *dbFlags) resolve() (string, error) {
	if f.url != "" {
		return f.url, nil
	}
	b, err := os.ReadFile(filepath.Join(f.dataDir, "database-url"))
	if err != nil {
		return "", errors.New("no database: pass --database-url or set RMA_DATABASE_URL (or run rma dev, which records its own in --data-dir)")
	}
	return strings.TrimSpace(string(b)), nil
}

func (f *dbFlags) open(ctx context.Context) (*store.Store, error) {
	url, err := f.resolve()
	if err != nil {
		return nil, err
	}
	return store.Open(ctx, url)
}

func newMigrateCmd() *cobra.Command {
	var db dbFlags
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply the read model's database migrations (embedded; idempotent)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := db.open(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			applied, err := s.Migrate(cmd.Context())
			if err != nil {
				return err
			}
			if len(applied) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "database is up to date")
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "applied migrations %v\n", applied)
			return nil
		},
	}
	db.register(cmd)
	return cmd
}

func newReportCmd() *cobra.Command {
	var db dbFlags
	var output, from, to, groupBy, policyFile, apiURL, token string
	var direct bool
	report := &cobra.Command{
		Use:   "report",
		Short: "KPIs, return reasons and batch anomalies from the read model (directly, or through the API)",
		Long: `Reports read the PostgreSQL read model, with the same SQL as the
/v1/analytics endpoints: directly (--database-url), or through the HTTP API
with an analyst token (--api URL --token T, or RMA_API_URL and RMA_TOKEN),
from an analyst's own machine. -o table (default), json or csv.`,
	}
	pf := report.PersistentFlags()
	pf.StringVarP(&output, "output", "o", "table", "table, json or csv")
	pf.StringVar(&from, "from", "", "start of the range (RFC 3339 or YYYY-MM-DD; default 30 days before --to)")
	pf.StringVar(&to, "to", "", "end of the range (default now)")
	pf.StringVar(&apiURL, "api", os.Getenv("RMA_API_URL"), "the rma API's URL: read the reports through it (env RMA_API_URL)")
	pf.StringVar(&token, "token", os.Getenv("RMA_TOKEN"), "API token with the analyst role, for --api (env RMA_TOKEN)")
	pf.BoolVar(&direct, "direct", false, "read the database even when RMA_API_URL is set")
	tmp := &cobra.Command{}
	db.register(tmp)
	pf.AddFlagSet(tmp.Flags())
	// overAPI runs a report through the API when --api is given.
	overAPI := func(cmd *cobra.Command, fn func(ctx context.Context, a apiBackend) (any, error)) (bool, error) {
		if apiURL == "" || direct {
			return false, nil
		}
		if output != "table" && output != "json" && output != "csv" {
			return true, fmt.Errorf("--output must be table, json or csv")
		}
		a, err := newAPIBackend(apiURL, token)
		if err != nil {
			return true, err
		}
		ctx, cancel := context.WithTimeout(cmd.Context(), 60*time.Second)
		defer cancel()
		v, err := fn(ctx, a)
		if err != nil {
			return true, err
		}
		return true, printReport(cmd.OutOrStdout(), output, v)
	}
	rangeQuery := func() string {
		q := url.Values{}
		if from != "" {
			q.Set("from", from)
		}
		if to != "" {
			q.Set("to", to)
		}
		return q.Encode()
	}

	with := func(fn func(ctx context.Context, s *store.Store) (any, error), api func(ctx context.Context, a apiBackend) (any, error)) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, _ []string) error {
			if done, err := overAPI(cmd, api); done {
				return err
			}
			if output != "table" && output != "json" && output != "csv" {
				return fmt.Errorf("--output must be table, json or csv")
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 60*time.Second)
			defer cancel()
			s, err := db.open(ctx)
			if err != nil {
				return err
			}
			defer s.Close()
			v, err := fn(ctx, s)
			if err != nil {
				return err
			}
			return printReport(cmd.OutOrStdout(), output, v)
		}
	}
	rng := func() (time.Time, time.Time, error) {
		f, t, fe := api.ParseRange(from, to, time.Now())
		if fe != nil {
			return f, t, fmt.Errorf("--%s %s", fe.Field, fe.Message)
		}
		return f, t, nil
	}
	kpis := &cobra.Command{Use: "kpis", Short: "Processing, logistics and refund times, SLA compliance, pass rate, satisfaction", Args: cobra.NoArgs,
		RunE: with(func(ctx context.Context, s *store.Store) (any, error) {
			f, t, err := rng()
			if err != nil {
				return nil, err
			}
			return s.KPIs(ctx, f, t)
		}, func(ctx context.Context, a apiBackend) (any, error) {
			var k store.KPIs
			return k, a.call(ctx, http.MethodGet, "/v1/analytics/kpis?"+rangeQuery(), nil, &k)
		})}
	reasons := &cobra.Command{Use: "reasons", Short: "Returned units by reason, grouped by sku, batch, reason, category or supplier", Args: cobra.NoArgs,
		RunE: with(func(ctx context.Context, s *store.Store) (any, error) {
			f, t, err := rng()
			if err != nil {
				return nil, err
			}
			return s.Reasons(ctx, groupBy, f, t)
		}, func(ctx context.Context, a apiBackend) (any, error) {
			var out struct {
				Rows []store.ReasonRow `json:"rows"`
			}
			q := rangeQuery()
			if q != "" {
				q += "&"
			}
			return out.Rows, a.call(ctx, http.MethodGet, "/v1/analytics/reasons?"+q+"group_by="+url.QueryEscape(groupBy), nil, &out)
		})}
	reasons.Flags().StringVar(&groupBy, "group-by", "sku", "sku, batch, reason, category or supplier")
	anomalies := &cobra.Command{Use: "anomalies", Short: "Batches whose return rate jumped above their SKU's baseline", Args: cobra.NoArgs,
		RunE: with(func(ctx context.Context, s *store.Store) (any, error) {
			p, err := loadPolicy(policyFile)
			if err != nil {
				return nil, err
			}
			return s.Anomalies(ctx, p.Anomaly)
		}, func(ctx context.Context, a apiBackend) (any, error) {
			var out struct {
				Anomalies []domain.Anomaly `json:"anomalies"`
			}
			return out.Anomalies, a.call(ctx, http.MethodGet, "/v1/analytics/anomalies", nil, &out)
		})}
	anomalies.Flags().StringVar(&policyFile, "policy", os.Getenv("RMA_POLICY"), "policy YAML with the anomaly rule")
	var file string
	importSales := &cobra.Command{Use: "import-sales -f FILE.csv", Short: "Import units sold per batch (CSV: sku,batch,units_sold)", Args: cobra.NoArgs,
		RunE: with(func(ctx context.Context, s *store.Store) (any, error) {
			sales, err := readSalesCSV(file)
			if err != nil {
				return nil, err
			}
			if err := s.ImportSales(ctx, sales); err != nil {
				return nil, err
			}
			return map[string]int{"imported": len(sales)}, nil
		}, func(ctx context.Context, a apiBackend) (any, error) {
			sales, err := readSalesCSV(file)
			if err != nil {
				return nil, err
			}
			var out map[string]any
			return out, a.call(ctx, http.MethodPost, "/v1/analytics/sales", map[string]any{"sales": sales}, &out)
		})}
	importSales.Flags().StringVarP(&file, "file", "f", "", "CSV file with a header row sku,batch,units_sold (- for stdin)")
	_ = importSales.MarkFlagRequired("file")
	report.AddCommand(kpis, reasons, anomalies, importSales)
	return report
}

func readSalesCSV(file string) ([]store.Sale, error) {
	var r io.Reader = os.Stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("open sales file: %w", err)
		}
		defer f.Close()
		r = f
	}
	recs, err := csv.NewReader(r).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("read sales csv: %w", err)
	}
	var out []store.Sale
	for i, rec := range recs {
		if i == 0 && len(rec) > 0 && rec[0] == "sku" {
			continue
		}
		if len(rec) != 3 {
			return nil, fmt.Errorf("line %d: want sku,batch,units_sold", i+1)
		}
		n, err := strconv.Atoi(strings.TrimSpace(rec[2]))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("line %d: units_sold must be a whole number >= 0", i+1)
		}
		out = append(out, store.Sale{SKU: strings.TrimSpace(rec[0]), Batch: strings.TrimSpace(rec[1]), UnitsSold: n})
	}
	return out, nil
}

// printReport renders a report; table and csv flatten it to rows.
func printReport(w io.Writer, output string, v any) error {
	if output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	header, rows := flatten(v)
	if output == "csv" {
		cw := csv.NewWriter(w)
		_ = cw.Write(header)
		_ = cw.WriteAll(rows)
		return cw.Error()
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.ToUpper(strings.Join(header, "\t")))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

func num(p *float64, digits int) string {
	if p == nil {
		return "-"
	}
	return strconv.FormatFloat(*p, 'f', digits, 64)
}

func flatten(v any) ([]string, [][]string) {
	switch x := v.(type) {
	case store.KPIs:
		return []string{"kpi", "value"}, [][]string{
			{"from", x.From.Format(time.RFC3339)}, {"to", x.To.Format(time.RFC3339)},
			{"returns_total", strconv.Itoa(x.ReturnsTotal)}, {"completed_total", strconv.Itoa(x.CompletedTotal)},
			{"declined_total", strconv.Itoa(x.DeclinedTotal)}, {"expired_total", strconv.Itoa(x.ExpiredTotal)},
			{"cancelled_total", strconv.Itoa(x.CancelledTotal)}, {"decline_rate", num(x.DeclineRate, 3)},
			{"inspection_pass_rate", num(x.InspectionPassRate, 3)}, {"review_sla_met_rate", num(x.ReviewSLAMetRate, 3)},
			{"inspection_sla_met_rate", num(x.InspectionSLAMetRate, 3)}, {"median_processing_seconds", num(x.MedianProcessingSeconds, 0)},
			{"median_logistics_seconds", num(x.MedianLogisticsSeconds, 0)}, {"median_refund_seconds", num(x.MedianRefundSeconds, 0)},
			{"satisfaction_avg", num(x.SatisfactionAvg, 2)}, {"refunded_amount", strconv.FormatInt(x.RefundedAmount, 10)},
			{"legal_refund_on_time_rate", num(x.LegalRefundOnTimeRate, 3)},
			{"complaint_rate", num(x.ComplaintRate, 3)}, {"complaints", strconv.Itoa(x.Complaints)},
			{"keep_offers", strconv.Itoa(x.KeepOffers)}, {"keep_accepted", strconv.Itoa(x.KeepAccepted)}, {"keep_accepted_amount", strconv.FormatInt(x.KeepAcceptedAmount, 10)},
		}
	case []store.ReasonRow:
		var rows [][]string
		for _, r := range x {
			reasons := make([]string, 0, len(r.ByReason))
			for k, n := range r.ByReason {
				reasons = append(reasons, k+"="+strconv.Itoa(n))
			}
			sort.Strings(reasons)
			rows = append(rows, []string{r.Key, strconv.Itoa(r.Lines), strconv.Itoa(r.Units), strings.Join(reasons, " ")})
		}
		return []string{"key", "lines", "units", "by_reason"}, rows
	case []domain.Anomaly:
		var rows [][]string
		for _, a := range x {
			rows = append(rows, []string{a.SKU, a.Batch, strconv.FormatFloat(a.Rate, 'f', 4, 64), strconv.FormatFloat(a.Baseline, 'f', 4, 64),
				strconv.Itoa(a.Sample), strconv.Itoa(a.Returned), strconv.FormatFloat(a.Z, 'f', 2, 64)})
		}
		return []string{"sku", "batch", "rate", "baseline", "sample", "returned", "z"}, rows
	}
	b, _ := json.Marshal(v)
	return []string{"result"}, [][]string{{string(b)}}
}
