package memport

import (
	"context"
	"testing"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/domain"
)

// Releasing a backorder gives nothing back to the shelf: it took nothing
// from it. (It used to add the backordered units to the stock.)
func TestReleasingABackorderLeavesTheStock(t *testing.T) {
	inv := NewInventory()
	inv.SetStock("SKU-X", 0, domain.Money{Amount: 100, Currency: "CNY"})
	ctx := context.Background()
	res, err := inv.Reserve(ctx, activities.ReserveRequest{Key: "R/L1/reserve", RMAID: "R", LineID: "L1", SKU: "SKU-X", Quantity: 2, Backorder: true})
	if err != nil || !res.Backordered {
		t.Fatalf("backorder: %+v %v", res, err)
	}
	if err := inv.Release(ctx, activities.StockRequest{Key: "R/L1/release", RMAID: "R", LineID: "L1", SKU: "SKU-X", Quantity: 2}); err != nil {
		t.Fatal(err)
	}
	if n := inv.Stock["SKU-X"]; n != 0 {
		t.Fatalf("stock after releasing a backorder: %d, want 0", n)
	}
	// A real reservation still gives its units back.
	inv.SetStock("SKU-X", 3, domain.Money{Amount: 100, Currency: "CNY"})
	if _, err := inv.Reserve(ctx, activities.ReserveRequest{Key: "R/L2/reserve", RMAID: "R", LineID: "L2", SKU: "SKU-X", Quantity: 2}); err != nil {
		t.Fatal(err)
	}
	if err := inv.Release(ctx, activities.StockRequest{Key: "R/L2/release", RMAID: "R", LineID: "L2", SKU: "SKU-X", Quantity: 2}); err != nil {
		t.Fatal(err)
	}
	if n := inv.Stock["SKU-X"]; n != 3 {
		t.Fatalf("stock after releasing a reservation: %d, want 3", n)
	}
}
