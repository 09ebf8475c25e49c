package partners

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/domain"
)

// StripeAPI is Stripe's API address.
const StripeAPI = "https://api.stripe.com"

// StripeVersion is the API version every request asks for: the one
// stripe-mock v0.203.0 describes, which the test checks every request
// against (with -strict-version-check).
const StripeVersion = "2026-08-26.dahlia"

// StripeMaxHold is how long Stripe keeps an uncaptured card authorisation
// before it releases it: an advance-exchange hold must be settled sooner.
const StripeMaxHold = 7 * 24 * time.Hour

// Stripe is the payments port over Stripe's API (form-encoded requests,
// secret key auth), so rma moves real money:
//   - refund: a Refund of the order's PaymentIntent, one per line and
//     purpose, full or partial;
//   - store_credit: a credit to the Customer's balance (a negative
//     customer balance transaction);
//   - hold, capture, void_hold: an advance-exchange hold is a PaymentIntent
//     with capture_method=manual on the customer's saved card, captured or
//     cancelled when the return settles;
//   - charge: a PaymentIntent confirmed at once (an exchange's price
//     difference);
//   - coupon: a one-use Coupon and a PromotionCode for the customer.
//
// Every POST carries the movement's idempotency key (RMA, line, purpose)
// as Stripe's Idempotency-Key, and the key, RMA and line as metadata, which
// is how Find recognises the movement once Stripe has forgotten the key.
// Errors map to retryable or not: a declined card, a bad request or a
// missing reference is a business refusal (activities.RejectedError); a
// 5xx, a rate limit, a lock timeout, "another request with this key is in
// progress" (409 idempotency_key_in_use) or a lost connection is retried.
// Stripe-Should-Retry, when sent, decides.
type Stripe struct {
	base string
	key  string
	hc   *http.Client
}

// NewStripe builds the adapter: baseURL is StripeAPI (or stripe-mock's
// address), secretKey a secret or restricted key (sk_..., rk_...).
func NewStripe(baseURL, secretKey string, opts ...Option) *Stripe {
	s := &Stripe{base: strings.TrimRight(baseURL, "/"), key: secretKey, hc: &http.Client{Timeout: 30 * time.Second}}
	for _, o := range opts {
		o(s.hc)
	}
	return s
}

// stripeObject is the part of every Stripe object the adapter reads.
type stripeObject struct {
	ID       string            `json:"id"`
	Object   string            `json:"object"`
	Status   string            `json:"status"`
	Amount   int64             `json:"amount"`
	Currency string            `json:"currency"`
	Code     string            `json:"code"`
	Metadata map[string]string `json:"metadata"`
}

type stripeList struct {
	Data    []stripeObject `json:"data"`
	HasMore bool           `json:"has_more"`
}

type stripeError struct {
	Error struct {
		Type        string `json:"type"`
		Code        string `json:"code"`
		DeclineCode string `json:"decline_code"`
		Message     string `json:"message"`
		Param       string `json:"param"`
	} `json:"error"`
}

// metadata tags a movement so Find can recognise it.
func metadata(v url.Values, req activities.PaymentRequest) {
	v.Set("metadata[rma_key]", req.Key)
	v.Set("metadata[rma_id]", req.RMAID)
	if req.LineID != "" {
		v.Set("metadata[rma_line_id]", req.LineID)
	}
	if req.Memo != "" {
		v.Set("metadata[rma_purpose]", req.Memo)
	}
}

func amount(v url.Values, field string, m domain.Money) {
	v.Set(field, strconv.FormatInt(m.Amount, 10))
}

func currency(m domain.Money) string { return strings.ToLower(m.Currency) }

// refs returns the provider references a kind needs, or a refusal naming
// the missing one: retrying cannot invent a PaymentIntent.
func refs(req activities.PaymentRequest, need ...string) (domain.PaymentRef, error) {
	var p domain.PaymentRef
	if req.Payment != nil {
		p = *req.Payment
	}
	for _, n := range need {
		var v string
		switch n {
		case "payment_id":
			v = p.PaymentID
		case "customer_id":
			v = p.CustomerID
		case "payment_method":
			v = p.PaymentMethod
		}
		if v == "" {
			return p, activities.Rejected("missing_payment_reference", "%s needs the order's payment.%s (the Stripe %s) in the return request", req.Kind, n, map[string]string{
				"payment_id": "PaymentIntent", "customer_id": "Customer", "payment_method": "PaymentMethod"}[n])
		}
	}
	return p, nil
}

