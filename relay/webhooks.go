package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/rma-dev/rma/store"
	"github.com/rma-dev/rma/webhook"
)

// WebhookOptions tune the webhook relay.
type WebhookOptions struct {
	Batch int
	// Lease keeps a leased delivery from other relays while it is sent.
	Lease time.Duration
	// Timeout bounds one POST.
	Timeout time.Duration
	// MaxAge is how long a delivery is retried (three days), MaxBackoff
	// the longest wait between two attempts.
	MaxAge     time.Duration
	MaxBackoff time.Duration
	// PauseAfter pauses an endpoint whose attempts failed this many times
	// in a row (and tells support); a replay resumes it.
	PauseAfter int
	// AllowPrivate lets endpoints resolve to loopback, private and
	// link-local addresses (rma dev, and on-premises receivers); off, a
	// merchant's URL cannot reach the worker's own network.
	AllowPrivate bool
}

// DefaultWebhookOptions are the production settings.
func DefaultWebhookOptions() WebhookOptions {
	return WebhookOptions{Batch: 10, Lease: 5 * time.Minute, Timeout: 10 * time.Second, MaxAge: 72 * time.Hour, MaxBackoff: time.Hour, PauseAfter: 500}
}

// Webhooks delivers rma's events to merchants' endpoints: at least once,
// in order per return (the store leases only each return's oldest pending
// delivery per endpoint), signed with X-RMA-Signature (both secrets for a
// day after a rotation), retried with exponential backoff for MaxAge. It
// wakes on PostgreSQL NOTIFY and at the next retry, never on an interval.
type Webhooks struct {
	st     *store.Store
	log    *zap.Logger
	o      WebhookOptions
	client *http.Client
	now    func() time.Time
}

// NewWebhooks builds the webhook relay.
func NewWebhooks(st *store.Store, log *zap.Logger, o WebhookOptions) *Webhooks {
	if o.Batch == 0 {
		o = DefaultWebhookOptions()
	}
	dialer := &net.Dialer{Timeout: o.Timeout}
	if !o.AllowPrivate {
		dialer.Control = refusePrivate
	}
	client := &http.Client{Timeout: o.Timeout, Transport: &http.Transport{DialContext: dialer.DialContext, TLSHandshakeTimeout: o.Timeout},
		// A redirect would resend the signed body elsewhere: the endpoint's
		// URL is the only place it goes.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &Webhooks{st: st, log: log, o: o, client: client, now: time.Now}
}

// refusePrivate refuses connections to loopback, private, link-local and
// unspecified addresses: a merchant's endpoint must not reach the
// worker's own network (cloud metadata, the database, Temporal).
func refusePrivate(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip := net.ParseIP(host)
	if ip == nil || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsUnspecified() {
		return fmt.Errorf("webhook endpoint resolves to %s, a private address (allow with --webhooks-allow-private)", host)
	}
	return nil
}

// Run delivers until ctx ends.
func (w *Webhooks) Run(ctx context.Context) error {
	return loop(ctx, w.st, store.WebhookChannel, w.log, w.o.MaxBackoff, w.Drain, w.st.NextDeliveryAt)
}

// Drain sends every delivery that is due now.
func (w *Webhooks) Drain(ctx context.Context) error {
	for {
		jobs, err := w.st.ClaimDeliveries(ctx, w.o.Batch, w.o.Lease)
		if err != nil {
			return err
		}
		if len(jobs) == 0 {
			return nil
		}
		for _, j := range jobs {
			if ctx.Err() != nil {
				return nil // the rest go back when their lease ends
			}
			if w.now().Add(w.o.Timeout).After(j.Leased.Add(w.o.Lease)) {
				// Its lease ends before a POST could: another relay may
				// take it; it goes back when the lease ends.
				continue
			}
			if err := w.deliver(ctx, j); err != nil {
				return err
			}
		}
	}
}

// deliver POSTs one event and records the outcome.
func (w *Webhooks) deliver(ctx context.Context, j store.DeliveryJob) error {
	log := w.log.With(zap.String("rma_id", j.Event.RMAID), zap.String("event_id", j.Event.ID), zap.String("type", j.Event.Type),
		zap.String("endpoint", j.EndpointID), zap.Int("attempt", j.Attempts+1))
	body, err := json.Marshal(j.Event)
	if err != nil {
		return fmt.Errorf("encode event %s: %w", j.Event.ID, err)
	}
	began := w.now()
	status, cause := w.post(ctx, j, body)
	latency := w.now().Sub(began)
	ctx = context.WithoutCancel(ctx) // what happened is recorded even at shutdown
	if cause == "" {
		log.Info("webhook delivered", zap.Int("status", status), zap.Duration("latency", latency))
		return w.st.DeliveryDone(ctx, j, status, latency)
	}
	backoff := min(time.Duration(1<<min(j.Attempts, 20))*time.Second, w.o.MaxBackoff)
	giveUp := w.now().Sub(j.Queued) > w.o.MaxAge
	if giveUp {
		log.Error("webhook delivery given up after its retries; endpoint paused, support told", zap.String("error", cause))
	} else {
		log.Warn("webhook delivery failed; will retry", zap.Duration("in", backoff), zap.String("error", cause))
	}
	return w.st.DeliveryFailed(ctx, j, status, cause, latency, w.now().Add(backoff), giveUp, w.o.PauseAfter)
}

// post sends the event; cause is "" for a 2xx answer.
func (w *Webhooks) post(ctx context.Context, j store.DeliveryJob, body []byte) (int, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "rma-webhooks/1")
	req.Header.Set("X-RMA-Event-Id", j.Event.ID)
	req.Header.Set(webhook.Header, webhook.SignAll(j.Secrets, w.now(), body))
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Sprintf("HTTP %d", resp.StatusCode)
	}
	return resp.StatusCode, ""
}
