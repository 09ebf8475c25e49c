// Package worker builds and runs the rma Temporal worker. Register is the one
// place where workflows and activities are registered, so tests, `rma dev`
// and `rma worker` run exactly the same set.
package worker

import (
	"go.temporal.io/sdk/workflow"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/workflows"
)

// Registry is what Register needs: a real worker or a test environment.
type Registry interface {
	RegisterWorkflowWithOptions(w any, options workflow.RegisterOptions)
	RegisterActivity(a any)
}

// Register registers the workflows and every activity of a.
func Register(r Registry, a *activities.Activities) {
	r.RegisterWorkflowWithOptions(workflows.Return, workflow.RegisterOptions{Name: workflows.WorkflowType})
	r.RegisterWorkflowWithOptions(workflows.AnomalyCheck, workflow.RegisterOptions{Name: workflows.AnomalyWorkflowType})
	r.RegisterActivity(a)
}
