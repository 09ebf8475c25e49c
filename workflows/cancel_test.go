package workflows_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/workflows"
)

// TestCancelUndoesExactlyWhatWasDone cancels at every cancellable stage and
// checks the compensations: only what was done is undone.
func TestCancelUndoesExactlyWhatWasDone(t *testing.T) {
	type undo struct {
		voided   int
		released []string
		refunds  []int64
	}
	cases := []struct {
		name   string
		req    func() domain.Request
		setup  func(h *harness)
		before func(h *harness) // steps to reach the stage
		at     time.Duration
		status domain.Status
		want   undo
	}{
		{name: "pending_review", req: manual, at: time.Hour, status: domain.StatusPendingReview},
		{name: "info_requested", req: manual, at: 2 * time.Hour, status: domain.StatusInfoRequested, before: func(h *harness) {
			h.at(time.Hour, func() {
				h.mustUpdate(workflows.UpdateRequestInfo, workflows.RequestInfoInput{Actor: "support:amy", Question: "photo?"})
			})
		}},
		{name: "awaiting_choice", req: exchangeStandard, at: time.Hour, status: domain.StatusAwaitingChoice,
			setup: func(h *harness) { h.inv.Stock["SKU-RED-L"] = 0 }},
		{name: "awaiting_shipment, reserved and charged", req: func() domain.Request { return exchangeRequestAuto("SKU-RED-XL") },
			at: time.Hour, status: domain.StatusAwaitingShipment, want: undo{released: []string{"RMA-T1/L1"}, refunds: []int64{2000}}},
		{name: "awaiting_shipment, label booked", req: func() domain.Request { return request() }, at: time.Hour, status: domain.StatusAwaitingShipment, want: undo{voided: 1},
			before: func(h *harness) {
				h.at(time.Minute, func() {
					h.mustUpdate(workflows.UpdateShippingChoice, workflows.ShippingChoiceInput{Method: domain.ShippingPickup})
				})
			}},
		{name: "in_transit with reservation", req: exchangeStandard, at: 3 * time.Hour, status: domain.StatusInTransit,
			want: undo{voided: 1, released: []string{"RMA-T1/L1"}},
			before: func(h *harness) {
				h.at(time.Minute, func() {
					h.mustUpdate(workflows.UpdateShippingChoice, workflows.ShippingChoiceInput{Method: domain.ShippingDropoff})
				})
				h.at(2*time.Hour, func() { h.carrierEvent(domain.CarrierInTransit, "") })
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			if c.setup != nil {
				c.setup(h)
			}
			if c.before != nil {
				c.before(h)
			}
			h.at(c.at, func() {
				require.Equal(t, c.status, h.status().Status)
				h.mustUpdate(workflows.UpdateCancel, workflows.CancelInput{Actor: "customer", Reason: "changed plans"})
			})
			r := h.run(c.req())
			require.Equal(t, domain.StatusCancelled, r.Status)
			require.Len(t, h.carrier.Voided, c.want.voided)
			require.Equal(t, c.want.released, h.inv.Released)
			require.Equal(t, c.want.refunds, h.ledger(activities.PayRefund))
			require.Empty(t, h.inv.Commits, "nothing shipped")
			require.Contains(t, h.notes.Templates(activities.ToCustomer), "cancelled")
			require.Equal(t, "customer", r.Timeline[len(r.Timeline)-1].Actor)
		})
	}
}

func TestCancelRefusedOnceReceived(t *testing.T) {
	h := newHarness(t)
	h.shipAndInspect(allPass)
	h.at(21*time.Hour+30*time.Minute, func() {
		res := h.update(workflows.UpdateCancel, workflows.CancelInput{Actor: "customer"})
		h.at(time.Minute, func() { require.ErrorContains(t, res.rejected, "cannot cancel: return RMA-T1 is received") })
	})
	r := h.run(request())
	require.Equal(t, domain.StatusCompleted, r.Status)
}

func TestActivityExhaustingRetriesNeedsAttention(t *testing.T) {
	h := newHarness(t)
	h.pay.Always("payments.refund")
	h.shipAndInspect(allPass)
	h.at(24*time.Hour, func() {
		s := h.status()
		require.Equal(t, domain.StatusNeedsAttention, s.Status, "never lost, never silently dropped")
		require.Equal(t, "refund-L1", s.Attention.Step)
		require.Contains(t, s.Attention.Error, "partner unavailable")
		require.Equal(t, domain.StatusResolving, s.Attention.Resume)
		require.Equal(t, domain.WaitingSupport, *s.WaitingOn)
		require.Contains(t, h.notes.Templates(activities.ToSupport), "needs_attention")
		require.Greater(t, h.pay.Calls("payments.refund"), 1, "retried before giving up")
		require.Empty(t, h.pay.Ledger)
		// Support fixes the PSP and retries.
		h.pay.Clear()
		h.mustUpdate(workflows.UpdateResolveAttention, workflows.ResolveAttentionInput{Actor: "support:amy", Action: workflows.AttentionRetry})
	})
	r := h.run(request())
	require.Equal(t, domain.StatusCompleted, r.Status)
	require.Equal(t, []int64{19900}, h.ledger(activities.PayRefund), "paid once")
	require.Nil(t, r.Attention)
}

func TestBusinessRejectionNeedsAttentionAndCanBeAbandoned(t *testing.T) {
	h := newHarness(t)
	h.pay.Decline = map[string]bool{activities.PayRefund: true}
	h.shipAndInspect(allPass)
	h.at(23*time.Hour, func() {
		s := h.status()
		require.Equal(t, domain.StatusNeedsAttention, s.Status)
		require.Contains(t, s.Attention.Error, "card was declined")
		require.Equal(t, 1, h.pay.Calls("payments.refund"), "a business refusal is not retried")
		h.mustUpdate(workflows.UpdateResolveAttention, workflows.ResolveAttentionInput{Actor: "support:amy", Action: workflows.AttentionAbandon,
			Outcome: domain.StatusCompleted, Note: "refunded by bank transfer"})
	})
	r := h.run(request())
	// Support finished it by hand: the run ends in the outcome support gave,
	// never in needs_attention on a closed workflow.
	require.Equal(t, domain.StatusCompleted, r.Status)
	require.Nil(t, r.Attention)
	require.Contains(t, timelineTypes(r), "abandoned")
	require.Empty(t, h.pay.Ledger, "nothing was paid by the workflow")
	require.Contains(t, h.notes.Templates(activities.ToSupport), "manual_handling")
}

func TestCancelDuringNeedsAttentionBeforeReceipt(t *testing.T) {
	h := newHarness(t)
	h.carrier.Always("carrier.label")
	h.at(time.Minute, func() {
		h.mustUpdate(workflows.UpdateShippingChoice, workflows.ShippingChoiceInput{Method: domain.ShippingPickup})
	})
	h.at(2*time.Hour, func() {
		require.Equal(t, domain.StatusNeedsAttention, h.status().Status)
		h.mustUpdate(workflows.UpdateCancel, workflows.CancelInput{Actor: "support:amy", Reason: "carrier down"})
	})
	r := h.run(exchangeStandard())
	require.Equal(t, domain.StatusCancelled, r.Status)
	require.Equal(t, []string{"RMA-T1/L1"}, h.inv.Released)
}
