package bench

import (
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
)

func ev(t enumspb.EventType, attrs ...func(*historypb.HistoryEvent)) *historypb.HistoryEvent {
	e := &historypb.HistoryEvent{EventType: t}
	for _, a := range attrs {
		a(e)
	}
	return e
}

func marker(name string) func(*historypb.HistoryEvent) {
	return func(e *historypb.HistoryEvent) {
		e.Attributes = &historypb.HistoryEvent_MarkerRecordedEventAttributes{MarkerRecordedEventAttributes: &historypb.MarkerRecordedEventAttributes{MarkerName: name}}
	}
}

func attempt(n int32) func(*historypb.HistoryEvent) {
	return func(e *historypb.HistoryEvent) {
		e.Attributes = &historypb.HistoryEvent_ActivityTaskStartedEventAttributes{ActivityTaskStartedEventAttributes: &historypb.ActivityTaskStartedEventAttributes{Attempt: n}}
	}
}

// TestCountCostBillingRules builds a history with one of each billable
// operation and checks the count against Temporal Cloud's rules: local
// activities of one workflow task are one action together, every activity
// attempt is one, a child start is two, version markers and task events
// are free.
func TestCountCostBillingRules(t *testing.T) {
	h := &historypb.History{Events: []*historypb.HistoryEvent{
		ev(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED),
		ev(enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED),
		ev(enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED),
		ev(enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED),
		// Three local activities and a version marker in one task: 1.
		ev(enumspb.EVENT_TYPE_MARKER_RECORDED, marker("Version")),
		ev(enumspb.EVENT_TYPE_MARKER_RECORDED, marker("LocalActivity")),
		ev(enumspb.EVENT_TYPE_MARKER_RECORDED, marker("LocalActivity")),
		ev(enumspb.EVENT_TYPE_MARKER_RECORDED, marker("LocalActivity")),
		ev(enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES),
		ev(enumspb.EVENT_TYPE_TIMER_STARTED),
		ev(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED),
		ev(enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED),
		ev(enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED),
		ev(enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED),
		ev(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED),
		ev(enumspb.EVENT_TYPE_TIMER_CANCELED),
		// A local activity in the next task: 1 more.
		ev(enumspb.EVENT_TYPE_MARKER_RECORDED, marker("LocalActivity")),
		ev(enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED),
		// Third attempt: three actions.
		ev(enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED, attempt(3)),
		ev(enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED),
		ev(enumspb.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED),
		ev(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED),
		ev(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED),
	}}
	c := CountCost(h)
	want := map[string]int{"start": 1, "local activities": 2, "search attributes": 1, "timer": 1, "signal": 1, "update": 1, "activity": 3, "child workflow": 2}
	total := 0
	for k, n := range want {
		total += n
		if c.By[k] != n {
			t.Errorf("%s = %d, want %d (all: %v)", k, c.By[k], n, c.By)
		}
	}
	if len(c.By) != len(want) || c.Actions != total || c.Events != len(h.Events) {
		t.Errorf("cost = %s, want %d actions over %d events", c, total, len(h.Events))
	}
	if got := c.Dollars(1000); got != float64(total)*1000*PricePerMillion/1e6 {
		t.Errorf("dollars per 1,000 = %v", got)
	}
}
