// Package metrics is rma's Prometheus side: one registry per process,
// served at /metrics by rma api and by rma worker's health port. It holds
// the Temporal SDK's own metrics (through tally: workflow and activity task
// latencies, schedule-to-start, poller counts, failures), the partner
// calls' rates, errors and latency, and, in the API, the read model's
// business figures: returns by status, SLA breaches by stage, refunded
// amounts. deploy/grafana/rma.json charts them.
package metrics

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/uber-go/tally/v4"
	tallyprom "github.com/uber-go/tally/v4/prometheus"
	"go.temporal.io/sdk/client"
	sdktally "go.temporal.io/sdk/contrib/tally"

	"github.com/rma-dev/rma/store"
)

// Set is one process's metrics.
type Set struct {
	Registry *prometheus.Registry
	scope    tally.Scope
	closer   io.Closer
	partner  *prometheus.HistogramVec
}

// New makes the registry of a process (component: api or worker), with the
// Go runtime's and the process's own collectors.
func New(component string) (*Set, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	registerErrors := prometheus.NewCounter(prometheus.CounterOpts{Name: "rma_metrics_register_errors_total",
		Help: "SDK metrics that could not be registered (the same name with other labels); tally would panic on them."})
	reg.MustRegister(registerErrors)
	reporter := tallyprom.NewReporter(tallyprom.Options{Registerer: reg, DefaultTimerType: tallyprom.HistogramTimerType,
		OnRegisterError: func(error) { registerErrors.Inc() }})
	scope, closer := tally.NewRootScope(tally.ScopeOptions{
		CachedReporter: reporter, Separator: tallyprom.DefaultSeparator, SanitizeOptions: &sdktally.PrometheusSanitizeOptions,
		Tags: map[string]string{"component": component},
	}, time.Second)
	partner := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "rma_partner_request_seconds",
		Help:    "Calls to partner services (carrier, inventory, payments, notifications, stripe, smtp) by outcome: ok, refused (4xx), error (5xx, network).",
		Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
	}, []string{"partner", "method", "outcome"})
	if err := reg.Register(partner); err != nil {
		return nil, fmt.Errorf("register partner metrics: %w", err)
	}
	return &Set{Registry: reg, scope: sdktally.NewPrometheusNamingScope(scope), closer: closer, partner: partner}, nil
}

// TemporalHandler is the Temporal client's metrics handler (client.Options
// MetricsHandler): the SDK's metrics, prefixed temporal_.
func (s *Set) TemporalHandler() client.MetricsHandler { return sdktally.NewMetricsHandler(s.scope) }

// Handler serves the registry in Prometheus's text format.
func (s *Set) Handler() http.Handler {
	return promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{Registry: s.Registry})
}

// Close flushes the SDK's metrics.
func (s *Set) Close() { _ = s.closer.Close() }

// Partner wraps a transport so every call to the partner is timed and
// counted by outcome.
func (s *Set) Partner(partner string, next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return roundTripper{partner: partner, next: next, h: s.partner}
}

type roundTripper struct {
	partner string
	next    http.RoundTripper
	h       *prometheus.HistogramVec
}

func (rt roundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	began := time.Now()
	resp, err := rt.next.RoundTrip(r)
	outcome := "ok"
	switch {
	case err != nil || resp.StatusCode >= 500:
		outcome = "error"
	case resp.StatusCode >= 400:
		outcome = "refused"
	}
	rt.h.WithLabelValues(rt.partner, r.Method, outcome).Observe(time.Since(began).Seconds())
	return resp, err
}

// ObservePartner records a call that is not HTTP (SMTP).
func (s *Set) ObservePartner(partner, method string, began time.Time, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	s.partner.WithLabelValues(partner, method, outcome).Observe(time.Since(began).Seconds())
}

// ReadModel gives the business figures; the store does.
type ReadModel interface {
	Figures(ctx context.Context) (store.Figures, error)
}

// RegisterReadModel adds the business figures, read from rm at each scrape
// (one query per figure; scrapes come every 15 to 60 s).
func (s *Set) RegisterReadModel(rm ReadModel) error {
	return s.Registry.Register(readModelCollector{rm: rm})
}

var (
	returnsDesc  = prometheus.NewDesc("rma_returns", "Returns in the read model by status.", []string{"status"}, nil)
	breachesDesc = prometheus.NewDesc("rma_sla_breaches", "Returns that breached an SLA, by the SLA (stage).", []string{"sla"}, nil)
	refundedDesc = prometheus.NewDesc("rma_refunded_minor_units_total", "Money refunded to customers, in minor units (fen, cents), by currency.", []string{"currency"}, nil)
	tasksDesc    = prometheus.NewDesc("rma_support_tasks_open", "Support's open tasks (needs_attention, undeliverable notices).", nil, nil)
	upDesc       = prometheus.NewDesc("rma_read_model_up", "1 when the last scrape read the read model.", nil, nil)
)

type readModelCollector struct{ rm ReadModel }

func (c readModelCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{returnsDesc, breachesDesc, refundedDesc, tasksDesc, upDesc} {
		ch <- d
	}
}

func (c readModelCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	f, err := c.rm.Figures(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, 1)
	for st, n := range f.ByStatus {
		ch <- prometheus.MustNewConstMetric(returnsDesc, prometheus.GaugeValue, float64(n), st)
	}
	for sla, n := range f.Breaches {
		ch <- prometheus.MustNewConstMetric(breachesDesc, prometheus.GaugeValue, float64(n), sla)
	}
	for cur, v := range f.Refunded {
		ch <- prometheus.MustNewConstMetric(refundedDesc, prometheus.CounterValue, float64(v), cur)
	}
	ch <- prometheus.MustNewConstMetric(tasksDesc, prometheus.GaugeValue, float64(f.OpenTasks))
}
