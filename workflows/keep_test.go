package workflows_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/workflows"
)

// defectiveNoPhoto is a defect claim without evidence: a human reviews it.
func defectiveNoPhoto() domain.Request {
	l := line("L1", "SKU-RED-M", 19900, domain.ReasonDefective, domain.ResolutionRefund)
	l.Photos = nil
	return request(l)
}

// Support offers 60.00 to keep a defective item; the customer accepts:
// nothing comes back, no label is booked, and the line pays the offer.
// Declining continues the normal return.
func TestKeepAtADiscount(t *testing.T) {
	offer := workflows.KeepOfferInput{Acting: as(domain.RoleSupport), Actor: "amy", LineID: "L1", Amount: cny(3000), Reason: "a scuff on the side"}
	t.Run("accepted", func(t *testing.T) {
		h := newHarness(t)
		h.features = workflows.FeaturesCurrent
		var tooMuch *updResult
		h.at(time.Hour, func() {
			tooMuch = h.update(workflows.UpdateKeepOffer, workflows.KeepOfferInput{Acting: as(domain.RoleSupport), Actor: "amy", LineID: "L1", Amount: cny(9000)})
		})
		h.at(90*time.Minute, func() { h.mustUpdate(workflows.UpdateKeepOffer, offer) })
		h.at(2*time.Hour, func() { h.mustUpdate(workflows.UpdateApprove, workflows.ApproveInput{Actor: "amy"}) })
		h.at(3*time.Hour, func() {
			s := h.status()
			require.Equal(t, "keep_offer", s.Deadline.Kind)
			require.Contains(t, h.notes.Templates(activities.ToCustomer), "keep_offer")
			h.mustUpdate(workflows.UpdateKeepAnswer, workflows.KeepAnswerInput{Actor: "C-1", LineID: "L1", Accept: true})
		})
		r := h.run(defectiveNoPhoto())
		refusedAs(t, tooMuch, workflows.ErrForbidden, "beyond the support limit")
		require.Equal(t, domain.StatusCompleted, r.Status)
		require.Empty(t, h.carrier.Labels, "nothing comes back")
		require.Equal(t, []int64{3000}, h.ledger(activities.PayRefund))
		require.Equal(t, "accepted", r.Lines[0].KeepOffer.Answer)
		require.Equal(t, domain.ResolutionKeep, r.Lines[0].Resolution)
		for _, typ := range []string{"keep_offer_made", "keep_offer_accepted"} {
			require.Contains(t, timelineTypes(r), typ)
		}
	})
	t.Run("declined", func(t *testing.T) {
		h := newHarness(t)
		h.features = workflows.FeaturesCurrent
		h.at(90*time.Minute, func() { h.mustUpdate(workflows.UpdateKeepOffer, offer) })
		h.at(2*time.Hour, func() { h.mustUpdate(workflows.UpdateApprove, workflows.ApproveInput{Actor: "amy"}) })
		h.at(3*time.Hour, func() {
			h.mustUpdate(workflows.UpdateKeepAnswer, workflows.KeepAnswerInput{LineID: "L1", Accept: false})
		})
		h.shipAndInspectFrom(4*time.Hour, inspection(allPass))
		r := h.run(defectiveNoPhoto())
		require.Equal(t, domain.StatusCompleted, r.Status)
		require.Len(t, h.carrier.Labels, 1)
		require.Equal(t, []int64{19900}, h.ledger(activities.PayRefund))
		require.Equal(t, "declined", r.Lines[0].KeepOffer.Answer)
	})
}
