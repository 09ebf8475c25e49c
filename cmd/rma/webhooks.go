package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rma-dev/rma/api"
	"github.com/rma-dev/rma/store"
)

func newWebhookCmd() *cobra.Command {
	var apiURL, token, output string
	cmd := &cobra.Command{
		Use:   "webhook",
		Short: "Manage signed outbound webhooks for merchant systems (over the API, admin or backend token)",
		Long: `rma sends every change of a return to the merchant's systems as signed
webhooks (docs/webhooks.md): at least once, in order per return, retried
for three days. These commands manage the endpoints through the HTTP API
(--api URL --token T, or RMA_API_URL and RMA_TOKEN): an admin token manages
every endpoint, a backend token its own.

Events: ` + strings.Join(store.WebhookEventTypes(), ", ") + `, or "*".`,
		Example: `  rma webhook add --url https://erp.example.com/rma --event return.refunded --event return.completed
  rma webhook list
  rma webhook rotate we_abc123
  rma webhook replay we_abc123 --since 24h
  rma webhook deliveries we_abc123
  rma webhook remove we_abc123`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&apiURL, "api", os.Getenv("RMA_API_URL"), "the rma API's URL (env RMA_API_URL)")
	pf.StringVar(&token, "token", os.Getenv("RMA_TOKEN"), "API token with the admin or backend role (env RMA_TOKEN)")
	pf.StringVarP(&output, "output", "o", "table", "table or json")
	with := func(fn func(ctx context.Context, a apiBackend, args []string) (any, error)) func(*cobra.Command, []string) error {
		return func(c *cobra.Command, args []string) error {
			a, err := newAPIBackend(apiURL, token)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(c.Context(), 60*time.Second)
			defer cancel()
			v, err := fn(ctx, a, args)
			if err != nil {
				return explain(err)
			}
			if output == "json" {
				return render(c.OutOrStdout(), "json", v)
			}
			return printWebhooks(c, v)
		}
	}
	var req api.EndpointRequest
	add := &cobra.Command{Use: "add --url URL --event TYPE...", Short: "Add an endpoint; prints its signing secret once", Args: cobra.NoArgs,
		RunE: with(func(ctx context.Context, a apiBackend, _ []string) (any, error) {
			var e store.Endpoint
			return e, a.call(ctx, http.MethodPost, "/v1/webhook-endpoints", req, &e)
		})}
	add.Flags().StringVar(&req.URL, "url", "", "where to POST the events")
	add.Flags().StringArrayVar(&req.Events, "event", nil, `an event type (repeat), or "*" for every event`)
	add.Flags().StringVar(&req.Description, "description", "", "what the endpoint is (ERP, helpdesk, …)")
	_ = add.MarkFlagRequired("url")
	_ = add.MarkFlagRequired("event")
	list := &cobra.Command{Use: "list", Short: "List the endpoints", Args: cobra.NoArgs,
		RunE: with(func(ctx context.Context, a apiBackend, _ []string) (any, error) {
			var out struct {
				Items []store.Endpoint `json:"items"`
			}
			return out.Items, a.call(ctx, http.MethodGet, "/v1/webhook-endpoints", nil, &out)
		})}
	remove := &cobra.Command{Use: "remove ID", Short: "Remove an endpoint", Args: cobra.ExactArgs(1),
		RunE: with(func(ctx context.Context, a apiBackend, args []string) (any, error) {
			return "removed " + args[0], a.call(ctx, http.MethodDelete, "/v1/webhook-endpoints/"+url.PathEscape(args[0]), nil, nil)
		})}
	rotate := &cobra.Command{Use: "rotate ID", Short: "Rotate an endpoint's secret (both are signed with for 24 hours); prints the new one", Args: cobra.ExactArgs(1),
		RunE: with(func(ctx context.Context, a apiBackend, args []string) (any, error) {
			var e store.Endpoint
			return e, a.call(ctx, http.MethodPost, "/v1/webhook-endpoints/"+url.PathEscape(args[0])+"/rotate-secret", nil, &e)
		})}
	var since string
	replay := &cobra.Command{Use: "replay ID [--since 24h]", Short: "Send an endpoint's events again (and resume it if paused)", Args: cobra.ExactArgs(1),
		RunE: with(func(ctx context.Context, a apiBackend, args []string) (any, error) {
			var out map[string]any
			return out, a.call(ctx, http.MethodPost, "/v1/webhook-endpoints/"+url.PathEscape(args[0])+"/replay?since="+url.QueryEscape(since), nil, &out)
		})}
	replay.Flags().StringVar(&since, "since", "24h", "a duration (24h, 7d) or a date")
	deliveries := &cobra.Command{Use: "deliveries ID", Short: "An endpoint's delivery log, newest first", Args: cobra.ExactArgs(1),
		RunE: with(func(ctx context.Context, a apiBackend, args []string) (any, error) {
			var out struct {
				Items []store.Delivery `json:"items"`
			}
			return out.Items, a.call(ctx, http.MethodGet, "/v1/webhook-endpoints/"+url.PathEscape(args[0])+"/deliveries", nil, &out)
		})}
	cmd.AddCommand(add, list, remove, rotate, replay, deliveries)
	return cmd
}

func printWebhooks(c *cobra.Command, v any) error {
	w := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
	switch x := v.(type) {
	case store.Endpoint:
		fmt.Fprintf(w, "endpoint %s → %s (%s)\n", x.ID, x.URL, strings.Join(x.Events, ", "))
		if x.Secret != "" {
			fmt.Fprintf(w, "signing secret (shown once): %s\n", x.Secret)
		}
	case []store.Endpoint:
		fmt.Fprintln(w, "ID\tURL\tEVENTS\tPAUSED\tOWNER\tDESCRIPTION")
		for _, e := range x {
			fmt.Fprintf(w, "%s\t%s\t%s\t%v\t%s\t%s\n", e.ID, e.URL, strings.Join(e.Events, ","), e.Paused, e.Owner, e.Description)
		}
	case []store.Delivery:
		fmt.Fprintln(w, "EVENT\tTYPE\tRETURN\tSTATUS\tATTEMPTS\tLAST\tLATENCY")
		for _, d := range x {
			last := "-"
			if d.LastStatus != nil {
				last = fmt.Sprint(*d.LastStatus)
			} else if d.LastError != nil {
				last = *d.LastError
			}
			lat := "-"
			if d.LatencyMS != nil {
				lat = fmt.Sprintf("%dms", *d.LatencyMS)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", d.EventID, d.Type, d.RMAID, d.Status, d.Attempts, last, lat)
		}
	default:
		fmt.Fprintln(w, x)
	}
	return w.Flush()
}
