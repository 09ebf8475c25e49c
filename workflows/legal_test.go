package workflows_test

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/workflows"
)

func preset(t *testing.T, name string) domain.Policy {
	t.Helper()
	p, err := domain.Preset(name)
	require.NoError(t, err)
	return p
}

// clothing is a defective garment with a photo: auto-approved, refunded
// in full under cn-7day, and its inspection must check the tags.
func clothing() domain.Request {
	l := line("L1", "SKU-RED-M", 19900, domain.ReasonDefective, domain.ResolutionRefund)
	l.Category = "clothing"
	return request(l)
}

func tagsChecked(ok bool) workflows.InspectionInput {
	in := inspection(allPass)
	in.Items[0].Checks = map[string]bool{"tags": ok}
	return in
}

// cn-7day: the refund is due seven days after the parcel arrives. The
// deadline is a durable timer: support is reminded two days before, the
// supervisor one day before, and past it the breach is recorded; the
// refund still goes out when the inspection finally comes.
func TestLegalRefundDeadlineRemindsEscalatesAndBreaches(t *testing.T) {
	h := newHarness(t)
	h.policy = preset(t, "cn-7day")
	h.at(time.Minute, func() {
		h.mustUpdate(workflows.UpdateShippingChoice, workflows.ShippingChoiceInput{Method: domain.ShippingPickup})
	})
	h.at(2*time.Hour, func() { h.carrierEvent(domain.CarrierPickedUp, "") })
	h.at(20*time.Hour, func() { h.carrierEvent(domain.CarrierDelivered, "") })
	arrival := t0.Add(20 * time.Hour)
	due := arrival.Add(7 * 24 * time.Hour)
	h.at(21*time.Hour, func() {
		s := h.status()
		require.NotNil(t, s.RefundDueAt, "the legal clock runs from the arrival")
		require.Equal(t, due, *s.RefundDueAt)
	})
	h.at(due.Sub(t0)-30*time.Hour, func() {
		require.Contains(t, h.notes.Templates(activities.ToSupport), "refund_due_reminder")
		require.NotContains(t, h.notes.Templates(activities.ToSupervisor), "refund_due_escalated")
	})
	h.at(due.Sub(t0)-time.Hour, func() {
		require.Contains(t, h.notes.Templates(activities.ToSupervisor), "refund_due_escalated")
		require.NotContains(t, h.status().SLABreaches, "legal_refund")
	})
	h.at(due.Sub(t0)+time.Hour, func() { h.mustUpdate(workflows.UpdateInspection, tagsChecked(true)) })
	r := h.run(clothing())
	require.Equal(t, domain.StatusCompleted, r.Status)
	require.Contains(t, r.SLABreaches, "legal_refund")
	require.Contains(t, h.notes.Templates(activities.ToSupervisor), "legal_refund_breached")
	require.Equal(t, []int64{19900}, h.ledger(activities.PayRefund))
	require.Contains(t, timelineTypes(r), "legal_refund_escalated")
}

// Paid in time, nothing escalates; and a garment passes inspection only
// with its tags checked ok (policy inspection.checks).
func TestLegalRefundInTimeAndCategoryChecks(t *testing.T) {
	h := newHarness(t)
	h.policy = preset(t, "cn-7day")
	h.shipAndInspectWith(func() workflows.InspectionInput { return tagsChecked(true) })
	var unchecked, failedCheck *updResult
	h.at(21*time.Hour+30*time.Minute, func() {
		unchecked = h.update(workflows.UpdateInspection, inspection(allPass))
		failedCheck = h.update(workflows.UpdateInspection, tagsChecked(false))
	})
	r := h.run(clothing())
	refusedAs(t, unchecked, workflows.ErrInvalidInput, "items[0].checks.tags: a clothing line passes only with its tags checked")
	refusedAs(t, failedCheck, workflows.ErrInvalidInput, "items[0].checks.tags: failed, so the line cannot pass")
	require.Equal(t, domain.StatusCompleted, r.Status)
	require.NotContains(t, r.SLABreaches, "legal_refund")
	require.False(t, slices.Contains(h.notes.Templates(activities.ToSupervisor), "refund_due_escalated"))
	require.Equal(t, map[string]bool{"tags": true}, r.Lines[0].Inspection.Checks)
}

// eu-crd: the clock runs from the request; the standard delivery is
// refunded once, as its own movement; the warehouse's loss-of-value
// deduction comes off the line.
func TestEUWithdrawalRefundsDeliveryAndDeductsValueLoss(t *testing.T) {
	h := newHarness(t)
	h.policy = preset(t, "eu-crd")
	h.shipAndInspectWith(func() workflows.InspectionInput {
		in := inspection(allPass)
		in.Items[0].ValueLoss = &domain.Money{Amount: 2000, Currency: "CNY"}
		return in
	})
	req := request()
	req.OutboundShipping = &domain.Money{Amount: 500, Currency: "CNY"}
	h.at(time.Hour, func() {
		s := h.status()
		require.NotNil(t, s.RefundDueAt)
		require.Equal(t, t0.Add(14*24*time.Hour), *s.RefundDueAt, "14 days from the withdrawal")
	})
	r := h.run(req)
	require.Equal(t, domain.StatusCompleted, r.Status)
	require.Equal(t, []int64{17900, 500}, h.ledger(activities.PayRefund), "the line less 20.00 lost value, then the delivery")
	require.Equal(t, "RMA-T1/outbound-shipping/refund", h.pay.Entries(activities.PayRefund)[1].Key)
	require.Equal(t, int64(18400), r.RefundTotal.Amount)
	require.Equal(t, int64(2000), r.FeesTotal.Amount)
}

// The storefront's preview estimates exactly what the workflow pays.
func TestPreviewEstimateIsWhatTheWorkflowPays(t *testing.T) {
	low := request(line("L1", "SKU-LAMP", 4000, domain.ReasonChangedMind, domain.ResolutionRefund))
	eu := request(line("L1", "SKU-LAMP", 4000, domain.ReasonChangedMind, domain.ResolutionRefund))
	eu.OutboundShipping = &domain.Money{Amount: 500, Currency: "CNY"}
	cases := []struct {
		name   string
		policy domain.Policy
		req    domain.Request
	}{
		{"merchant fault", domain.Defaults(), request()},
		{"customer fault, fees", domain.Defaults(), low},
		{"eu-crd with the delivery", preset(t, "eu-crd"), eu},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pv := domain.PreviewRequest(c.policy, 0, c.req, t0, domain.CustomerHistory{}, nil)
			require.Equal(t, "auto_approved", pv.Review)
			h := newHarness(t)
			h.policy = c.policy
			h.shipAndInspect(allPass)
			r := h.run(c.req)
			require.Equal(t, domain.StatusCompleted, r.Status)
			require.NotNil(t, pv.RefundTotal)
			require.Equal(t, pv.RefundTotal.Amount, r.RefundTotal.Amount, "preview %s, paid %s", pv.RefundTotal, r.RefundTotal)
			require.Equal(t, pv.Lines[0].RefundEstimate.Fees.Amount, r.FeesTotal.Amount)
		})
	}
}
