package workflows_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/workflows"
)

func refusedAs(t *testing.T, res *updResult, kind, contains string) {
	t.Helper()
	var ae *temporal.ApplicationError
	require.True(t, errors.As(res.rejected, &ae), "%s: want refused, got %+v", res.name, res)
	require.Equal(t, kind, ae.Type(), ae.Error())
	require.Contains(t, ae.Error(), contains)
	require.False(t, res.completed)
}

func as(roles ...string) workflows.Acting { return workflows.Acting{ActorRoles: roles} }

// manualWithApproval plays support approving the manual return, and the
// customer, carrier and warehouse through a passed inspection.
func (h *harness) manualWithApproval() {
	h.at(2*time.Hour, func() { h.mustUpdate(workflows.UpdateApprove, workflows.ApproveInput{Actor: "amy"}) })
	h.at(3*time.Hour, func() {
		h.mustUpdate(workflows.UpdateShippingChoice, workflows.ShippingChoiceInput{Method: domain.ShippingPickup})
	})
	h.at(5*time.Hour, func() { h.carrierEvent(domain.CarrierPickedUp, "") })
	h.at(20*time.Hour, func() { h.carrierEvent(domain.CarrierDelivered, "") })
	h.at(22*time.Hour, func() { h.mustUpdate(workflows.UpdateInspection, inspection(allPass)) })
}

// Support waives a line's fees within the limit: the line pays back its
// whole price, return shipping included, with the override on the audit
// trail. An amount beyond the support limit is refused to support (403,
// nothing in history) and taken from an admin, whose amount is what is paid.
func TestSupportOverridesARefundAndAdminAboveTheLimit(t *testing.T) {
	t.Run("support waives the fees", func(t *testing.T) {
		h := newHarness(t)
		h.at(time.Hour, func() {
			h.mustUpdate(workflows.UpdateOverrideRefund, workflows.OverrideRefundInput{Acting: as(domain.RoleSupport), Actor: "amy", LineID: "L1", WaiveFees: true, Reason: "late delivery on our side"})
		})
		h.manualWithApproval()
		r := h.run(manual())
		require.Equal(t, domain.StatusCompleted, r.Status)
		require.Equal(t, []int64{19900}, h.ledger(activities.PayRefund), "the whole price, no handling or shipping fee")
		require.Equal(t, "RMA-T1/L1/refund", h.pay.Entries(activities.PayRefund)[0].Key, "the override does not change the payment's key")
		require.Equal(t, int64(0), r.FeesTotal.Amount)
		require.NotNil(t, r.Lines[0].Override)
		require.Equal(t, "amy", r.Lines[0].Override.Actor)
		require.Contains(t, timelineTypes(r), "refund_overridden")
		require.Contains(t, detail(r, "refund_overridden"), "refund 199.00 CNY instead of 189.00 CNY: late delivery on our side")
		require.Contains(t, detail(r, "refunded"), "override by amy (policy 177.00 CNY)")
		require.Nil(t, r.CustomerView("C-1").Lines[0].Override, "why support changed it is staff's")
	})
	t.Run("an amount beyond the limit needs admin", func(t *testing.T) {
		h := newHarness(t)
		var bySupport, tooMuch, notALine *updResult
		h.at(time.Hour, func() {
			// 189.00 under the policy (return shipping aside); 120.00
			// moves it 69.00, beyond the 50.00 support limit.
			bySupport = h.update(workflows.UpdateOverrideRefund, workflows.OverrideRefundInput{Acting: as(domain.RoleSupport), Actor: "amy", LineID: "L1", Amount: ptr(cny(12000)), Reason: "partial damage"})
			tooMuch = h.update(workflows.UpdateOverrideRefund, workflows.OverrideRefundInput{Acting: as(domain.RoleAdmin), Actor: "root", LineID: "L1", Amount: ptr(cny(20000)), Reason: "x"})
			notALine = h.update(workflows.UpdateOverrideRefund, workflows.OverrideRefundInput{Acting: as(domain.RoleAdmin), Actor: "root", LineID: "L9", Amount: ptr(cny(100)), Reason: "x"})
		})
		h.at(90*time.Minute, func() {
			h.mustUpdate(workflows.UpdateOverrideRefund, workflows.OverrideRefundInput{Acting: as(domain.RoleAdmin), Actor: "root", LineID: "L1", Amount: ptr(cny(12000)), Reason: "partial damage"})
		})
		h.manualWithApproval()
		r := h.run(manual())
		refusedAs(t, bySupport, workflows.ErrForbidden, "changes line L1's refund by 69.00 CNY, beyond the support limit of 50.00 CNY; the admin role is needed")
		refusedAs(t, tooMuch, workflows.ErrInvalidInput, "more than line L1 was paid")
		refusedAs(t, notALine, workflows.ErrInvalidInput, `has no line "L9"`)
		require.Equal(t, []int64{12000}, h.ledger(activities.PayRefund), "the admin's amount, once")
		require.Equal(t, int64(12000), r.RefundTotal.Amount)
		require.Equal(t, int64(7900), r.FeesTotal.Amount, "the rest of the price counts as fees")
		require.Equal(t, "root", r.Lines[0].Override.Actor)
	})
	t.Run("a refunded line is refused", func(t *testing.T) {
		// A VIP is refunded at the first scan; the parcel is still on
		// its way when support tries to change the paid line.
		h := newHarness(t)
		var afterRefund *updResult
		h.at(time.Minute, func() {
			h.mustUpdate(workflows.UpdateShippingChoice, workflows.ShippingChoiceInput{Method: domain.ShippingPickup})
		})
		h.at(2*time.Hour, func() { h.carrierEvent(domain.CarrierPickedUp, "") })
		h.at(3*time.Hour, func() {
			afterRefund = h.update(workflows.UpdateOverrideRefund, workflows.OverrideRefundInput{Acting: as(domain.RoleSupport), Actor: "amy", LineID: "L1", WaiveFees: true, Reason: "x"})
		})
		h.at(20*time.Hour, func() { h.carrierEvent(domain.CarrierDelivered, "") })
		h.at(22*time.Hour, func() { h.mustUpdate(workflows.UpdateInspection, inspection(allPass)) })
		h.run(vip(manual()))
		refusedAs(t, afterRefund, workflows.ErrInvalidTransition, "line L1 is already refunded 177.00 CNY; grant goodwill instead")
		require.Equal(t, []int64{17700}, h.ledger(activities.PayRefund))
	})
}

