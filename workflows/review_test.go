package workflows_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/sdk/temporal"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/workflows"
)

func TestAutoApprovedRefund(t *testing.T) {
	h := newHarness(t)
	var statuses []string
	h.env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		sa := args.Get(0).(temporal.SearchAttributes)
		if s, ok := sa.GetKeyword(workflows.SAStatus); ok && (len(statuses) == 0 || statuses[len(statuses)-1] != s) {
			statuses = append(statuses, s)
		}
	}).Return(nil)
	h.shipAndInspect(allPass)
	r := h.run(request())

	require.Equal(t, domain.StatusCompleted, r.Status)
	require.Equal(t, []int64{19900}, h.ledger(activities.PayRefund), "exactly one refund of 199.00")
	require.Equal(t, "RMA-T1/L1/refund", h.pay.Entries(activities.PayRefund)[0].Key)
	require.Equal(t, int64(19900), r.RefundTotal.Amount)
	require.Equal(t, int64(0), r.FeesTotal.Amount)
	require.Contains(t, timelineTypes(r), "approved")
	require.Equal(t, "policy", r.Timeline[1].Actor, "auto-approval is the policy's act")
	// One upsert per wait, and only for a change: the statuses a wait
	// rests in, not every step between.
	require.Equal(t, []string{"awaiting_shipment", "in_transit", "received", "completed"}, statuses)
	require.Len(t, h.inv.Moves, 1)
	require.Equal(t, activities.MovementRestock, h.inv.Moves[0].To)
	require.Equal(t, 6, h.inv.Stock["SKU-RED-M"], "returned item restocked")
	require.Nil(t, r.Deadline)
	require.Nil(t, r.WaitingOn)
	for _, k := range []string{"requested", "approved", "label", "picked_up", "delivered", "received", "inspected", "refunded", "resolved", "closed"} {
		require.Contains(t, r.Stages, k)
	}
	require.Empty(t, r.SLABreaches)
	require.Nil(t, r.Compensation)
	require.Equal(t, h.store.View(rmaID).Status, domain.StatusCompleted, "read model projected")
}

// manual is a customer-fault return above the low-value threshold: it needs
// a human.
func manual() domain.Request {
	return request(line("L1", "SKU-RED-M", 19900, domain.ReasonChangedMind, domain.ResolutionRefund))
}

func TestManualApproveWithinSLA(t *testing.T) {
	h := newHarness(t)
	h.at(time.Hour, func() {
		s := h.status()
		require.Equal(t, domain.StatusPendingReview, s.Status)
		require.Equal(t, domain.WaitingSupport, *s.WaitingOn)
		require.Equal(t, "reply_sla", s.Deadline.Kind)
		require.Equal(t, t0.Add(24*time.Hour), s.Deadline.At)
		require.Equal(t, "support", s.Assignee)
	})
	h.at(2*time.Hour, func() {
		h.mustUpdate(workflows.UpdateApprove, workflows.ApproveInput{Actor: "support:amy", Note: "ok"})
	})
	h.at(3*time.Hour, func() {
		require.Equal(t, domain.StatusAwaitingShipment, h.status().Status)
		h.mustUpdate(workflows.UpdateShippingChoice, workflows.ShippingChoiceInput{Method: domain.ShippingPickup})
	})
	h.at(5*time.Hour, func() { h.carrierEvent(domain.CarrierPickedUp, "") })
	h.at(20*time.Hour, func() { h.carrierEvent(domain.CarrierDelivered, "") })
	h.at(21*time.Hour, func() { h.mustUpdate(workflows.UpdateReceive, workflows.ReceiveInput{Actor: "warehouse:w1"}) })
	h.at(22*time.Hour, func() { h.mustUpdate(workflows.UpdateInspection, inspection(allPass)) })
	r := h.run(manual())

	require.Equal(t, domain.StatusCompleted, r.Status)
	// changed_mind: 10.00 handling + 12.00 return shipping.
	require.Equal(t, []int64{19900 - 1000 - 1200}, h.ledger(activities.PayRefund))
	require.Equal(t, int64(2200), r.FeesTotal.Amount)
	require.Empty(t, r.SLABreaches)
	require.Equal(t, []string{"review_requested"}, h.notes.Templates(activities.ToSupport), "no reminder inside the SLA")
}

