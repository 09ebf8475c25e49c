package worker

import (
	"context"
	"net"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/workflow"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/devtemporal"
	"github.com/rma-dev/rma/workflows"
)

// TestDeploymentVersioning runs a worker with --deployment-name on the
// embedded server: the build registers as a version of the deployment,
// takes work once it is made current, and the workflows it runs are
// auto-upgrade, as the README's versioning policy says.
func TestDeploymentVersioning(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	srv, err := devtemporal.Start(ctx, devtemporal.Options{DataDir: t.TempDir(), FrontendPort: port})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	c, err := client.Dial(client.Options{HostPort: srv.FrontendAddress(), Namespace: srv.Namespace()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	o := DefaultOptions()
	o.DeploymentName, o.BuildID = "rma-test", "build-1"
	w := New(c, &activities.Activities{}, o)
	// A workflow with no partner calls, registered beside the real ones,
	// proves the routing without the ports.
	w.RegisterWorkflowWithOptions(func(workflow.Context) (string, error) { return "pong", nil }, workflow.RegisterOptions{Name: "ping"})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	h := c.WorkerDeploymentClient().GetHandle("rma-test")
	for {
		d, err := h.Describe(ctx, client.WorkerDeploymentDescribeOptions{})
		if err == nil && len(d.Info.VersionSummaries) == 1 && d.Info.VersionSummaries[0].Version.BuildID == "build-1" {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the worker's build never registered with the deployment: %v %+v", err, d)
		case <-time.After(200 * time.Millisecond):
		}
	}
	if _, err := h.SetCurrentVersion(ctx, client.WorkerDeploymentSetCurrentVersionOptions{BuildID: "build-1"}); err != nil {
		t.Fatal(err)
	}
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "ping-1", TaskQueue: workflows.TaskQueue}, "ping")
	if err != nil {
		t.Fatal(err)
	}
	var got string
	if err := run.Get(ctx, &got); err != nil || got != "pong" {
		t.Fatalf("ping = %q, %v", got, err)
	}
	desc, err := c.DescribeWorkflowExecution(ctx, "ping-1", run.GetRunID())
	if err != nil {
		t.Fatal(err)
	}
	vi := desc.GetWorkflowExecutionInfo().GetVersioningInfo()
	if vi.GetBehavior() != enumspb.VERSIONING_BEHAVIOR_AUTO_UPGRADE || vi.GetDeploymentVersion().GetBuildId() != "build-1" {
		t.Fatalf("versioning info = %v, want auto-upgrade on build-1", vi)
	}
}
