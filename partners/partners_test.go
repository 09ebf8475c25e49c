package partners_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.uber.org/zap"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/partners"
	"github.com/rma-dev/rma/sim"
	"github.com/rma-dev/rma/webhook"
)

func cny(a int64) domain.Money { return domain.Money{Amount: a, Currency: "CNY"} }

func cred(t *testing.T, spec string) webhook.Credential {
	t.Helper()
	c, err := webhook.ParseCredential("test", spec)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Every simulator demands the credential it is configured with, as the
// real partner would; a call without it, or with another, is refused (a
// 401 is a refusal: retrying cannot fix it, support must).
func TestPartnersAuthenticate(t *testing.T) {
	for _, spec := range []string{"hmac:0c8f4e2a91d7b3c5e6f1", "bearer:5e6f10c8f4e2a91d7b3c"} {
		s := sim.NewPayments()
		s.Auth = cred(t, spec)
		srv := httptest.NewServer(s.Handler(zap.NewNop()))
		refund := activities.PaymentRequest{Key: "RMA-1/L1/refund", Kind: activities.PayRefund, RMAID: "RMA-1", LineID: "L1", Amount: cny(100)}
		var rej *activities.RejectedError
		for name, c := range map[string]webhook.Credential{"none": {}, "other": cred(t, spec[:len(spec)-1]+"0")} {
			if _, err := partners.NewPayments(srv.URL, c).Execute(context.Background(), refund); !errors.As(err, &rej) || rej.Code != "unauthorized" {
				t.Errorf("%s: %s credentials: %v", spec, name, err)
			}
			if _, _, err := partners.NewPayments(srv.URL, c).Find(context.Background(), refund); !errors.As(err, &rej) {
				t.Errorf("%s: %s credentials read the ledger: %v", spec, name, err)
			}
		}
		if len(s.Engine.All()) != 0 {
			t.Errorf("%s: an unauthenticated refund was paid", spec)
		}
		p := partners.NewPayments(srv.URL, s.Auth)
		if _, err := p.Execute(context.Background(), refund); err != nil {
			t.Errorf("%s: %v", spec, err)
		}
		if _, found, err := p.Find(context.Background(), refund); err != nil || !found {
			t.Errorf("%s: find: %v %v", spec, found, err)
		}
		srv.Close()
	}
}

// The adapters against the simulators: the error contract decides what the
// workflow retries.
func TestPaymentsContract(t *testing.T) {
	s := sim.NewPayments()
	s.Auth = cred(t, "hmac:0c8f4e2a91d7b3c5e6f1")
	srv := httptest.NewServer(s.Handler(zap.NewNop()))
	defer srv.Close()
	p := partners.NewPayments(srv.URL, s.Auth)
	ctx := context.Background()
	refund := activities.PaymentRequest{Key: "RMA-1/L1/refund", Kind: activities.PayRefund, RMAID: "RMA-1", LineID: "L1", CustomerID: "C-1", Amount: cny(19900)}

	first, err := p.Execute(ctx, refund)
	if err != nil {
		t.Fatal(err)
	}
	again, err := p.Execute(ctx, refund)
	if err != nil || again.ID != first.ID {
		t.Fatalf("a retry must return the first result: %v %v %v", first, again, err)
	}
	changed := refund
	changed.Amount = cny(100)
	var rej *activities.RejectedError
	if _, err := p.Execute(ctx, changed); !errors.As(err, &rej) || rej.Code != "idempotency_conflict" {
		t.Fatalf("same key, other body: %v", err)
	}
	if n := len(s.Engine.All()); n != 1 {
		t.Fatalf("ledger has %d entries, want 1", n)
	}

	s.Engine.Decline = map[string]bool{activities.PayCharge: true}
	charge := activities.PaymentRequest{Key: "RMA-1/L1/price-difference", Kind: activities.PayCharge, RMAID: "RMA-1", Amount: cny(2000)}
	if _, err := p.Execute(ctx, charge); !errors.As(err, &rej) || rej.Code != "card_declined" {
		t.Fatalf("decline must be a business refusal: %v", err)
	}

	s.Set(sim.FaultConfig{FailRate: 1})
	refund.Key = "RMA-2/L1/refund"
	if _, err := p.Execute(ctx, refund); err == nil || errors.As(err, &rej) {
		t.Fatalf("an injected 503 must be transient (retryable), got %v", err)
	}
}

func TestCarrierAndInventoryContracts(t *testing.T) {
	var hooks int
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hooks++
		w.WriteHeader(http.StatusAccepted)
	}))
	defer hook.Close()
	cs := sim.NewCarrier(hook.URL, []byte("s"), false, 0, zap.NewNop())
	csrv := httptest.NewServer(cs.Handler())
	defer csrv.Close()
	c := partners.NewCarrier(csrv.URL, webhook.Credential{})
	ctx := context.Background()
	l, err := c.CreateLabel(ctx, activities.LabelRequest{Key: "RMA-1/return-label", RMAID: "RMA-1", Method: domain.ShippingPickup})
	if err != nil || l.TrackingNumber == "" {
		t.Fatalf("label: %v %v", l, err)
	}
	if err := c.VoidLabel(ctx, activities.VoidLabelRequest{Key: "RMA-1/return-label/void", RMAID: "RMA-1", TrackingNumber: l.TrackingNumber}); err != nil {
		t.Fatal(err)
	}
	if snap := cs.Engine.Snapshot(); len(snap.Voided) != 1 {
		t.Fatalf("voided: %v", snap.Voided)
	}
	resp, err := http.Post(csrv.URL+"/v1/parcels/"+l.TrackingNumber+"/events", "application/json", bytes.NewBufferString(`{"type":"picked_up"}`))
	if err != nil || resp.StatusCode != 200 || hooks != 1 {
		t.Fatalf("manual scan: %v %v hooks=%d", err, resp.StatusCode, hooks)
	}

	is := sim.NewInventory()
	isrv := httptest.NewServer(is.Handler(zap.NewNop()))
	defer isrv.Close()
	inv := partners.NewInventory(isrv.URL, webhook.Credential{})
	res, err := inv.Reserve(ctx, activities.ReserveRequest{Key: "RMA-1/L1/reserve", RMAID: "RMA-1", LineID: "L1", SKU: "SKU-RED-XXL", Quantity: 1})
	if err != nil || res.Reserved || res.RestockETA == nil || len(res.Alternatives) == 0 {
		t.Fatalf("out of stock must be an answer with options, not an error: %+v %v", res, err)
	}
	var rej *activities.RejectedError
	if _, err := inv.Reserve(ctx, activities.ReserveRequest{Key: "RMA-1/L1/reserve-x", SKU: "NOPE", Quantity: 1}); !errors.As(err, &rej) || rej.Code != "unknown_sku" {
		t.Fatalf("unknown SKU: %v", err)
	}
}

// A 409 that means "the same key is still being processed" (Stripe's
// idempotency_key_in_use) is transient: the activity must retry it, not hand
// the return to support as a refusal. A 409 for a key reused with another body
// stays a refusal.
func TestConflictInProgressIsRetryable(t *testing.T) {
	code := "request_in_progress"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusConflict)
		_, _ = w.Write([]byte(`{"error":{"code":"` + code + `","message":"a request with this key is in progress"}}`))
	}))
	defer srv.Close()
	p := partners.NewPayments(srv.URL, webhook.Credential{})
	req := activities.PaymentRequest{Key: "RMA-1/L1/refund", Kind: activities.PayRefund, Amount: cny(100)}
	var rej *activities.RejectedError
	for _, c := range []string{"request_in_progress", "idempotency_key_in_use"} {
		code = c
		if _, err := p.Execute(context.Background(), req); err == nil || errors.As(err, &rej) {
			t.Fatalf("%s must be retryable, got %v", c, err)
		}
	}
	code = "idempotency_conflict"
	if _, err := p.Execute(context.Background(), req); !errors.As(err, &rej) {
		t.Fatalf("idempotency_conflict must stay a refusal, got %v", err)
	}
}