func TestReplySLAReminderThenEscalation(t *testing.T) {
	h := newHarness(t)
	h.at(19*time.Hour, func() {
		require.Equal(t, []string{"review_requested"}, h.notes.Templates(activities.ToSupport))
	})
	h.at(20*time.Hour+time.Minute, func() {
		require.Equal(t, []string{"review_requested", "review_reminder"}, h.notes.Templates(activities.ToSupport), "reminder 4h before the 24h reply SLA")
	})
	h.at(24*time.Hour+time.Minute, func() {
		s := h.status()
		require.Equal(t, []string{"review_requested", "review_reminder", "review_escalated"}, h.notes.Templates(activities.ToSupport))
		require.Equal(t, []string{"review_reply"}, s.SLABreaches)
		require.Equal(t, "decision_sla", s.Deadline.Kind)
		require.Equal(t, domain.StatusPendingReview, s.Status)
	})
	h.at(40*time.Hour+time.Minute, func() {
		require.Equal(t, "review_reminder", h.notes.Templates(activities.ToSupport)[3], "decision reminder 8h before 48h")
	})
	h.at(48*time.Hour+time.Minute, func() {
		require.Equal(t, []string{"review_escalated"}, h.notes.Templates(activities.ToSupervisor), "decision SLA breach goes to the supervisor")
		require.Nil(t, h.status().Deadline)
		h.mustUpdate(workflows.UpdateDecline, workflows.DeclineInput{Actor: "support:amy", Reason: "used item"})
	})
	r := h.run(manual())
	require.Equal(t, domain.StatusDeclined, r.Status)
	require.Equal(t, []string{"review_reply", "review_decision"}, r.SLABreaches)
	require.Empty(t, h.pay.Ledger, "a declined return moves no money, not even a compensation coupon")
}

func TestDecline(t *testing.T) {
	h := newHarness(t)
	h.at(time.Hour, func() {
		h.mustUpdate(workflows.UpdateDecline, workflows.DeclineInput{Actor: "support:amy", Reason: "item shows wear", Note: "photos attached"})
	})
	r := h.run(manual())
	require.Equal(t, domain.StatusDeclined, r.Status)
	require.Equal(t, "item shows wear", r.DeclineReason)
	require.Nil(t, r.WaitingOn)
	require.Empty(t, h.pay.Ledger)
	require.Empty(t, h.carrier.Labels)
	require.Contains(t, h.notes.Templates(activities.ToCustomer), "declined")
}

func TestRequestInfoThenAnswerResumesTheClock(t *testing.T) {
	h := newHarness(t)
	h.at(10*time.Hour, func() {
		h.mustUpdate(workflows.UpdateRequestInfo, workflows.RequestInfoInput{Actor: "support:amy", Question: "photo of the label?"})
	})
	h.at(11*time.Hour, func() {
		s := h.status()
		require.Equal(t, domain.StatusInfoRequested, s.Status)
		require.Equal(t, domain.WaitingCustomer, *s.WaitingOn)
		require.Equal(t, "info", s.Deadline.Kind)
	})
	// The customer answers 30 hours later; 38h of the 48h decision SLA were
	// left, so the decision is now due at 40h + 38h = 78h.
	h.at(40*time.Hour, func() {
		h.mustUpdate(workflows.UpdateInfo, workflows.InfoInput{Answer: "here", Photos: []string{"https://img.example/x.jpg"}})
	})
	h.at(41*time.Hour, func() {
		s := h.status()
		require.Equal(t, domain.StatusPendingReview, s.Status)
		require.Equal(t, "decision_sla", s.Deadline.Kind)
		require.Equal(t, t0.Add(78*time.Hour), s.Deadline.At)
		require.Empty(t, s.SLABreaches, "the reply SLA was met by the request for info")
		h.mustUpdate(workflows.UpdateApprove, workflows.ApproveInput{Actor: "support:amy"})
	})
	h.at(42*time.Hour, func() {
		require.Equal(t, domain.StatusAwaitingShipment, h.status().Status)
		h.mustUpdate(workflows.UpdateCancel, workflows.CancelInput{Actor: "customer", Reason: "kept it after all"})
	})
	r := h.run(manual())
	require.Equal(t, domain.StatusCancelled, r.Status)
	require.Contains(t, timelineTypes(r), "info_received")
	require.Contains(t, timelineTypes(r), "review_resumed")
}