// Execute implements activities.Payments.
func (s *Stripe) Execute(ctx context.Context, req activities.PaymentRequest) (activities.PaymentResult, error) {
	v := url.Values{}
	metadata(v, req)
	var path string
	switch req.Kind {
	case activities.PayRefund:
		if req.Method != "" && req.Method != "original" {
			// Stripe refunds only to the card or account that paid: a
			// bank transfer or an e-wallet payout is the merchant's to
			// make; support pays it and abandons the step.
			return activities.PaymentResult{}, activities.Rejected("unsupported_method", "stripe adapter: refunds go to the original payment method only; pay %s %s to %s by hand", req.Amount, req.Method, req.Account)
		}
		pi, err := s.refundTarget(ctx, req)
		if err != nil {
			return activities.PaymentResult{}, err
		}
		path = "/v1/refunds"
		v.Set("payment_intent", pi)
		amount(v, "amount", req.Amount)
		v.Set("reason", "requested_by_customer")
	case activities.PayStoreCredit:
		p, err := refs(req, "customer_id")
		if err != nil {
			return activities.PaymentResult{}, err
		}
		// A negative balance transaction is a credit the customer's next
		// invoices draw on.
		path = "/v1/customers/" + url.PathEscape(p.CustomerID) + "/balance_transactions"
		v.Set("amount", strconv.FormatInt(-req.Amount.Amount, 10))
		v.Set("currency", currency(req.Amount))
		v.Set("description", "store credit for return "+req.RMAID)
	case activities.PayHold, activities.PayCharge:
		p, err := refs(req, "customer_id", "payment_method")
		if err != nil {
			return activities.PaymentResult{}, err
		}
		path = "/v1/payment_intents"
		amount(v, "amount", req.Amount)
		v.Set("currency", currency(req.Amount))
		v.Set("customer", p.CustomerID)
		v.Set("payment_method", p.PaymentMethod)
		v.Set("confirm", "true")
		v.Set("off_session", "true")
		// A saved card, charged without the customer: no redirect-based
		// method may be chosen (it would need a return_url).
		v.Set("payment_method_types[]", "card")
		v.Set("description", req.Memo+" ("+req.RMAID+")")
		if req.Kind == activities.PayHold {
			v.Set("capture_method", "manual")
		}
	case activities.PayCapture, activities.PayVoidHold:
		hold, found, err := s.findIntent(ctx, req.HoldKey)
		if err != nil {
			return activities.PaymentResult{}, err
		}
		if !found {
			// Search lags writes by up to a minute: a cancel right after
			// the hold may not see it yet. Retried; a hold that never
			// appears exhausts the retries and goes to support.
			return activities.PaymentResult{}, fmt.Errorf("no PaymentIntent found for hold %s (Stripe's search lags up to a minute): %w", req.HoldKey, errTransient)
		}
		v = url.Values{}
		if req.Kind == activities.PayCapture {
			path = "/v1/payment_intents/" + url.PathEscape(hold.ID) + "/capture"
			amount(v, "amount_to_capture", req.Amount)
			v.Set("metadata[rma_capture_key]", req.Key)
		} else {
			path = "/v1/payment_intents/" + url.PathEscape(hold.ID) + "/cancel"
			v.Set("cancellation_reason", "requested_by_customer")
		}
	case activities.PayCoupon:
		p, err := refs(req, "customer_id")
		if err != nil {
			return activities.PaymentResult{}, err
		}
		var coupon stripeObject
		c := url.Values{}
		metadata(c, req)
		amount(c, "amount_off", req.Amount)
		c.Set("currency", currency(req.Amount))
		c.Set("duration", "once")
		c.Set("max_redemptions", "1")
		c.Set("name", "Return "+req.RMAID)
		if err := s.post(ctx, "/v1/coupons", activities.Key(req.Key, "coupon"), c, &coupon); err != nil {
			return activities.PaymentResult{}, err
		}
		path = "/v1/promotion_codes"
		v.Set("promotion[type]", "coupon")
		v.Set("promotion[coupon]", coupon.ID)
		v.Set("customer", p.CustomerID)
		v.Set("max_redemptions", "1")
	default:
		return activities.PaymentResult{}, activities.Rejected("unsupported_kind", "stripe adapter: unknown payment kind %q", req.Kind)
	}
	var obj stripeObject
	if err := s.post(ctx, path, req.Key, v, &obj); err != nil {
		return activities.PaymentResult{}, err
	}
	return result(obj, req), nil
}

