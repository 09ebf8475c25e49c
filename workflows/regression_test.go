package workflows_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/workflows"
)

// These tests reproduce the races a review found in the first cut of the
// workflow, where update handlers and the main flow wrote the same state.
// Each of them failed on that code.

// A receive that arrives while the VIP fast-lane refund is being paid must
// not leave the return stuck: inspection still has to be possible.
func TestReceiveDuringFastLaneRefundIsApplied(t *testing.T) {
	h := newHarness(t)
	h.at(time.Minute, func() {
		h.mustUpdate(workflows.UpdateShippingChoice, workflows.ShippingChoiceInput{Method: domain.ShippingPickup})
	})
	h.at(2*time.Hour, func() {
		// The PSP is slow: the fast-lane refund retries for a while.
		h.pay.Next("payments.refund", 4)
		h.carrierEvent(domain.CarrierPickedUp, "")
	})
	h.at(2*time.Hour+2*time.Second, func() {
		require.Empty(t, h.ledger(activities.PayRefund), "the refund is still being paid")
		h.mustUpdate(workflows.UpdateReceive, workflows.ReceiveInput{Actor: "warehouse:w1"})
	})
	h.at(3*time.Hour, func() {
		s := h.status()
		require.Equal(t, domain.WaitingWarehouse, *s.WaitingOn, "the receipt was applied after the refund")
		require.NotEqual(t, domain.StatusInTransit, s.Status)
		h.mustUpdate(workflows.UpdateInspection, inspection(allPass))
	})
	r := h.run(vip(manual()))
	require.Equal(t, domain.StatusCompleted, r.Status)
	require.Equal(t, []int64{17700}, h.ledger(activities.PayRefund), "one refund")
}

// A cancel that arrives while the advance-exchange replacement is being
// shipped must not let the customer keep the goods for free.
func TestCancelWhileAdvanceReplacementShipsIsRefused(t *testing.T) {
	h := newHarness(t)
	h.carrier.Next("carrier.ship", 4) // the carrier is slow to take the parcel
	var cancel *updResult
	h.at(2*time.Second, func() {
		require.Empty(t, h.carrier.Shipped, "the replacement is still being shipped")
		cancel = h.update(workflows.UpdateCancel, workflows.CancelInput{Actor: "customer", Reason: "changed my mind"})
	})
	h.at(time.Hour, func() {
		require.Error(t, cancel.rejected, "goods are leaving: the cancel must be refused")
		require.Contains(t, cancel.rejected.Error(), "replacement")
		require.Equal(t, domain.StatusAwaitingShipment, h.status().Status)
	})
	r := h.run(vip(exchangeStandard()))
	// Nobody ships the old item back: the hold is captured at expiry, never voided.
	require.Equal(t, domain.StatusExpired, r.Status)
	require.Empty(t, h.ledger(activities.PayVoidHold), "a hold for shipped goods is never voided")
	require.Equal(t, []int64{19900}, h.ledger(activities.PayCapture))
}

// The fast lane has the same window: a cancel during the refund must be
// refused, or the customer keeps both the money and the goods.
func TestCancelDuringFastLaneRefundIsRefused(t *testing.T) {
	h := newHarness(t)
	h.at(time.Minute, func() {
		h.mustUpdate(workflows.UpdateShippingChoice, workflows.ShippingChoiceInput{Method: domain.ShippingPickup})
	})
	var cancel *updResult
	h.at(2*time.Hour, func() {
		h.pay.Next("payments.refund", 4)
		h.carrierEvent(domain.CarrierPickedUp, "")
	})
	h.at(2*time.Hour+2*time.Second, func() {
		require.Empty(t, h.ledger(activities.PayRefund), "the refund is still being paid")
		cancel = h.update(workflows.UpdateCancel, workflows.CancelInput{Actor: "customer"})
	})
	h.at(3*time.Hour, func() {
		require.Error(t, cancel.rejected, "money is leaving: the cancel must be refused")
		h.carrierEvent(domain.CarrierDelivered, "")
	})
	h.at(4*time.Hour, func() { h.mustUpdate(workflows.UpdateInspection, inspection(allPass)) })
	r := h.run(vip(manual()))
	require.Equal(t, domain.StatusCompleted, r.Status)
	require.Equal(t, []int64{17700}, h.ledger(activities.PayRefund))
}

