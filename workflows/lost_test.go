package workflows_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/workflows"
)

// A parcel picked up and never delivered is settled at the transit
// deadline: a carrier claim is opened with the tracking record, the
// customer is refunded and told, and the claim is followed until the
// carrier answers.
func TestLostParcelIsSettled(t *testing.T) {
	h := newHarness(t)
	h.features = workflows.FeaturesCurrent
	h.at(time.Minute, func() {
		h.mustUpdate(workflows.UpdateShippingChoice, workflows.ShippingChoiceInput{Method: domain.ShippingPickup})
	})
	var tracking string
	h.at(2*time.Hour, func() { tracking = h.status().TrackingNumber; h.carrierEvent(domain.CarrierPickedUp, "") })
	lost := 2*time.Hour + 10*24*time.Hour
	h.at(lost+time.Hour, func() {
		s := h.status()
		require.True(t, s.Lost)
		require.Equal(t, domain.StatusResolving, s.Status)
		require.Equal(t, "claim", s.Deadline.Kind)
		require.Equal(t, []int64{19900}, h.ledger(activities.PayRefund), "the customer is refunded without waiting for the carrier")
		require.Len(t, h.carrier.Claims, 1)
		require.Contains(t, h.carrier.Claims[0].Detail, "lost in transit")
		h.scan(tracking, domain.CarrierClaimSettled, "approved: 199.00 CNY")
	})
	r := h.run(request())
	require.Equal(t, domain.StatusCompleted, r.Status)
	require.Equal(t, "approved: 199.00 CNY", r.ClaimResult)
	require.Contains(t, r.SLABreaches, "transit")
	require.Contains(t, h.notes.Templates(activities.ToCustomer), "parcel_lost")
	require.Nil(t, r.Lines[0].Inspection, "nothing arrived to inspect")
	require.Equal(t, []int64{19900}, h.ledger(activities.PayRefund), "paid once")
}

// A lost exchange ships its replacement; a claim the carrier never answers
// becomes support's task when shipping.claim_within passes.
func TestLostExchangeShipsAndAnUnansweredClaimGoesToSupport(t *testing.T) {
	h := newHarness(t)
	h.features = workflows.FeaturesCurrent
	h.at(time.Minute, func() {
		h.mustUpdate(workflows.UpdateShippingChoice, workflows.ShippingChoiceInput{Method: domain.ShippingPickup})
	})
	h.at(2*time.Hour, func() { h.carrierEvent(domain.CarrierPickedUp, "") })
	r := h.run(exchangeStandard())
	require.Equal(t, domain.StatusCompleted, r.Status)
	require.True(t, r.Lines[0].Replacement.Shipped)
	require.Contains(t, timelineTypes(r), "claim_unanswered")
	require.Contains(t, h.notes.Templates(activities.ToSupport), "claim_unanswered")
}
