package bench

import (
	"context"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// The floor is what the engine costs without rma: a workflow with the
// billable shape of a standard return (the counts of activities, timers,
// signals, updates and upserts a recorded standard return has) and no
// business logic, no database and no partner. Returns per second over floor
// runs per second, on the same server and worker, is the overhead of
// everything rma adds.

// FloorWorkflowType and the names its driver uses.
const (
	FloorWorkflowType = "BenchFloor"
	FloorTaskQueue    = "rma-bench-floor"
	FloorUpdate       = "step"
	FloorSignal       = "scan"
)

// FloorKey is a search attribute the floor upserts, as a return upserts its
// status and deadline.
var FloorKey = temporal.NewSearchAttributeKeyKeyword("RmaStatus")

// Noop is the floor's local activity: a partner call that does nothing.
func Noop(context.Context) error { return nil }

// Floor waits four times like a standard return (shipping choice by update,
// first scan and delivery by signal, inspection by update), each wait under
// a durable timer; after each it runs local activities and upserts a search
// attribute as the return publishes. The second scan keeps the timer of the
// first, as the return's parcel wait does.
func Floor(ctx workflow.Context) error {
	updates, applied := 0, 0
	if err := workflow.SetUpdateHandler(ctx, FloorUpdate, func(ctx workflow.Context) (int, error) {
		updates++
		n := updates
		err := workflow.Await(ctx, func() bool { return applied >= n })
		return n, err
	}); err != nil {
		return err
	}
	scans := workflow.GetSignalChannel(ctx, FloorSignal)
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: 10 * time.Second, Summary: "noop"})
	local := func(n int) error {
		for i := 0; i < n; i++ {
			if err := workflow.ExecuteLocalActivity(lctx, Noop).Get(lctx, nil); err != nil {
				return err
			}
		}
		return nil
	}
	upsert := func(v string) error { return workflow.UpsertTypedSearchAttributes(ctx, FloorKey.ValueSet(v)) }
	var cancel workflow.CancelFunc
	arm := func() {
		tctx, c := workflow.WithCancel(ctx)
		workflow.NewTimerWithOptions(tctx, 48*time.Hour, workflow.TimerOptions{Summary: "deadline"})
		cancel = c
	}
	scan := func() { scans.Receive(ctx, nil) }

	arm() // shipping choice
	if err := workflow.Await(ctx, func() bool { return updates >= 1 }); err != nil {
		return err
	}
	cancel()
	if err := local(2); err != nil { // label + publication
		return err
	}
	if err := upsert("awaiting_shipment"); err != nil {
		return err
	}
	applied = 1
	arm() // the parcel's wait, kept across the first scan
	scan()
	if err := local(1); err != nil {
		return err
	}
	if err := upsert("in_transit"); err != nil {
		return err
	}
	scan()
	cancel()
	if err := local(1); err != nil {
		return err
	}
	if err := upsert("in_transit_delivered"); err != nil {
		return err
	}
	arm() // inspection
	if err := workflow.Await(ctx, func() bool { return updates >= 2 }); err != nil {
		return err
	}
	cancel()
	if err := local(3); err != nil { // disposition, refund, publication
		return err
	}
	if err := upsert("completed"); err != nil {
		return err
	}
	applied = 2
	return workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
}
