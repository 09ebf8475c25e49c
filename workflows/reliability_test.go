package workflows_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/workflows"
)

// The races and edge cases of the reliability promise (docs/reliability.md):
// partner outages, crashes and bad input change nothing that matters.

// TestRefundWhoseAnswerWasLostIsPaidOnce: the payment service pays the
// refund but its answer is lost (a timeout after the work was done), three
// times over. The retries carry the same idempotency key, so they find the
// first payment and the customer is paid once.
func TestRefundWhoseAnswerWasLostIsPaidOnce(t *testing.T) {
	h := newHarness(t)
	h.pay.LoseReplies("payments.refund", 3)
	h.shipAndInspect(allPass)
	r := h.run(request())
	require.Equal(t, domain.StatusCompleted, r.Status)
	require.Equal(t, 4, h.pay.Calls("payments.refund"), "three lost answers, then the retry that got one")
	require.Equal(t, []int64{19900}, h.ledger(activities.PayRefund), "paid once")
	require.Equal(t, int64(19900), r.RefundTotal.Amount)
}

// TestMoneyRetriedPastKeyRetentionIsReconciled: the refund is paid but every
// answer is lost, so the step's retries run out and support is asked. Support
// retries a day and a half later, when the provider no longer remembers the
// idempotency key (Stripe keeps keys 24 h): sending the refund again would
// pay twice. The retry looks the payment up by its key first and finds it.
func TestMoneyRetriedPastKeyRetentionIsReconciled(t *testing.T) {
	h := newHarness(t)
	h.pay.LoseReplies("payments.refund", 1000)
	h.shipAndInspect(allPass)
	h.at(24*time.Hour, func() {
		s := h.status()
		require.Equal(t, domain.StatusNeedsAttention, s.Status)
		require.Equal(t, "refund-L1", s.Attention.Step)
		require.Equal(t, []int64{19900}, h.ledger(activities.PayRefund), "the first attempt went through")
	})
	h.at(58*time.Hour, func() {
		h.pay.Clear()
		h.pay.ForgetKeys() // 36 h after the first attempt
		h.mustUpdate(workflows.UpdateResolveAttention, workflows.ResolveAttentionInput{Actor: "support:amy", Action: workflows.AttentionRetry})
	})
	r := h.run(request())
	require.Equal(t, domain.StatusCompleted, r.Status)
	require.Equal(t, []int64{19900}, h.ledger(activities.PayRefund), "found by key, not paid again")
	require.Equal(t, 1, h.pay.Calls("payments.find"), "looked up once")
	require.Equal(t, int64(19900), r.RefundTotal.Amount)
}

// TestMoneyRetriedWithinKeyRetentionRelies on the key: a retry support
// starts within the provider's retention sends the movement again under the
// same key, and the provider answers with the first result.
func TestMoneyRetriedWithinKeyRetentionReliesOnTheKey(t *testing.T) {
	h := newHarness(t)
	h.pay.LoseReplies("payments.refund", 1000)
	h.shipAndInspect(allPass)
	h.at(24*time.Hour, func() {
		h.pay.Clear()
		h.mustUpdate(workflows.UpdateResolveAttention, workflows.ResolveAttentionInput{Actor: "support:amy", Action: workflows.AttentionRetry})
	})
	r := h.run(request())
	require.Equal(t, domain.StatusCompleted, r.Status)
	require.Equal(t, []int64{19900}, h.ledger(activities.PayRefund))
	require.Zero(t, h.pay.Calls("payments.find"), "no lookup inside the retention")
}

// TestDeliveredCountsPastTheEventCap: a parcel that sends more exception
// scans than the per-return cap still moves when it is delivered; the
// excess is noted once on the timeline.
func TestDeliveredCountsPastTheEventCap(t *testing.T) {
	h := newHarness(t)
	h.at(time.Minute, func() {
		h.mustUpdate(workflows.UpdateShippingChoice, workflows.ShippingChoiceInput{Method: domain.ShippingDropoff})
	})
	h.at(2*time.Hour, func() { h.carrierEvent(domain.CarrierInTransit, "") })
	for i := 0; i < domain.MaxCarrierEvents+20; i++ {
		h.at(3*time.Hour+time.Duration(i)*time.Second, func() { h.carrierEvent(domain.CarrierException, "sorting delay") })
	}
	h.at(5*time.Hour, func() { h.carrierEvent(domain.CarrierDelivered, "") })
	h.at(6*time.Hour, func() {
		s := h.status()
		require.Equal(t, domain.WaitingWarehouse, *s.WaitingOn, "delivered counts past the cap")
		h.mustUpdate(workflows.UpdateInspection, inspection(allPass))
	})
	r := h.run(request())
	require.Equal(t, domain.StatusCompleted, r.Status)
	capped := 0
	for _, e := range r.Timeline {
		if e.Type == "carrier_events_capped" {
			capped++
		}
	}
	require.Equal(t, 1, capped)
}

// TestDeliveredBeforePickedUp: the carrier's webhooks arrive out of order,
// delivered first. The return moves to the warehouse at once, and the late
// pickup scan does not move it back.
func TestDeliveredBeforePickedUp(t *testing.T) {
	h := newHarness(t)
	h.at(time.Minute, func() {
		h.mustUpdate(workflows.UpdateShippingChoice, workflows.ShippingChoiceInput{Method: domain.ShippingPickup})
	})
	h.at(2*time.Hour, func() { h.carrierEvent(domain.CarrierDelivered, "") })
	h.at(3*time.Hour, func() { h.carrierEvent(domain.CarrierInTransit, "") })
	h.at(4*time.Hour, func() { h.carrierEvent(domain.CarrierPickedUp, "") })
	h.at(5*time.Hour, func() {
		s := h.status()
		require.Equal(t, domain.WaitingWarehouse, *s.WaitingOn, "late scans do not move the parcel back")
		h.mustUpdate(workflows.UpdateInspection, inspection(allPass))
	})
	r := h.run(request())
	require.Equal(t, domain.StatusCompleted, r.Status)
	require.Equal(t, []int64{19900}, h.ledger(activities.PayRefund))
}