func TestRequestInfoUnansweredExpires(t *testing.T) {
	h := newHarness(t)
	h.at(time.Hour, func() {
		h.mustUpdate(workflows.UpdateRequestInfo, workflows.RequestInfoInput{Actor: "support:amy", Question: "photo?"})
	})
	r := h.run(manual())
	require.Equal(t, domain.StatusExpired, r.Status)
	require.Equal(t, []string{"info_requested", "info_reminder", "expired"}, h.notes.Templates(activities.ToCustomer))
}

func TestIneligibleWindowPassed(t *testing.T) {
	h := newHarness(t)
	req := manual()
	req.DeliveredAt = t0.Add(-8 * 24 * time.Hour)
	r := h.run(req)
	require.Equal(t, domain.StatusIneligible, r.Status)
	require.Equal(t, "return window of 168h ended "+t0.Add(-24*time.Hour).Format(time.RFC3339), r.IneligibleReason)
	require.Empty(t, h.pay.Ledger, "nothing charged")
	require.Empty(t, h.carrier.Labels)
	require.Equal(t, []string{"ineligible"}, h.notes.Templates(activities.ToCustomer))
}

func TestIneligibleFinalSale(t *testing.T) {
	h := newHarness(t)
	req := manual()
	req.Lines[0].FinalSale = true
	r := h.run(req)
	require.Equal(t, domain.StatusIneligible, r.Status)
	require.Equal(t, "final-sale item: not returnable", r.IneligibleReason)
	require.Empty(t, h.pay.Ledger)
}

func TestAbuseLimitGoesToManualReview(t *testing.T) {
	h := newHarness(t)
	h.history = domain.CustomerHistory{Returns: 6, Value: 60000}
	h.at(time.Hour, func() {
		s := h.status()
		require.Equal(t, domain.StatusPendingReview, s.Status, "a merchant-fault claim with a photo would auto-approve, but not for an abuser")
		require.Contains(t, s.Timeline[len(s.Timeline)-1].Detail, "abuse limit: 6 returns in the last 2160h (limit 5)")
		h.mustUpdate(workflows.UpdateDecline, workflows.DeclineInput{Actor: "support:amy", Reason: "abuse"})
	})
	r := h.run(request())
	require.Equal(t, domain.StatusDeclined, r.Status)
}

func TestInvalidCommandsAreRefused(t *testing.T) {
	h := newHarness(t)
	var refused []*updResult
	var before int
	h.at(time.Hour, func() {
		before = len(h.status().Timeline)
		refused = append(refused,
			h.update(workflows.UpdateReceive, workflows.ReceiveInput{Actor: "w"}),                                    // not shipped
			h.update(workflows.UpdateShippingChoice, workflows.ShippingChoiceInput{Method: domain.ShippingPickup}),   // not approved
			h.update(workflows.UpdateDecline, workflows.DeclineInput{Actor: "support:amy"}),                          // no reason
			h.update(workflows.UpdateInfo, workflows.InfoInput{Answer: "x"}),                                         // nothing asked
			h.update(workflows.UpdateResolveAttention, workflows.ResolveAttentionInput{Actor: "a", Action: "retry"}), // nothing failed
		)
		h.mustUpdate(workflows.UpdateApprove, workflows.ApproveInput{Actor: "support:amy"})
	})
	h.at(2*time.Hour, func() {
		refused = append(refused,
			h.update(workflows.UpdateApprove, workflows.ApproveInput{Actor: "support:amy"}),               // approve twice
			h.update(workflows.UpdateDecline, workflows.DeclineInput{Actor: "support:amy", Reason: "no"}), // decline after approve
			h.update(workflows.UpdateShippingChoice, workflows.ShippingChoiceInput{Method: "teleport"}),   // bad method
			h.update(workflows.UpdateInspection, inspection(allPass)),                                     // not received
			h.update(workflows.UpdateNote, workflows.NoteInput{Actor: "support:amy"}),                     // empty note
		)
	})
	h.at(3*time.Hour, func() {
		for i, u := range refused {
			require.Error(t, u.rejected, "command %d (%s) should be refused", i, u.name)
			var app *temporal.ApplicationError
			require.ErrorAs(t, u.rejected, &app)
			require.Contains(t, []string{workflows.ErrInvalidTransition, workflows.ErrInvalidInput}, app.Type())
			require.False(t, u.completed)
		}
		require.Contains(t, refused[5].rejected.Error(), "cannot approve: return RMA-T1 is awaiting_shipment")
		// Only the accepted approve changed anything.
		s := h.status()
		require.Equal(t, domain.StatusAwaitingShipment, s.Status)
		require.Empty(t, s.ShippingMethod)
		require.Empty(t, s.Notes)
		require.Equal(t, []string{"approve_command", "approved", "awaiting_shipping_choice"}, timelineTypes(s)[before:], "only the approve left a trace")
		h.mustUpdate(workflows.UpdateCancel, workflows.CancelInput{Actor: "support:amy"})
	})
	r := h.run(manual())
	require.Equal(t, domain.StatusCancelled, r.Status)
	for _, e := range r.Timeline {
		require.NotContains(t, []string{"decline_command", "survey", "info_received", "inspected", "note", "shipping_chosen"}, e.Type, "a refused command left a trace")
	}
}

