package workflows_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/workflows"
)

// Every stage speaks to the customer, in order, in their language: the
// request received, under review, approved (choose how to send it), the
// label, the pickup, the delivery to the warehouse, the receipt, the
// passed inspection, the refund, the completion and the survey.
func TestEveryStageSpeaks(t *testing.T) {
	h := newHarness(t)
	h.features = workflows.FeaturesCurrent
	h.manualWithApproval()
	h.at(21*time.Hour, func() { h.mustUpdate(workflows.UpdateReceive, workflows.ReceiveInput{Actor: "warehouse:w1"}) })
	r := h.run(manual())
	require.Equal(t, domain.StatusCompleted, r.Status)
	require.Equal(t, []string{"request_received", "under_review", "choose_shipping", "label_ready", "parcel_picked_up", "parcel_delivered",
		"parcel_received", "inspection_passed", "refunded", "completed", "survey_open"}, h.notes.Templates(activities.ToCustomer))
	for _, n := range h.notes.All() {
		require.Equal(t, domain.LocaleZhCN, n.Locale, n.Template)
	}
}

// A keep-it return and a reship, approved by support, are told so: they
// never get a choose_shipping notice that would say it.
func TestReturnlessAndReshipHearTheyAreApproved(t *testing.T) {
	for _, c := range []struct {
		name string
		l    domain.Line
	}{
		{"keep-it", line("L1", "SKU-LAMP", 2500, domain.ReasonChangedMind, domain.ResolutionKeep)},
		{"reship", line("L1", "SKU-LAMP", 9900, domain.ReasonMissingParts, domain.ResolutionReship)},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			h.features = workflows.FeaturesCurrent
			h.history = domain.CustomerHistory{Returns: 9} // abuse: a human decides
			h.at(time.Hour, func() { h.mustUpdate(workflows.UpdateApprove, workflows.ApproveInput{Actor: "amy"}) })
			r := h.run(request(c.l))
			require.Equal(t, domain.StatusCompleted, r.Status)
			got := h.notes.Templates(activities.ToCustomer)
			require.Contains(t, got, "approved_nothing_back")
			require.NotContains(t, got, "choose_shipping")
		})
	}
}

// Returns started before stage notices replay without them.
func TestReturnsStartedBeforeStageNoticesStayQuiet(t *testing.T) {
	h := newHarness(t)
	h.shipAndInspect(allPass)
	h.run(request())
	for _, tpl := range h.notes.Templates(activities.ToCustomer) {
		require.NotContains(t, []string{"request_received", "parcel_picked_up", "parcel_delivered", "parcel_received", "inspection_passed", "survey_open"}, tpl)
	}
}
