// Package partners holds the real HTTP adapters of the activity ports: the
// carrier, inventory, payments and notifications services. Their JSON
// contracts are in docs/partners.md; the simulators in package sim serve the
// same contracts. Every mutating call sends the activity's idempotency key as
// the Idempotency-Key header, and every call the partner's credential (a
// bearer token or an HMAC signature, see webhook.Credential).
package partners

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/notices"
	"github.com/rma-dev/rma/webhook"
)

// client is a small JSON-over-HTTP client with the error contract shared by
// all partners: a 4xx (but 408, 429 and a 409 that says the same key is still
// being processed) is a business refusal and is not retried; everything else
// is transient and left to the activity's retry policy.
type client struct {
	base string
	hc   *http.Client
	auth webhook.Credential
}

func newClient(base string, auth webhook.Credential, opts []Option) client {
	c := client{base: strings.TrimRight(base, "/"), hc: &http.Client{Timeout: 10 * time.Second}, auth: auth}
	for _, o := range opts {
		o(c.hc)
	}
	return c
}

// Option configures an adapter's HTTP client.
type Option func(*http.Client)

// WithTransport sends the adapter's calls through rt (metrics.Set.Partner
// times and counts them).
func WithTransport(rt http.RoundTripper) Option {
	return func(hc *http.Client) { hc.Transport = rt }
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func (c client) call(ctx context.Context, method, path, key string, in, out any) error {
	var body io.Reader
	var raw []byte
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode %s: %w", path, err)
		}
		body, raw = bytes.NewReader(b), b
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return fmt.Errorf("build %s %s: %w", method, path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	c.auth.Apply(req, raw, time.Now())
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if resp.StatusCode >= 300 {
		var eb errorBody
		_ = json.Unmarshal(raw, &eb)
		if eb.Error.Code == "" {
			eb.Error.Code, eb.Error.Message = fmt.Sprintf("http_%d", resp.StatusCode), strings.TrimSpace(string(raw))
		}
		if refusal(resp.StatusCode, eb.Error.Code) {
			return activities.Rejected(eb.Error.Code, "%s", eb.Error.Message)
		}
		return fmt.Errorf("%s %s: %d %s: %w", method, path, resp.StatusCode, eb.Error.Message, errTransient)
	}
	if out == nil || len(raw) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("decode %s: %w", path, err)
	}
	return nil
}

var errTransient = errors.New("partner temporarily unavailable")

// inProgress reports the 409 codes that mean "a request with this
// idempotency key is still being processed": retrying later gets its result.
func inProgress(code string) bool {
	return code == "request_in_progress" || code == "idempotency_key_in_use"
}

// refusal reports a business refusal that retrying cannot change.
func refusal(status int, code string) bool {
	switch {
	case status < 400 || status >= 500:
		return false
	case status == http.StatusRequestTimeout, status == http.StatusTooManyRequests:
		return false
	case status == http.StatusConflict && inProgress(code):
		return false
	}
	return true
}

// Carrier talks to the carrier service.
type Carrier struct{ c client }

// NewCarrier builds the carrier adapter for baseURL, authenticating with auth.
func NewCarrier(baseURL string, auth webhook.Credential, opts ...Option) *Carrier {
	return &Carrier{newClient(baseURL, auth, opts)}
}

// CreateLabel implements activities.Carrier.
func (a *Carrier) CreateLabel(ctx context.Context, req activities.LabelRequest) (activities.Label, error) {
	var l activities.Label
	return l, a.c.call(ctx, http.MethodPost, "/v1/labels", req.Key, req, &l)
}

// VoidLabel implements activities.Carrier.
func (a *Carrier) VoidLabel(ctx context.Context, req activities.VoidLabelRequest) error {
	return a.c.call(ctx, http.MethodPost, "/v1/labels/"+req.TrackingNumber+"/void", req.Key, req, nil)
}

// Ship implements activities.Carrier.
func (a *Carrier) Ship(ctx context.Context, req activities.ShipRequest) (activities.Shipment, error) {
	var s activities.Shipment
	return s, a.c.call(ctx, http.MethodPost, "/v1/shipments", req.Key, req, &s)
}

// OpenClaim implements activities.Carrier.
func (a *Carrier) OpenClaim(ctx context.Context, req activities.ClaimRequest) (activities.Claim, error) {
	var cl activities.Claim
	return cl, a.c.call(ctx, http.MethodPost, "/v1/claims", req.Key, req, &cl)
}

