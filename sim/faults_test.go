package sim

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.uber.org/zap"
)

// Faults set for one operation hit that operation only.
func TestFaultsPerOperation(t *testing.T) {
	post := func(h http.Handler, path, body string) int {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("POST", path, bytes.NewReader([]byte(body))))
		return w.Code
	}
	fail := map[string]FaultConfig{}
	for _, op := range []string{"refund", "release", "void"} {
		fail[op] = FaultConfig{FailRate: 1}
	}
	pay := NewPayments()
	pay.Set(FaultConfig{Endpoints: fail})
	ph := pay.Handler(zap.NewNop())
	payment := func(kind string) string {
		return `{"key":"R1/L1/` + kind + `","kind":"` + kind + `","rma_id":"R1","line_id":"L1","customer_id":"C1","amount":{"amount":100,"currency":"CNY"}}`
	}
	if c := post(ph, "/v1/payments", payment("refund")); c != http.StatusServiceUnavailable {
		t.Fatalf("refund: %d, want the injected 503", c)
	}
	if c := post(ph, "/v1/payments", payment("store_credit")); c != http.StatusOK {
		t.Fatalf("store credit: %d, want 200", c)
	}
	inv := NewInventory()
	inv.Set(FaultConfig{Endpoints: fail})
	ih := inv.Handler(zap.NewNop())
	stock := `{"key":"R1/L1/x","rma_id":"R1","line_id":"L1","sku":"SKU-MUG","quantity":1}`
	if c := post(ih, "/v1/reservations/release", stock); c != http.StatusServiceUnavailable {
		t.Fatalf("release: %d, want the injected 503", c)
	}
	if c := post(ih, "/v1/reservations/commit", stock); c != http.StatusOK {
		t.Fatalf("commit: %d, want 200", c)
	}
	car := NewCarrier("http://127.0.0.1:1/none", []byte("s"), false, 0, zap.NewNop())
	car.Set(FaultConfig{Endpoints: fail})
	ch := car.Handler()
	if c := post(ch, "/v1/labels/RT1/void", `{"key":"R1/void","rma_id":"R1","tracking_number":"RT1"}`); c != http.StatusServiceUnavailable {
		t.Fatalf("void: %d, want the injected 503", c)
	}
	if c := post(ch, "/v1/claims", `{"key":"R1/claim","rma_id":"R1","tracking_number":"RT1","detail":"x","evidence":[],"declared_value":{"amount":1,"currency":"CNY"}}`); c != http.StatusCreated {
		t.Fatalf("claim: %d, want 201", c)
	}
	lost := NewPayments()
	lost.Set(FaultConfig{Endpoints: map[string]FaultConfig{"refund": {LostReplyRate: 1}}})
	if c := post(lost.Handler(zap.NewNop()), "/v1/payments", payment("refund")); c != http.StatusInternalServerError || len(lost.Engine.All()) != 1 {
		t.Fatalf("lost reply: %d with %d ledger entries, want 500 after the refund was made", c, len(lost.Engine.All()))
	}
}