// Goodwill is granted on a return under review and paid at once, keyed by
// the RMA and the grant's number; beyond the support limit it needs admin;
// it stays paid when the return is then declined, and the customer is told.
func TestGoodwillIsGrantedOnAnyReturn(t *testing.T) {
	h := newHarness(t)
	var big *updResult
	h.at(time.Hour, func() {
		h.mustUpdate(workflows.UpdateGoodwill, workflows.GoodwillInput{Acting: as(domain.RoleSupport), Actor: "amy", Amount: cny(3000), Kind: domain.GrantCoupon, Reason: "slow answer"})
	})
	h.at(90*time.Minute, func() {
		big = h.update(workflows.UpdateGoodwill, workflows.GoodwillInput{Acting: as(domain.RoleSupport), Actor: "amy", Amount: cny(8000), Reason: "too generous"})
	})
	h.at(2*time.Hour, func() {
		require.Equal(t, []int64{3000}, h.ledger(activities.PayCoupon), "paid while the return still waits for review")
		s := h.status()
		require.Equal(t, domain.StatusPendingReview, s.Status)
		require.True(t, s.Goodwill[0].Issued)
		h.mustUpdate(workflows.UpdateGoodwill, workflows.GoodwillInput{Acting: as(domain.RoleAdmin), Actor: "root", Amount: cny(8000), Reason: "VIP complaint"})
	})
	h.at(3*time.Hour, func() {
		h.mustUpdate(workflows.UpdateDecline, workflows.DeclineInput{Actor: "amy", Reason: "worn"})
	})
	r := h.run(manual())
	refusedAs(t, big, workflows.ErrForbidden, "80.00 CNY is beyond the support limit of 50.00 CNY")
	require.Equal(t, domain.StatusDeclined, r.Status)
	require.Equal(t, []int64{3000}, h.ledger(activities.PayCoupon))
	require.Equal(t, []int64{8000}, h.ledger(activities.PayStoreCredit), "store credit is the default kind")
	require.Equal(t, "RMA-T1/goodwill-grant/1", h.pay.Entries(activities.PayCoupon)[0].Key)
	require.Equal(t, "RMA-T1/goodwill-grant/2", h.pay.Entries(activities.PayStoreCredit)[0].Key)
	require.Len(t, r.Goodwill, 2)
	require.Equal(t, "root", r.Goodwill[1].Actor)
	n := 0
	for _, tpl := range h.notes.Templates(activities.ToCustomer) {
		if tpl == "goodwill_granted" {
			n++
		}
	}
	require.Equal(t, 2, n, "the customer hears of each grant")
	cv := r.CustomerView("C-1")
	require.Empty(t, cv.Goodwill[1].Reason)
	require.Equal(t, int64(8000), cv.Goodwill[1].Amount.Amount)
}

func ptr[T any](v T) *T { return &v }

func detail(r domain.Return, typ string) string {
	for _, e := range r.Timeline {
		if e.Type == typ {
			return e.Detail
		}
	}
	return ""
}
