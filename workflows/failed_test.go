package workflows_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/workflows"
)

var allFail = map[string]domain.InspectionResult{"L1": domain.InspectionFail}

// failedReturn runs a return whose line fails inspection at 22h, with the
// customer's answer (if any) at 23h and support's decision (if any) at 24h.
func failedReturn(t *testing.T, req domain.Request, answer *workflows.InspectionAnswerInput, decision *workflows.DisputeDecisionInput) (*harness, domain.Return) {
	h := newHarness(t)
	h.features = workflows.FeaturesCurrent
	h.shipAndInspect(allFail)
	h.at(22*time.Hour+30*time.Minute, func() {
		s := h.status()
		require.Equal(t, domain.StatusInspecting, s.Status)
		require.Equal(t, "inspection_answer", s.Deadline.Kind)
		require.Contains(t, h.notes.Templates(activities.ToCustomer), "inspection_failed_answer")
		require.NotContains(t, h.notes.Templates(activities.ToCustomer), "inspection_failed", "the old notice listed options that led nowhere")
	})
	if answer != nil {
		h.at(23*time.Hour, func() { h.mustUpdate(workflows.UpdateInspectionAnswer, *answer) })
	}
	if decision != nil {
		h.at(24*time.Hour, func() {
			require.Equal(t, domain.WaitingSupport, *h.status().WaitingOn)
			h.mustUpdate(workflows.UpdateDisputeDecision, *decision)
		})
	}
	return h, h.run(req)
}

func TestFailedInspectionAnswers(t *testing.T) {
	customerFault := request(line("L1", "SKU-LAMP", 4000, domain.ReasonChangedMind, domain.ResolutionRefund)) // low value: auto-approved
	t.Run("accept: sent back at the customer's cost", func(t *testing.T) {
		h, r := failedReturn(t, customerFault, &workflows.InspectionAnswerInput{Choice: workflows.AnswerAccept}, nil)
		require.Equal(t, domain.StatusCompleted, r.Status)
		require.Equal(t, []int64{1200}, h.ledger(activities.PayCharge), "the return fee, the reason being the customer's")
		require.Len(t, h.carrier.Shipped, 1)
		require.Equal(t, activities.ShipBackToCustomer, h.carrier.Shipped[0].Purpose)
		require.Empty(t, h.ledger(activities.PayRefund))
	})
	t.Run("no answer: the default sends it back, free for a merchant-fault reason", func(t *testing.T) {
		h, r := failedReturn(t, request(), nil, nil)
		require.Equal(t, domain.StatusCompleted, r.Status)
		require.Empty(t, h.ledger(activities.PayCharge))
		require.Len(t, h.carrier.Shipped, 1)
		require.Contains(t, timelineTypes(r), "inspection_answer_default")
	})
	t.Run("dispose", func(t *testing.T) {
		h, r := failedReturn(t, request(), &workflows.InspectionAnswerInput{Choice: workflows.AnswerDispose}, nil)
		require.Equal(t, domain.StatusCompleted, r.Status)
		require.Empty(t, h.carrier.Shipped)
		require.Len(t, h.inv.Moves, 1)
		require.Equal(t, activities.MovementDispose, h.inv.Moves[0].To)
	})
	t.Run("dispute overturned: the line passes and is refunded", func(t *testing.T) {
		h, r := failedReturn(t, request(), &workflows.InspectionAnswerInput{Choice: workflows.AnswerDispute, Evidence: "it was scratched in your box", Photos: []string{"https://img.example/d.jpg"}},
			&workflows.DisputeDecisionInput{Actor: "amy", LineID: "L1", Decision: "overturn", Note: "photos convince"})
		require.Equal(t, domain.StatusCompleted, r.Status)
		require.Equal(t, []int64{19900}, h.ledger(activities.PayRefund))
		require.Equal(t, domain.InspectionPass, r.Lines[0].Inspection.Result)
		require.Equal(t, activities.MovementRestock, h.inv.Moves[0].To)
		require.Contains(t, timelineTypes(r), "inspection_disputed")
		require.Contains(t, h.notes.Templates(activities.ToSupport), "inspection_disputed")
		require.Contains(t, h.notes.Templates(activities.ToCustomer), "dispute_overturned")
	})
	t.Run("dispute upheld: the default applies", func(t *testing.T) {
		h, r := failedReturn(t, request(), &workflows.InspectionAnswerInput{Choice: workflows.AnswerDispute, Evidence: "no"},
			&workflows.DisputeDecisionInput{Actor: "amy", LineID: "L1", Decision: "uphold", Note: "water damage"})
		require.Equal(t, domain.StatusCompleted, r.Status)
		require.Empty(t, h.ledger(activities.PayRefund))
		require.Len(t, h.carrier.Shipped, 1)
		require.Contains(t, h.notes.Templates(activities.ToCustomer), "dispute_upheld")
	})
}
