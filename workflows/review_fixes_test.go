package workflows_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/workflows"
)

// A goodwill payment that fails waits in needs_attention once; support's
// retry pays it, once, and the return goes on. (The wait used to start the
// same grant again, nesting needs_attention without end.)
func TestAFailedGoodwillPaymentWaitsForSupportOnce(t *testing.T) {
	h := newHarness(t)
	h.pay.Decline = map[string]bool{activities.PayCoupon: true}
	h.at(time.Hour, func() {
		h.mustUpdate(workflows.UpdateGoodwill, workflows.GoodwillInput{Acting: as(domain.RoleSupport), Actor: "amy", Amount: cny(1000), Kind: domain.GrantCoupon, Reason: "sorry"})
	})
	h.at(2*time.Hour, func() {
		s := h.status()
		require.Equal(t, domain.StatusNeedsAttention, s.Status)
		require.Equal(t, "goodwill-1", s.Attention.Step)
		h.pay.Decline = nil
		h.mustUpdate(workflows.UpdateResolveAttention, workflows.ResolveAttentionInput{Actor: "amy", Action: workflows.AttentionRetry})
	})
	h.at(3*time.Hour, func() { h.mustUpdate(workflows.UpdateDecline, workflows.DeclineInput{Actor: "amy", Reason: "worn"}) })
	r := h.run(manual())
	require.Equal(t, domain.StatusDeclined, r.Status)
	require.Equal(t, []int64{1000}, h.ledger(activities.PayCoupon))
	require.True(t, r.Goodwill[0].Issued)
}

// A VIP refunded at the first scan whose item then fails inspection is not
// asked to take it back (that would give away both): support is told, and
// the warehouse's disposition applies.
func TestAFastLaneRefundedLineThatFailsIsSupports(t *testing.T) {
	h := newHarness(t)
	h.features = workflows.FeaturesCurrent
	h.shipAndInspect(allFail)
	r := h.run(vip(request()))
	require.Equal(t, domain.StatusCompleted, r.Status)
	require.Empty(t, h.carrier.Shipped, "nothing goes back to a refunded customer")
	require.Contains(t, h.notes.Templates(activities.ToSupport), "fast_lane_inspection_failed")
	require.NotContains(t, h.notes.Templates(activities.ToCustomer), "inspection_failed_answer")
}

// The failed units of a partial result that go back to the customer are
// only the failed ones.
func TestPartialReturnShipsOnlyTheFailedUnits(t *testing.T) {
	h := newHarness(t)
	h.features = workflows.FeaturesCurrent
	h.shipAndInspectWith(func() workflows.InspectionInput {
		return workflows.InspectionInput{Actor: "warehouse:w1", Items: []workflows.InspectionItem{
			{LineID: "L1", Result: domain.InspectionPartial, PassedUnits: 2, Disposition: domain.DispositionRestock}}}
	})
	h.at(23*time.Hour, func() {
		h.mustUpdate(workflows.UpdateInspectionAnswer, workflows.InspectionAnswerInput{Choice: workflows.AnswerAccept})
	})
	l := line("L1", "SKU-RED-M", 5000, domain.ReasonDefective, domain.ResolutionRefund)
	l.Quantity = 3
	r := h.run(request(l))
	require.Equal(t, domain.StatusCompleted, r.Status)
	require.Len(t, h.carrier.Shipped, 1)
	require.Equal(t, 1, h.carrier.Shipped[0].Quantity, "one unit failed; two were restocked")
}

// Under cn-7day a line that failed inspection owes nothing: waiting for the
// customer's answer past the legal refund deadline breaches nothing.
func TestAFailedLineDoesNotHoldTheLegalDeadline(t *testing.T) {
	h := newHarness(t)
	h.features = workflows.FeaturesCurrent
	h.policy = preset(t, "cn-7day")
	h.shipAndInspectWith(func() workflows.InspectionInput {
		in := inspection(allFail)
		return in
	})
	r := h.run(clothing())
	require.Equal(t, domain.StatusCompleted, r.Status)
	require.NotContains(t, r.SLABreaches, "legal_refund")
	require.NotContains(t, h.notes.Templates(activities.ToSupervisor), "refund_due_escalated")
}