func result(obj stripeObject, req activities.PaymentRequest) activities.PaymentResult {
	id := obj.ID
	if obj.Object == "promotion_code" && obj.Code != "" {
		id = obj.Code
	}
	status := obj.Status
	if status == "" {
		status = "succeeded"
	}
	return activities.PaymentResult{ID: id, Status: status, Amount: req.Amount}
}

// Find implements activities.Payments: the movement req would make, found
// by the rma_key metadata Execute wrote, for a key Stripe may have
// forgotten. Refunds are listed per PaymentIntent, balance transactions
// per customer, PaymentIntents by search.
func (s *Stripe) Find(ctx context.Context, req activities.PaymentRequest) (activities.PaymentResult, bool, error) {
	var objs []stripeObject
	var err error
	switch req.Kind {
	case activities.PayRefund:
		pi, rerr := s.refundTarget(ctx, req)
		if rerr != nil {
			return activities.PaymentResult{}, false, rerr
		}
		objs, err = s.listAll(ctx, "/v1/refunds?payment_intent="+url.QueryEscape(pi))
	case activities.PayStoreCredit:
		p, rerr := refs(req, "customer_id")
		if rerr != nil {
			return activities.PaymentResult{}, false, rerr
		}
		objs, err = s.listAll(ctx, "/v1/customers/"+url.PathEscape(p.CustomerID)+"/balance_transactions?")
	case activities.PayHold, activities.PayCharge:
		pi, found, err := s.findIntent(ctx, req.Key)
		if err != nil || !found || !live(req.Kind, pi.Status) {
			return activities.PaymentResult{}, false, err
		}
		return result(pi, req), true, nil
	case activities.PayCapture, activities.PayVoidHold:
		// A hold that left requires_capture was captured or cancelled.
		pi, found, err := s.findIntent(ctx, req.HoldKey)
		if err != nil || !found {
			return activities.PaymentResult{}, false, err
		}
		if (req.Kind == activities.PayCapture && pi.Status == "succeeded") || (req.Kind == activities.PayVoidHold && pi.Status == "canceled") {
			return result(pi, req), true, nil
		}
		return activities.PaymentResult{}, false, nil
	case activities.PayCoupon:
		// The promotion code carries the key; a customer has few.
		p, rerr := refs(req, "customer_id")
		if rerr != nil {
			return activities.PaymentResult{}, false, rerr
		}
		objs, err = s.listAll(ctx, "/v1/promotion_codes?customer="+url.QueryEscape(p.CustomerID))
	default:
		return activities.PaymentResult{}, false, activities.Rejected("unsupported_kind", "stripe adapter: unknown payment kind %q", req.Kind)
	}
	if err != nil {
		return activities.PaymentResult{}, false, err
	}
	for _, o := range objs {
		if o.Metadata["rma_key"] == req.Key && live(req.Kind, o.Status) {
			return result(o, req), true, nil
		}
	}
	return activities.PaymentResult{}, false, nil
}

// live reports a movement that took effect or is under way: one that
// failed or was cancelled is not the movement Find looks for, and sending
// it again (under a key Stripe has forgotten) is right.
func live(kind, status string) bool {
	switch kind {
	case activities.PayRefund:
		return status == "succeeded" || status == "pending" || status == "requires_action"
	case activities.PayHold:
		return status == "requires_capture" || status == "succeeded" || status == "processing"
	case activities.PayCharge:
		return status == "succeeded" || status == "processing"
	}
	// Balance transactions and promotion codes have no failed state.
	return true
}

// refundTarget is the PaymentIntent a refund gives money back to: the
// charge or captured hold it reverses (RefundOf), else the order's.
func (s *Stripe) refundTarget(ctx context.Context, req activities.PaymentRequest) (string, error) {
	if req.RefundOf == "" {
		p, err := refs(req, "payment_id")
		return p.PaymentID, err
	}
	pi, found, err := s.findIntent(ctx, req.RefundOf)
	if err != nil {
		return "", err
	}
	if !found {
		return "", fmt.Errorf("no PaymentIntent found for %s, which %s gives back (Stripe's search lags up to a minute): %w", req.RefundOf, req.Key, errTransient)
	}
	return pi.ID, nil
}

// maxPages bounds a lookup: 20 pages of 100 objects.
const maxPages = 20