// Once the carrier has delivered the parcel to the warehouse, the goods are
// ours: cancel is refused.
func TestCancelRefusedAfterDelivery(t *testing.T) {
	h := newHarness(t)
	h.at(time.Minute, func() {
		h.mustUpdate(workflows.UpdateShippingChoice, workflows.ShippingChoiceInput{Method: domain.ShippingPickup})
	})
	h.at(2*time.Hour, func() { h.carrierEvent(domain.CarrierPickedUp, "") })
	h.at(20*time.Hour, func() { h.carrierEvent(domain.CarrierDelivered, "") })
	var cancel *updResult
	h.at(21*time.Hour, func() {
		cancel = h.update(workflows.UpdateCancel, workflows.CancelInput{Actor: "customer"})
	})
	h.at(22*time.Hour, func() {
		require.Error(t, cancel.rejected, "the parcel is at the warehouse")
		require.Contains(t, cancel.rejected.Error(), "delivered")
		h.mustUpdate(workflows.UpdateInspection, inspection(allPass))
	})
	r := h.run(request())
	require.Equal(t, domain.StatusCompleted, r.Status)
	require.Empty(t, h.carrier.Voided)
}

// While a cancel's compensations run, no other command may slip in.
func TestCommandsRefusedWhileCancelling(t *testing.T) {
	h := newHarness(t)
	h.at(time.Minute, func() {
		h.mustUpdate(workflows.UpdateShippingChoice, workflows.ShippingChoiceInput{Method: domain.ShippingPickup})
	})
	var receive *updResult
	h.at(time.Hour, func() {
		h.carrier.Next("carrier.void", 4) // voiding the label takes a while
		h.mustUpdate(workflows.UpdateCancel, workflows.CancelInput{Actor: "customer"})
	})
	h.at(time.Hour+2*time.Second, func() {
		receive = h.update(workflows.UpdateReceive, workflows.ReceiveInput{Actor: "warehouse:w1"})
	})
	r := h.run(request())
	require.Equal(t, domain.StatusCancelled, r.Status)
	require.NotNil(t, receive)
	require.Error(t, receive.rejected, "receive during the undo must be refused")
	require.NotContains(t, timelineTypes(r), "received")
	require.Len(t, h.carrier.Voided, 1)
}

// A delivered scan must not wait behind a carrier claim that is retrying.
func TestDeliveredScanNotBlockedByClaimRetries(t *testing.T) {
	h := newHarness(t)
	h.at(time.Minute, func() {
		h.mustUpdate(workflows.UpdateShippingChoice, workflows.ShippingChoiceInput{Method: domain.ShippingPickup})
	})
	h.at(2*time.Hour, func() { h.carrierEvent(domain.CarrierPickedUp, "") })
	h.at(5*time.Hour, func() {
		h.carrier.Always("carrier.claim") // the claims desk is down
		h.carrierEvent(domain.CarrierException, "box crushed")
	})
	h.at(5*time.Hour+time.Minute, func() { h.carrierEvent(domain.CarrierDelivered, "") })
	h.at(5*time.Hour+2*time.Minute, func() {
		s := h.status()
		require.Equal(t, domain.WaitingWarehouse, *s.WaitingOn, "delivery is applied while the claim retries")
		h.carrier.Clear()
		h.mustUpdate(workflows.UpdateInspection, inspection(allPass))
	})
	r := h.run(request())
	require.Equal(t, domain.StatusCompleted, r.Status)
	require.Len(t, h.carrier.Claims, 1)
	require.NotEmpty(t, r.ClaimID)
}

// When ops cancel the workflow from Temporal, work in flight (here a carrier
// claim) still finishes and is recorded before the run closes.
func TestOpsCancelWaitsForWorkInFlight(t *testing.T) {
	h := newHarness(t)
	h.at(time.Minute, func() {
		h.mustUpdate(workflows.UpdateShippingChoice, workflows.ShippingChoiceInput{Method: domain.ShippingPickup})
	})
	h.at(2*time.Hour, func() { h.carrierEvent(domain.CarrierPickedUp, "") })
	h.at(5*time.Hour, func() {
		h.carrier.Next("carrier.claim", 3)
		h.carrierEvent(domain.CarrierException, "box crushed")
	})
	h.at(5*time.Hour+time.Second, func() { h.env.CancelWorkflow() })
	h.start(request())
	require.True(t, h.env.IsWorkflowCompleted())
	require.Len(t, h.carrier.Claims, 1, "the claim was opened at the carrier")
	last := h.projected()
	require.Equal(t, domain.StatusCancelled, last.Status)
	require.NotEmpty(t, last.ClaimID, "and recorded before the run closed")
}

// Findings of a review of the second cut.

// An operator cancelling the workflow while a customer's cancel is being
// undone must not cut the undo short.
func TestOpsCancelDuringAnUndoFinishesTheUndo(t *testing.T) {
	h := newHarness(t)
	h.at(time.Minute, func() {
		h.mustUpdate(workflows.UpdateShippingChoice, workflows.ShippingChoiceInput{Method: domain.ShippingPickup})
	})
	h.at(time.Hour, func() {
		h.carrier.Next("carrier.void", 3) // the void takes a few retries
		h.mustUpdate(workflows.UpdateCancel, workflows.CancelInput{Actor: "customer"})
	})
	h.at(time.Hour+2*time.Second, func() { h.env.CancelWorkflow() })
	h.start(exchangeStandard())
	require.True(t, h.env.IsWorkflowCompleted())
	last := h.projected()
	require.Equal(t, domain.StatusCancelled, last.Status)
	require.Len(t, h.carrier.Voided, 1, "label voided")
	require.Equal(t, []string{"RMA-T1/L1"}, h.inv.Released, "reservation released")
	require.NotContains(t, timelineTypes(last), "failed")
}

