package chaos

import (
	"testing"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/domain"
)

func cny(a int64) domain.Money { return domain.Money{Amount: a, Currency: "CNY"} }

// The audit must catch what it promises to catch: these crafted ledgers,
// parcels and reservations each break one promise.
func TestAuditCatchesBrokenPromises(t *testing.T) {
	refund := activities.PaymentRequest{Key: "R1/L1/refund", Kind: activities.PayRefund, RMAID: "R1", LineID: "L1", Amount: cny(19900)}
	views := map[string]domain.Return{
		"R1": {ID: "R1", Status: domain.StatusCompleted, Payments: []domain.PaymentRecord{{Key: "R1/L1/refund", Kind: "refund", LineID: "L1", Amount: cny(19900)}},
			Lines: []domain.LineState{{Line: domain.Line{LineID: "L1"}, Inspection: &domain.Inspection{Result: domain.InspectionPass}}}},
		"R2": {ID: "R2", Status: domain.StatusCancelled, Lines: []domain.LineState{{Line: domain.Line{LineID: "L1"}}}},
		"R3": {ID: "R3", Status: domain.StatusNeedsAttention},
	}
	if d, p := checkMoney([]activities.PaymentRequest{refund}, views); d != 0 || len(p) != 0 {
		t.Fatalf("a clean ledger: %d %v", d, p)
	}
	again := refund
	again.Key = "R1/L1/refund/run-2" // paid twice under another key
	if d, _ := checkMoney([]activities.PaymentRequest{refund, again}, views); d != 1 {
		t.Fatalf("a second refund under another key: %d duplicates, want 1", d)
	}
	if d, _ := checkMoney([]activities.PaymentRequest{refund, refund}, views); d != 1 {
		t.Fatalf("a key in the ledger twice: %d duplicates, want 1", d)
	}
	if _, p := checkMoney(nil, views); len(p) != 1 {
		t.Fatalf("a payment the ledger lacks: %v", p)
	}

	ship := func(rma string) activities.ShipRequest {
		return activities.ShipRequest{RMAID: rma, LineID: "L1", Purpose: activities.ShipReplacement}
	}
	if p := checkGoods([]activities.ShipRequest{ship("R1"), ship("R3")}, nil, views); len(p) != 0 {
		t.Fatalf("paid for by the returned item, or pending with support: %v", p)
	}
	if p := checkGoods([]activities.ShipRequest{ship("R2")}, nil, views); len(p) != 1 {
		t.Fatalf("a replacement given away: %v", p)
	}
	capture := activities.PaymentRequest{Key: "R2/L1/advance-capture", Kind: activities.PayCapture, RMAID: "R2", LineID: "L1"}
	if p := checkGoods([]activities.ShipRequest{ship("R2")}, []activities.PaymentRequest{capture}, views); len(p) != 0 {
		t.Fatalf("its hold captured: %v", p)
	}

	if n, p := checkReservations(map[string]int{"R2/L1": 1, "R3/L1": 1}, views, nil); n != 1 || len(p) != 1 {
		t.Fatalf("a cancelled return still reserving: %d %v", n, p)
	}
}
