package workflows_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/workflows"
)

// Three units come back; two pass, one fails. The refund pays two units,
// two go back on the shelf and one to quarantine,
// each movement with its own key, and the customer is told.
func TestPerUnitInspection(t *testing.T) {
	h := newHarness(t)
	h.shipAndInspectWith(func() workflows.InspectionInput {
		return workflows.InspectionInput{Actor: "warehouse:w1", Items: []workflows.InspectionItem{
			{LineID: "L1", Result: domain.InspectionPartial, PassedUnits: 2, Disposition: domain.DispositionRestock, Note: "one scratched"}}}
	})
	l := line("L1", "SKU-RED-M", 5000, domain.ReasonDefective, domain.ResolutionRefund)
	l.Quantity = 3
	r := h.run(request(l))
	require.Equal(t, domain.StatusCompleted, r.Status)
	require.Equal(t, []int64{10000}, h.ledger(activities.PayRefund), "2 × 50.00, not 3")
	require.Equal(t, int64(10000), r.Lines[0].Refund.Gross.Amount)
	require.Len(t, h.inv.Moves, 2)
	require.Equal(t, activities.MovementRestock, h.inv.Moves[0].To)
	require.Equal(t, 2, h.inv.Moves[0].Quantity)
	require.Equal(t, "RMA-T1/L1/disposition", h.inv.Moves[0].Key)
	require.Equal(t, activities.MovementQuarantine, h.inv.Moves[1].To)
	require.Equal(t, 1, h.inv.Moves[1].Quantity)
	require.Equal(t, "RMA-T1/L1/disposition-failed", h.inv.Moves[1].Key)
	require.Contains(t, h.notes.Templates(activities.ToCustomer), "inspection_partial")
}

// The result and the disposition must agree, and partial is for units:
// a pass sent back to the customer, a fail restocked, all units "partial",
// or a partial exchange are refused.
func TestInspectionResultAndDispositionAgree(t *testing.T) {
	h := newHarness(t)
	h.features = workflows.FeaturesCurrent
	var refused []*updResult
	items := []workflows.InspectionItem{
		{LineID: "L1", Result: domain.InspectionPass, Disposition: domain.DispositionReturnToCustomer},
		{LineID: "L1", Result: domain.InspectionFail, Disposition: domain.DispositionRestock},
		{LineID: "L1", Result: domain.InspectionPartial, PassedUnits: 1, Disposition: domain.DispositionRestock},
		{LineID: "L1", Result: domain.InspectionPartial, PassedUnits: 1, Disposition: domain.DispositionRestock, FailDisposition: domain.DispositionRestock},
	}
	h.shipAndInspect(allPass)
	h.at(21*time.Hour+30*time.Minute, func() {
		for _, it := range items {
			refused = append(refused, h.update(workflows.UpdateInspection, workflows.InspectionInput{Actor: "warehouse:w1", Items: []workflows.InspectionItem{it}}))
		}
	})
	r := h.run(request())
	require.Equal(t, domain.StatusCompleted, r.Status)
	want := []string{"a passed item is restocked, quarantined or repaired, not return_to_customer", "a failed item is not restocked",
		"1 of 1 units is not partial", "fail_disposition: the failed units are not restocked"}
	for i, res := range refused {
		refusedAs(t, res, workflows.ErrInvalidInput, want[i])
	}
}