// Cancelled from Temporal after the replacement has shipped: undoing would
// give the goods away, so nothing is undone and support gets a task.
func TestOpsCancelAfterGoodsLeftUndoesNothing(t *testing.T) {
	h := newHarness(t)
	h.at(time.Hour, func() {
		require.True(t, h.status().Lines[0].Replacement.Shipped)
		h.env.CancelWorkflow()
	})
	h.start(vip(exchangeRequestAuto("SKU-RED-XL")))
	last := h.projected()
	require.Equal(t, domain.StatusCancelled, last.Status)
	require.NotNil(t, last.Attention, "a task for support")
	require.Equal(t, "operator-cancel", last.Attention.Step)
	require.Empty(t, h.ledger(activities.PayVoidHold), "the hold on goods that left is not voided")
	require.Empty(t, h.ledger(activities.PayRefund), "the upgrade charge is not refunded")
	require.Contains(t, h.notes.Templates(activities.ToSupport), "operator_cancelled")
}

// A refund that failed may have been paid: while support looks at it, a
// cancel is refused.
func TestCancelRefusedWhileAMoneyStepWaitsForSupport(t *testing.T) {
	h := newHarness(t)
	h.at(time.Minute, func() {
		h.mustUpdate(workflows.UpdateShippingChoice, workflows.ShippingChoiceInput{Method: domain.ShippingPickup})
	})
	h.at(2*time.Hour, func() {
		h.pay.Always("payments.refund")
		h.carrierEvent(domain.CarrierPickedUp, "") // the VIP refund at the first scan fails
	})
	var cancel *updResult
	h.at(3*time.Hour, func() {
		require.Equal(t, domain.StatusNeedsAttention, h.status().Status)
		cancel = h.update(workflows.UpdateCancel, workflows.CancelInput{Actor: "customer"})
	})
	h.at(4*time.Hour, func() {
		require.Error(t, cancel.rejected)
		h.pay.Clear()
		h.mustUpdate(workflows.UpdateResolveAttention, workflows.ResolveAttentionInput{Actor: "support:amy", Action: workflows.AttentionRetry})
	})
	h.at(5*time.Hour, func() { h.carrierEvent(domain.CarrierDelivered, "") })
	h.at(6*time.Hour, func() { h.mustUpdate(workflows.UpdateInspection, inspection(allPass)) })
	r := h.run(vip(manual()))
	require.Equal(t, domain.StatusCompleted, r.Status)
	require.Equal(t, []int64{17700}, h.ledger(activities.PayRefund))
}

// An advance exchange to a dearer variant whose return then fails
// inspection: the hold is captured (the customer keeps the replacement and
// pays for it) and the upgrade charge goes back, once.
func TestFailedAdvanceExchangeChargesTheReplacementOnce(t *testing.T) {
	h := newHarness(t)
	h.shipAndInspect(map[string]domain.InspectionResult{"L1": domain.InspectionFail})
	r := h.run(vip(exchangeRequestAuto("SKU-RED-XL")))
	require.Equal(t, domain.StatusCompleted, r.Status)
	require.Equal(t, []int64{2000}, h.ledger(activities.PayCharge))
	require.Equal(t, []int64{21900}, h.ledger(activities.PayCapture))
	require.Equal(t, []int64{2000}, h.ledger(activities.PayRefund), "the upgrade charge is refunded")
}

// A claim the carrier never accepts becomes a support task; the return goes on.
func TestClaimThatCannotBeFiledBecomesATask(t *testing.T) {
	h := newHarness(t)
	h.carrier.Rejected = map[string]bool{}
	h.at(time.Minute, func() {
		h.mustUpdate(workflows.UpdateShippingChoice, workflows.ShippingChoiceInput{Method: domain.ShippingPickup})
	})
	h.at(2*time.Hour, func() {
		h.carrier.Always("carrier.claim")
		h.carrierEvent(domain.CarrierException, "box crushed")
	})
	h.at(30*time.Hour, func() {
		s := h.status()
		require.NotEmpty(t, s.ClaimError, "the claim gave up after a day")
		require.Contains(t, h.notes.Templates(activities.ToSupport), "carrier_claim_failed")
		h.carrierEvent(domain.CarrierDelivered, "")
	})
	h.at(31*time.Hour, func() { h.mustUpdate(workflows.UpdateInspection, inspection(allPass)) })
	r := h.run(request())
	require.Equal(t, domain.StatusCompleted, r.Status)
	require.NotEmpty(t, r.ClaimError)
}
