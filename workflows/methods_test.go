package workflows_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/workflows"
)

func withMethods(methods ...string) domain.Policy {
	p := domain.Defaults()
	p.Refund.Methods = methods
	return p
}

// A bank transfer chosen at creation, or an e-wallet chosen later, is its
// own money movement: its own key, the method and the account on the
// payment; the view shows the account masked. A method the policy does not
// offer, or a change after money went back, is refused.
func TestRefundMethods(t *testing.T) {
	t.Run("bank transfer from the request", func(t *testing.T) {
		h := newHarness(t)
		h.policy = withMethods("original", "bank_transfer")
		h.shipAndInspect(allPass)
		req := request()
		req.RefundMethod, req.RefundAccount = "bank_transfer", "6222020200112233"
		r := h.run(req)
		require.Equal(t, domain.StatusCompleted, r.Status)
		pays := h.pay.Entries(activities.PayRefund)
		require.Len(t, pays, 1)
		require.Equal(t, "RMA-T1/L1/refund-bank_transfer", pays[0].Key)
		require.Equal(t, "bank_transfer", pays[0].Method)
		require.Equal(t, "6222020200112233", pays[0].Account)
		require.Equal(t, "bank_transfer", r.Lines[0].RefundVia)
		require.Equal(t, "************2233", r.RefundAccount)
	})
	t.Run("e-wallet chosen when asked", func(t *testing.T) {
		h := newHarness(t)
		h.policy = withMethods("original", "e_wallet", "store_credit")
		h.history = domain.CustomerHistory{Returns: 9} // abuse: a human decides
		var notOffered *updResult
		h.at(time.Hour, func() {
			notOffered = h.update(workflows.UpdateRefundMethod, workflows.RefundMethodInput{Method: "bank_transfer", Account: "1234"})
			h.mustUpdate(workflows.UpdateRefundMethod, workflows.RefundMethodInput{Actor: "C-1", Method: "e_wallet", Account: "alipay:c1@example.com"})
		})
		h.manualWithApproval()
		h.at(21*time.Hour, func() { h.mustUpdate(workflows.UpdateReceive, workflows.ReceiveInput{Actor: "warehouse:w1"}) })
		r := h.run(request(line("L1", "SKU-RED-M", 19900, domain.ReasonDefective, domain.ResolutionRefund)))
		refusedAs(t, notOffered, workflows.ErrInvalidInput, "bank_transfer is not offered; the policy offers original, e_wallet, store_credit")
		pays := h.pay.Entries(activities.PayRefund)
		require.Len(t, pays, 1)
		require.Equal(t, "RMA-T1/L1/refund-e_wallet", pays[0].Key)
		require.Equal(t, "alipay:c1@example.com", pays[0].Account)
		require.Equal(t, "e_wallet", r.RefundMethod)
		require.Contains(t, timelineTypes(r), "refund_method_chosen")
	})
	t.Run("refused once refunded", func(t *testing.T) {
		// A VIP is refunded at the first scan; the parcel is still on
		// its way when the customer asks for another method.
		h := newHarness(t)
		h.policy = withMethods("original", "e_wallet")
		var afterRefund *updResult
		h.at(time.Minute, func() {
			h.mustUpdate(workflows.UpdateShippingChoice, workflows.ShippingChoiceInput{Method: domain.ShippingPickup})
		})
		h.at(2*time.Hour, func() { h.carrierEvent(domain.CarrierPickedUp, "") })
		h.at(3*time.Hour, func() {
			afterRefund = h.update(workflows.UpdateRefundMethod, workflows.RefundMethodInput{Method: "e_wallet", Account: "wx:1"})
		})
		h.at(20*time.Hour, func() { h.carrierEvent(domain.CarrierDelivered, "") })
		h.at(22*time.Hour, func() { h.mustUpdate(workflows.UpdateInspection, inspection(allPass)) })
		h.run(vip(manual()))
		refusedAs(t, afterRefund, workflows.ErrInvalidTransition, "line L1 is already refunded")
		require.Equal(t, "RMA-T1/L1/refund", h.pay.Entries(activities.PayRefund)[0].Key)
	})
}

// The policy refuses, at creation, a method it does not offer.
func TestCheckRefundMethodAtCreation(t *testing.T) {
	req := request()
	req.RefundMethod, req.RefundAccount = "e_wallet", "wx:1"
	require.Error(t, withMethods("original").CheckRefundMethod(req))
	require.NoError(t, withMethods("original", "e_wallet").CheckRefundMethod(req))
	req.RefundMethod, req.RefundAccount = "", ""
	require.NoError(t, withMethods("original").CheckRefundMethod(req))
}

// A return declined after support missed the decision SLA is compensated
// all the same: a coupon and loyalty points, each its own movement, and the
// customer is told. A return started before this behaviour is not.
func TestCompensationOnAReturnDeclinedAfterABreach(t *testing.T) {
	for _, features := range []int{workflows.FeaturesCurrent, 0} {
		h := newHarness(t)
		h.features = features
		h.at(50*time.Hour, func() { h.mustUpdate(workflows.UpdateDecline, workflows.DeclineInput{Actor: "amy", Reason: "worn"}) })
		r := h.run(manual())
		require.Equal(t, domain.StatusDeclined, r.Status)
		require.Contains(t, r.SLABreaches, "review_decision")
		if features == 0 {
			require.Empty(t, h.pay.Ledger, "a return started before compensating ended returns")
			continue
		}
		require.Equal(t, []int64{500}, h.ledger(activities.PayCoupon))
		require.Equal(t, []int64{200}, h.ledger(activities.PayPoints))
		require.Equal(t, "RMA-T1/sla-compensation-points", h.pay.Entries(activities.PayPoints)[0].Key)
		require.Equal(t, int64(200), r.CompensationPoints)
		require.Contains(t, h.notes.Templates(activities.ToCustomer), "compensation_points_granted")
	}
}