func countType(r domain.Return, typ string) int {
	n := 0
	for _, e := range r.Timeline {
		if e.Type == typ {
			n++
		}
	}
	return n
}

func TestDuplicateUpdateIDHasOneEffect(t *testing.T) {
	h := newHarness(t)
	h.at(time.Hour, func() {
		a := h.updateID(workflows.UpdateNote, "note-1", workflows.NoteInput{Actor: "support:amy", Note: "called the customer"})
		b := h.updateID(workflows.UpdateNote, "note-1", workflows.NoteInput{Actor: "support:amy", Note: "called the customer"})
		h.at(time.Minute, func() {
			require.True(t, a.completed)
			require.True(t, b.completed)
			require.Len(t, h.status().Notes, 1)
			c := h.updateID(workflows.UpdateApprove, "approve-1", workflows.ApproveInput{Actor: "support:amy"})
			d := h.updateID(workflows.UpdateApprove, "approve-1", workflows.ApproveInput{Actor: "support:amy"})
			h.at(time.Minute, func() {
				require.True(t, c.completed)
				require.True(t, d.completed, "a retried update with the same ID gets the first answer, not a refusal")
				require.Nil(t, d.rejected)
				h.mustUpdate(workflows.UpdateCancel, workflows.CancelInput{Actor: "support:amy"})
			})
		})
	})
	r := h.run(manual())
	require.Len(t, r.Notes, 1)
	n := 0
	for _, e := range r.Timeline {
		if e.Type == "approve_command" {
			n++
		}
	}
	require.Equal(t, 1, n)
}

