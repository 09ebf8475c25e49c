// Package bench measures rma against the engine it runs on: throughput of
// standard returns beside a floor workflow with the same billable shape and
// no business logic, the cost of a return counted from real histories by
// Temporal Cloud's billing rules, API latency under concurrent clients, and
// memory with thousands of returns waiting on their timers. `make bench`
// runs it (cmd/rmabench); docs/benchmarks.md records the figures.
package bench

import (
	"fmt"
	"sort"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"google.golang.org/protobuf/proto"
)

// PricePerMillion is Temporal Cloud's list price per million actions, in
// dollars.
const PricePerMillion = 50.0

// Cost is what one workflow run costs, counted from its history.
type Cost struct {
	Events  int
	Bytes   int
	Actions int
	// By names the billable operations and their actions.
	By map[string]int
}

// String is "41 actions (activity 18, timer 5, ...)".
func (c Cost) String() string {
	var parts []string
	for k, v := range c.By {
		parts = append(parts, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(parts)
	return fmt.Sprintf("%d events, %d bytes, %d actions (%s)", c.Events, c.Bytes, c.Actions, strings.Join(parts, ", "))
}

// CountCost applies Temporal Cloud's billing rules to a history: a workflow
// start is 1 action, each activity attempt 1, all local activities of one
// workflow task 1 together, each timer 1, signal 1, accepted update 1,
// search-attribute upsert 1, child workflow start 2. Queries and rejected
// updates leave no event, so they are not counted here (rma's API sends
// none: reads come from PostgreSQL, and caps are checked before an update).
func CountCost(h *historypb.History) Cost {
	c := Cost{Events: len(h.Events), Bytes: proto.Size(h), By: map[string]int{}}
	add := func(k string, n int) { c.By[k] += n; c.Actions += n }
	localInTask := false
	for _, e := range h.Events {
		switch e.EventType {
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
			add("start", 1)
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
			// The started event carries the attempt that finally ran;
			// earlier attempts were billed too.
			add("activity", int(max(e.GetActivityTaskStartedEventAttributes().GetAttempt(), 1)))
		case enumspb.EVENT_TYPE_TIMER_STARTED:
			add("timer", 1)
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
			add("signal", 1)
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
			add("update", 1)
		case enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
			add("search attributes", 1)
		case enumspb.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
			add("child workflow", 2)
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			localInTask = false
		case enumspb.EVENT_TYPE_MARKER_RECORDED:
			if e.GetMarkerRecordedEventAttributes().GetMarkerName() == "LocalActivity" && !localInTask {
				localInTask = true
				add("local activities", 1)
			}
		}
	}
	return c
}

// Dollars is the list price of n runs of this cost.
func (c Cost) Dollars(n int) float64 { return float64(c.Actions*n) * PricePerMillion / 1e6 }
