package worker

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.uber.org/zap"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/workflows"
)

// Options sizes the worker. The defaults fit a 2-core machine. Activities are
// I/O-bound HTTP calls, so more of them than cores is fine; so are workflow
// tasks, because a return's partner calls and its publication run as local
// activities inside its workflow task and wait on the network, not the CPU.
type Options struct {
	MaxConcurrentActivities    int
	MaxConcurrentWorkflowTasks int
	// WorkflowTaskPollers are the long polls open for workflow tasks.
	WorkflowTaskPollers int
	// DrainTimeout is how long Stop waits for in-flight activities.
	DrainTimeout time.Duration
	// WorkflowCache is how many open returns the worker keeps in memory
	// between their workflow tasks. A return evicted from it is rebuilt by
	// replaying its history (tens of events) when it next wakes, so the
	// cache bounds memory, not correctness: returns wait for days, and a
	// worker holding every open one would grow without limit. It is
	// process-wide (the SDK's sticky cache).
	WorkflowCache int
	// DeploymentName, when set, turns on Temporal's worker deployment
	// versioning: the worker polls as version BuildID of that deployment,
	// and a new build takes work only once it is made current (or ramped)
	// with `temporal worker deployment set-current-version`. Returns
	// default to auto-upgrade: their changes are GetVersion-guarded and
	// replay-tested, so a running return moves to the new build at its next
	// task instead of pinning an old build for weeks.
	DeploymentName string
	// BuildID identifies this build within the deployment (the git commit).
	BuildID string
}

// DefaultOptions returns the 2-core sizing.
func DefaultOptions() Options {
	return Options{MaxConcurrentActivities: 32, MaxConcurrentWorkflowTasks: 16, WorkflowTaskPollers: 16, DrainTimeout: 30 * time.Second, WorkflowCache: 1000}
}

// Run registers everything and polls the task queue until ctx ends, then
// stops polling and waits (up to DrainTimeout) for in-flight activities to
// finish so no partner call is cut in half.
func Run(ctx context.Context, c client.Client, a *activities.Activities, o Options) error {
	w := New(c, a, o)
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	<-ctx.Done()
	w.Stop()
	return nil
}

// New builds a registered worker without starting it.
func New(c client.Client, a *activities.Activities, o Options) sdkworker.Worker {
	if o.MaxConcurrentActivities == 0 {
		o = DefaultOptions()
	}
	if o.WorkflowCache > 0 {
		sdkworker.SetStickyWorkflowCacheSize(o.WorkflowCache)
	}
	w := sdkworker.New(c, workflows.TaskQueue, sdkOptions(o))
	Register(w, a)
	return w
}

func sdkOptions(o Options) sdkworker.Options {
	so := sdkworker.Options{
		MaxConcurrentActivityExecutionSize:     o.MaxConcurrentActivities,
		MaxConcurrentWorkflowTaskExecutionSize: o.MaxConcurrentWorkflowTasks,
		MaxConcurrentWorkflowTaskPollers:       o.WorkflowTaskPollers,
		WorkerStopTimeout:                      o.DrainTimeout,
	}
	if o.DeploymentName != "" {
		so.DeploymentOptions = sdkworker.DeploymentOptions{
			UseVersioning:             true,
			Version:                   sdkworker.WorkerDeploymentVersion{DeploymentName: o.DeploymentName, BuildID: o.BuildID},
			DefaultVersioningBehavior: workflow.VersioningBehaviorAutoUpgrade,
		}
	}
	return so
}

// Logger adapts zap to the SDK's logger so workflow and activity logs share
// rma's structured format (keyvals become zap fields).
type Logger struct{ Z *zap.SugaredLogger }

// NewLogger wraps a zap logger for client.Options.Logger.
func NewLogger(z *zap.Logger) Logger { return Logger{Z: z.Named("temporal-sdk").Sugar()} }

// Debug logs at debug level.
func (l Logger) Debug(msg string, kv ...any) { l.Z.Debugw(msg, kv...) }

// Info logs at info level.
func (l Logger) Info(msg string, kv ...any) { l.Z.Infow(msg, kv...) }

// Warn logs at warn level.
func (l Logger) Warn(msg string, kv ...any) { l.Z.Warnw(msg, kv...) }

// Error logs at error level.
func (l Logger) Error(msg string, kv ...any) { l.Z.Errorw(msg, kv...) }

// With returns a logger carrying keyvals on every line.
func (l Logger) With(kv ...any) log.Logger { return Logger{Z: l.Z.With(kv...)} }