// Inventory talks to the inventory service.
type Inventory struct{ c client }

// NewInventory builds the inventory adapter for baseURL, authenticating with auth.
func NewInventory(baseURL string, auth webhook.Credential, opts ...Option) *Inventory {
	return &Inventory{newClient(baseURL, auth, opts)}
}

// Reserve implements activities.Inventory.
func (a *Inventory) Reserve(ctx context.Context, req activities.ReserveRequest) (activities.Reservation, error) {
	var r activities.Reservation
	return r, a.c.call(ctx, http.MethodPost, "/v1/reservations", req.Key, req, &r)
}

// Release implements activities.Inventory.
func (a *Inventory) Release(ctx context.Context, req activities.StockRequest) error {
	return a.c.call(ctx, http.MethodPost, "/v1/reservations/release", req.Key, req, nil)
}

// Commit implements activities.Inventory.
func (a *Inventory) Commit(ctx context.Context, req activities.StockRequest) error {
	return a.c.call(ctx, http.MethodPost, "/v1/reservations/commit", req.Key, req, nil)
}

// Move implements activities.Inventory.
func (a *Inventory) Move(ctx context.Context, req activities.MoveRequest) error {
	return a.c.call(ctx, http.MethodPost, "/v1/movements", req.Key, req, nil)
}

// Available is the stock of a SKU that a new reservation could take, for
// the storefront's preview (an unknown SKU is an error).
func (a *Inventory) Available(ctx context.Context, sku string) (int, error) {
	var l struct {
		Available int `json:"available"`
	}
	return l.Available, a.c.call(ctx, http.MethodGet, "/v1/stock/"+url.PathEscape(sku), "", nil, &l)
}

// Payments talks to the payment service.
type Payments struct{ c client }

// NewPayments builds the payments adapter for baseURL, authenticating with auth.
func NewPayments(baseURL string, auth webhook.Credential, opts ...Option) *Payments {
	return &Payments{newClient(baseURL, auth, opts)}
}

// Execute implements activities.Payments.
func (a *Payments) Execute(ctx context.Context, req activities.PaymentRequest) (activities.PaymentResult, error) {
	var r activities.PaymentResult
	return r, a.c.call(ctx, http.MethodPost, "/v1/payments", req.Key, req, &r)
}

// Find implements activities.Payments: GET /v1/payments?key=..., where a
// 404 means no movement was made under the key.
func (a *Payments) Find(ctx context.Context, req activities.PaymentRequest) (activities.PaymentResult, bool, error) {
	var r activities.PaymentResult
	err := a.c.call(ctx, http.MethodGet, "/v1/payments?key="+url.QueryEscape(req.Key), "", nil, &r)
	var rej *activities.RejectedError
	if errors.As(err, &rej) && rej.Code == "not_found" {
		return r, false, nil
	}
	if err != nil {
		return r, false, err
	}
	return r, true, nil
}

// Notifier talks to the notifications service. It sends each notice
// rendered from rma's own templates (subject and body in the customer's
// language) beside its template name and parameters, so the service only
// delivers.
type Notifier struct {
	c       client
	catalog notices.Catalog
}

// NewNotifier builds the notifications adapter for baseURL, authenticating with auth.
func NewNotifier(baseURL string, auth webhook.Credential, opts ...Option) *Notifier {
	return &Notifier{c: newClient(baseURL, auth, opts), catalog: notices.MustLoad()}
}

// RenderedNotice is what the notifications service receives.
type RenderedNotice struct {
	activities.Notification
	Subject string `json:"subject"`
	Body    string `json:"body"`
}

// Notify implements activities.Notifier.
func (a *Notifier) Notify(ctx context.Context, n activities.Notification) error {
	m, err := a.catalog.Render(n)
	if err != nil {
		return activities.Rejected("no_template", "%v", err)
	}
	n.Locale = m.Locale
	return a.c.call(ctx, http.MethodPost, "/v1/messages", n.Key, RenderedNotice{Notification: n, Subject: m.Subject, Body: m.Body}, nil)
}

var (
	_ activities.Carrier   = (*Carrier)(nil)
	_ activities.Inventory = (*Inventory)(nil)
	_ activities.Payments  = (*Payments)(nil)
	_ activities.Notifier  = (*Notifier)(nil)
)