// An agent claims a return from the team's queue, and support hands it on:
// the view shows who works it, the audit trail who gave it to whom, and the
// customer sees neither. A customer may not assign.
func TestClaimAndReassign(t *testing.T) {
	h := newHarness(t)
	h.at(time.Hour, func() {
		s := h.status()
		require.Equal(t, domain.StatusPendingReview, s.Status)
		require.Equal(t, s.Team, s.Assignee, "routed to the team")
		require.NotEmpty(t, s.Team)
		h.mustUpdate(workflows.UpdateAssign, workflows.AssignInput{Actor: "support:amy", Assignee: "support:amy"})
		bad := h.update(workflows.UpdateAssign, workflows.AssignInput{Acting: workflows.Acting{ActorRoles: []string{domain.RoleCustomer}}, Actor: "C-1", Assignee: "C-1"})
		empty := h.update(workflows.UpdateAssign, workflows.AssignInput{Actor: "support:amy"})
		warehouse := h.update(workflows.UpdateAssign, workflows.AssignInput{Acting: workflows.Acting{ActorRoles: []string{domain.RoleWarehouse}}, Actor: "warehouse:wu", Assignee: "warehouse:wu"})
		h.at(time.Minute, func() {
			require.ErrorContains(t, bad.rejected, "forbidden")
			require.ErrorContains(t, empty.rejected, "assignee")
			require.ErrorContains(t, warehouse.rejected, "does not wait on the warehouse")
			require.Equal(t, "support:amy", h.status().Assignee)
			again := h.update(workflows.UpdateAssign, workflows.AssignInput{Actor: "support:amy", Assignee: "support:amy"})
			h.at(time.Second, func() { require.ErrorContains(t, again.rejected, "already assigned to support:amy") })
			h.mustUpdate(workflows.UpdateAssign, workflows.AssignInput{Actor: "support:lead", Assignee: "support:bo", Team: "returns-cn", Reason: "Amy is off today"})
		})
		h.at(2*time.Minute, func() {
			h.mustUpdate(workflows.UpdateDecline, workflows.DeclineInput{Actor: "support:bo", Reason: "worn"})
		})
	})
	r := h.run(manual())
	require.Equal(t, domain.StatusDeclined, r.Status)
	require.Equal(t, "support:bo", r.Assignee)
	require.Equal(t, "returns-cn", r.Team, "moved to the team's queue")
	var details []string
	for _, e := range r.Timeline {
		if e.Type == "assigned" {
			details = append(details, e.Actor+" "+e.Detail)
		}
	}
	require.Equal(t, []string{"support:amy from support to support:amy", "support:lead from support:amy to support:bo: Amy is off today"}, details)
	c := r.CustomerView("C-1")
	require.Empty(t, c.Assignee)
	require.Empty(t, c.Team)
	require.Zero(t, countType(c, "assigned"))
}

// Ops read where a return is on its page in the Temporal UI: the workflow
// metadata's current details (the query the UI runs) name the status, whom
// it waits on, the next deadline and the assignee.
func TestCurrentDetailsForTheTemporalUI(t *testing.T) {
	h := newHarness(t)
	h.at(time.Hour, func() {
		v, err := h.env.QueryWorkflow("__temporal_workflow_metadata")
		require.NoError(t, err)
		var md sdkpb.WorkflowMetadata
		require.NoError(t, v.Get(&md))
		d := md.GetCurrentDetails()
		for _, want := range []string{"**pending_review**", "Waiting on: support", "Next deadline: reply_sla at ", "Assignee: support"} {
			require.Contains(t, d, want)
		}
		h.mustUpdate(workflows.UpdateCancel, workflows.CancelInput{Actor: "support:amy"})
	})
	r := h.run(manual())
	require.Equal(t, domain.StatusCancelled, r.Status)
}

// Support extends a review's deadline during an outage: the reminders and
// the escalation move with it, the view and the audit trail show it.
func TestExtendTheDeadline(t *testing.T) {
	h := newHarness(t)
	var before time.Time
	h.at(time.Hour, func() {
		s := h.status()
		require.NotNil(t, s.Deadline)
		before = s.Deadline.At
		bad := h.update(workflows.UpdateExtend, workflows.ExtendInput{Actor: "support:amy", By: "3 days", Reason: "outage"})
		h.mustUpdate(workflows.UpdateExtend, workflows.ExtendInput{Actor: "support:amy", By: "48h", Reason: "carrier outage"})
		h.at(time.Minute, func() {
			require.ErrorContains(t, bad.rejected, "by")
			s := h.status()
			require.Equal(t, before.Add(48*time.Hour), s.Deadline.At)
			require.Equal(t, 1, countType(s, "deadline_extended"))
		})
	})
	h.at(30*time.Hour, func() {
		s := h.status()
		require.Equal(t, domain.StatusPendingReview, s.Status)
		require.Empty(t, s.SLABreaches, "the reply SLA moved by 48 h")
	})
	h.at(80*time.Hour, func() {
		require.Contains(t, h.status().SLABreaches, "review_reply", "and still breaches, later")
		h.mustUpdate(workflows.UpdateCancel, workflows.CancelInput{Actor: "support:amy"})
	})
	r := h.run(manual())
	require.Equal(t, domain.StatusCancelled, r.Status)
}
