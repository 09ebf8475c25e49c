package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/domain"
)

// AnomalyWorkflowType is the batch return-rate check a Temporal Schedule
// starts (no cron): AnomalyScheduleID runs it every policy.anomaly.check_every.
const (
	AnomalyWorkflowType = "AnomalyCheck"
	AnomalyScheduleID   = "rma-anomaly-check"
)

// AnomalyInput is the rule to apply.
type AnomalyInput struct {
	Rule domain.AnomalyPolicy `json:"rule"`
}

// AnomalyCheck finds batches whose return rate jumped above their SKU's
// baseline and tells the quality team about each, naming the batch, its
// rate, the baseline and the sample size.
func AnomalyCheck(ctx workflow.Context, in AnomalyInput) ([]domain.Anomaly, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		Summary: "read batch sales and returns", StartToCloseTimeout: time.Minute, ScheduleToCloseTimeout: 30 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
	})
	var found []domain.Anomaly
	if err := workflow.ExecuteActivity(ctx, act.DetectAnomalies, in.Rule).Get(ctx, &found); err != nil {
		return nil, err
	}
	if len(found) == 0 {
		return found, nil
	}
	// One outbox write for every alert; the relay delivers them.
	day := workflow.Now(ctx).UTC().Format("2006-01-02")
	var notices []activities.Notification
	for _, a := range found {
		notices = append(notices, activities.Notification{
			Key: activities.Key("anomaly", day, a.SKU, a.Batch), To: activities.ToQuality, Template: "batch_anomaly", Locale: domain.LocaleZhCN,
			Params: map[string]string{"sku": a.SKU, "batch": a.Batch, "rate": fmt.Sprintf("%.1f%%", a.Rate*100),
				"baseline": fmt.Sprintf("%.1f%%", a.Baseline*100), "sample": fmt.Sprint(a.Sample), "returned": fmt.Sprint(a.Returned), "z": fmt.Sprint(a.Z)},
		})
	}
	nctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		Summary: fmt.Sprintf("tell quality about %d batch(es), first %s of %s", len(found), found[0].Batch, found[0].SKU), StartToCloseTimeout: 30 * time.Second, ScheduleToCloseTimeout: 30 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
	})
	if err := workflow.ExecuteActivity(nctx, act.Enqueue, notices).Get(nctx, nil); err != nil {
		return found, err
	}
	return found, nil
}
