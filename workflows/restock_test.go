package workflows_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/workflows"
)

// outOfStockWait plays a customer who chooses to wait for an exchange SKU
// that is out of stock (ETA in ten days), then ships the old item back and
// passes inspection.
func (h *harness) outOfStockWait() time.Time {
	h.inv.Stock["SKU-RED-L"] = 0
	eta := t0.Add(10 * 24 * time.Hour)
	h.inv.ETA["SKU-RED-L"] = eta
	h.at(time.Hour, func() {
		h.mustUpdate(workflows.UpdateExchangeChoice, workflows.ExchangeChoiceInput{Choice: domain.ChoiceWait})
	})
	h.shipAndInspectFrom(time.Hour, inspection(allPass))
	return eta
}

// Waiting for restock really waits: nothing ships from empty stock; the
// return waits on a durable timer until the ETA plus the grace period;
// the inventory's restock event reserves the stock and the replacement
// ships.
func TestWaitingForRestockWaitsForTheRestockEvent(t *testing.T) {
	h := newHarness(t)
	h.features = workflows.FeaturesCurrent
	eta := h.outOfStockWait()
	h.at(3*24*time.Hour, func() {
		s := h.status()
		require.Equal(t, domain.StatusResolving, s.Status)
		require.Equal(t, "restock", s.Deadline.Kind)
		require.Equal(t, eta.Add(3*24*time.Hour), s.Deadline.At)
		require.Equal(t, []string{"SKU-RED-L"}, s.AwaitingRestock)
		require.Empty(t, h.carrier.Shipped, "nothing ships from empty stock")
	})
	h.at(5*24*time.Hour, func() {
		h.inv.Stock["SKU-RED-L"] = 4
		h.env.SignalWorkflow(workflows.SignalRestock, workflows.RestockEvent{EventID: "inv-1", SKU: "SKU-RED-L", Available: 4})
	})
	r := h.run(exchangeStandard())
	require.Equal(t, domain.StatusCompleted, r.Status)
	require.Len(t, h.carrier.Shipped, 1)
	require.Equal(t, "SKU-RED-L", h.carrier.Shipped[0].SKU)
	require.Equal(t, 3, h.inv.Stock["SKU-RED-L"], "the restocked unit was reserved and shipped")
	require.Empty(t, r.AwaitingRestock)
	require.Empty(t, h.pay.Ledger)
	require.Contains(t, timelineTypes(r), "restock_event")
}

// Past the ETA and the grace period the policy's default applies: the
// backorder is released (the shelf stays empty), the customer is refunded
// and told.
func TestRestockDeadlineAppliesThePolicyDefault(t *testing.T) {
	h := newHarness(t)
	h.features = workflows.FeaturesCurrent
	h.outOfStockWait()
	r := h.run(exchangeStandard())
	require.Equal(t, domain.StatusCompleted, r.Status)
	require.Empty(t, h.carrier.Shipped)
	require.Equal(t, []int64{19900}, h.ledger(activities.PayRefund))
	require.Equal(t, domain.ResolutionRefund, r.Lines[0].Resolution)
	require.Equal(t, 0, h.inv.Stock["SKU-RED-L"], "releasing the backorder gives nothing to the shelf")
	require.Contains(t, h.notes.Templates(activities.ToCustomer), "restock_expired")
	require.Contains(t, timelineTypes(r), "restock_expired")
}
