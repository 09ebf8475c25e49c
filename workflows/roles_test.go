package workflows_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/rma-dev/rma/domain"
	"github.com/rma-dev/rma/workflows"
)

// A command from an actor without the role is refused by the validator (so
// it writes nothing to history, not even a rejection), whatever its stage;
// admin may send any command; and the timeline names the real actor of
// each review step, not a generic "support".
func TestValidatorsRefuseActorsWithoutTheRole(t *testing.T) {
	h := newHarness(t)
	var refused []*updResult
	h.at(time.Hour, func() {
		for _, roles := range [][]string{{domain.RoleWarehouse}, {domain.RoleCustomer}, {domain.RoleBackend, domain.RoleAnalyst}} {
			in := workflows.ApproveInput{Actor: "mallory"}
			in.ActorRoles = roles
			refused = append(refused, h.update(workflows.UpdateApprove, in))
		}
		in := workflows.RequestInfoInput{Actor: "amy", Question: "a photo of the tag?"}
		in.ActorRoles = []string{domain.RoleSupport}
		h.mustUpdate(workflows.UpdateRequestInfo, in)
	})
	h.at(2*time.Hour, func() {
		in := workflows.InfoInput{Actor: "C-1", Answer: "attached", Photos: []string{"https://img.example/1.jpg"}}
		in.ActorRoles = []string{domain.RoleCustomer}
		h.mustUpdate(workflows.UpdateInfo, in)
	})
	h.at(3*time.Hour, func() {
		in := workflows.ApproveInput{Actor: "root"}
		in.ActorRoles = []string{domain.RoleAdmin}
		h.mustUpdate(workflows.UpdateApprove, in)
	})
	h.at(4*time.Hour, func() {
		h.mustUpdate(workflows.UpdateCancel, workflows.CancelInput{Actor: "C-1", Reason: "changed my mind"})
	})
	r := h.run(manual())

	for _, res := range refused {
		var ae *temporal.ApplicationError
		require.True(t, errors.As(res.rejected, &ae), "refused: %v", res.rejected)
		require.Equal(t, workflows.ErrForbidden, ae.Type())
		require.Contains(t, ae.Error(), "cannot approve: the actor needs one of the roles support")
		require.False(t, res.completed)
	}
	actors := map[string]string{}
	for _, e := range r.Timeline {
		actors[e.Type] = e.Actor
	}
	require.Equal(t, "amy", actors["awaiting_info"], "the request for info is amy's")
	require.Equal(t, "C-1", actors["review_resumed"], "the answer is the customer's")
	require.Equal(t, "root", actors["approved"], "the approval is root's")
	require.Equal(t, "C-1", actors["cancel_command"])
	require.Equal(t, domain.StatusCancelled, r.Status)
}