// listAll reads every page of a Stripe list. A list too long to read
// whole cannot prove a movement absent, so it is a refusal (support
// decides) rather than a "not found" that would pay again.
func (s *Stripe) listAll(ctx context.Context, path string) ([]stripeObject, error) {
	sep := "&"
	if strings.HasSuffix(path, "?") {
		sep = ""
	}
	var all []stripeObject
	after := ""
	for page := 0; page < maxPages; page++ {
		p := path + sep + "limit=100"
		if after != "" {
			p += "&starting_after=" + url.QueryEscape(after)
		}
		var l stripeList
		if err := s.get(ctx, p, &l); err != nil {
			return nil, err
		}
		all = append(all, l.Data...)
		if !l.HasMore || len(l.Data) == 0 {
			return all, nil
		}
		after = l.Data[len(l.Data)-1].ID
	}
	return nil, activities.Rejected("lookup_too_long", "more than %d objects at %s: cannot prove the movement absent", maxPages*100, path)
}

// findIntent finds the PaymentIntent made under key with Stripe's search
// (indexed within about a minute; Find runs a day after the first try,
// and a capture days after its hold).
func (s *Stripe) findIntent(ctx context.Context, key string) (stripeObject, bool, error) {
	q := fmt.Sprintf("metadata['rma_key']:'%s'", strings.ReplaceAll(key, "'", `\'`))
	var l stripeList
	if err := s.get(ctx, "/v1/payment_intents/search?limit=10&query="+url.QueryEscape(q), &l); err != nil {
		return stripeObject{}, false, err
	}
	for _, o := range l.Data {
		if o.Metadata["rma_key"] == key {
			return o, true, nil
		}
	}
	return stripeObject{}, false, nil
}

func (s *Stripe) post(ctx context.Context, path, key string, form url.Values, out any) error {
	return s.do(ctx, http.MethodPost, path, key, form, out)
}

func (s *Stripe) get(ctx context.Context, path string, out any) error {
	return s.do(ctx, http.MethodGet, path, "", nil, out)
}

func (s *Stripe) do(ctx context.Context, method, path, key string, form url.Values, out any) error {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, body)
	if err != nil {
		return fmt.Errorf("build stripe %s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+s.key)
	// The request shapes (promotion[coupon], balance transactions) are
	// those of this API version, whatever the account's default.
	req.Header.Set("Stripe-Version", StripeVersion)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return fmt.Errorf("stripe %s %s: %w: %w", method, path, err, errTransient)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("read stripe %s: %w: %w", path, err, errTransient)
	}
	if resp.StatusCode >= 300 {
		return stripeFailure(resp.StatusCode, resp.Header.Get("Stripe-Should-Retry"), raw, method, path)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("decode stripe %s: %w", path, err)
	}
	return nil
}

// stripeFailure maps a Stripe error answer to a refusal (not retried) or a
// transient error (retried by the activity's policy).
func stripeFailure(status int, shouldRetry string, raw []byte, method, path string) error {
	var e stripeError
	_ = json.Unmarshal(raw, &e)
	code := e.Error.Code
	if code == "" {
		code = e.Error.Type
	}
	if code == "" {
		code = "http_" + strconv.Itoa(status)
	}
	msg := e.Error.Message
	if msg == "" {
		msg = strings.TrimSpace(string(raw))
	}
	if e.Error.DeclineCode != "" {
		msg += " (decline code " + e.Error.DeclineCode + ")"
	}
	if stripeRetryable(status, shouldRetry, e.Error.Type, code) {
		return fmt.Errorf("stripe %s %s: %d %s: %s: %w", method, path, status, code, msg, errTransient)
	}
	return activities.Rejected("stripe_"+code, "%s", msg)
}

func stripeRetryable(status int, shouldRetry, typ, code string) bool {
	switch shouldRetry {
	case "true":
		return true
	case "false":
		return false
	}
	switch {
	case status == http.StatusConflict && code == "idempotency_key_in_use":
		return true // another request with this key is in progress
	case code == "lock_timeout", code == "rate_limit", status == http.StatusTooManyRequests:
		return true
	case typ == "api_error", status >= 500, status == http.StatusRequestTimeout:
		return true
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		// A rotated or under-privileged key is for ops to fix, not a
		// refusal of this movement: retried until it works.
		return true
	}
	return false
}

var _ activities.Payments = (*Stripe)(nil)

// IsStripeRefusal reports a Stripe answer that retrying cannot change.
func IsStripeRefusal(err error) bool {
	var rej *activities.RejectedError
	return errors.As(err, &rej) && strings.HasPrefix(rej.Code, "stripe_")
}
