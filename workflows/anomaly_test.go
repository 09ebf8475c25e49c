package workflows_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/workflows"
)

func TestAnomalyCheckNotifiesQuality(t *testing.T) {
	h := newHarness(t)
	h.store.Stats = []domain.BatchStats{
		{SKU: "SKU-LAMP", Batch: "B2026-10", Sold: 400, Returned: 8, BaselineSold: 400, BaselineReturned: 36},
		{SKU: "SKU-LAMP", Batch: "B2026-11", Sold: 200, Returned: 30, BaselineSold: 600, BaselineReturned: 14},
	}
	h.env.ExecuteWorkflow(workflows.AnomalyWorkflowType, workflows.AnomalyInput{Rule: domain.Defaults().Anomaly})
	require.NoError(t, h.env.GetWorkflowError())
	var found []domain.Anomaly
	require.NoError(t, h.env.GetWorkflowResult(&found))
	require.Len(t, found, 1)
	require.Equal(t, "B2026-11", found[0].Batch)
	require.Equal(t, []string{"batch_anomaly"}, h.notes.Templates(activities.ToQuality))
	p := h.notes.All()[0].Params
	require.Equal(t, "15.0%", p["rate"])
	require.Equal(t, "2.3%", p["baseline"])
	require.Equal(t, "200", p["sample"])
	require.Equal(t, "B2026-11", p["batch"])
}
