// Package chaos is the bounded chaos run of `make chaos`
// (docs/reliability.md). It starts the whole system as separate processes
// on loopback (package topology: PostgreSQL, a Temporal server, `rma sim`,
// `rma api` and two `rma worker`s), injects partner faults, kills a worker
// every few seconds, restarts the Temporal server once midway, drives
// returns of every kind down every path while commands race the flow, and
// then audits the simulators' ledgers and the read model against the
// workflows. With Config.Tools the server is a real Temporal cluster on
// PostgreSQL (the real-cluster e2e test).
package chaos

import (
	"fmt"
	"io"
	"strings"
	"time"
)

const (
	token  = "chaos-admin-token-8d3b61f0"
	secret = "chaos-webhook-secret"
)

// chaosPolicy scales the deadlines the paths wait out to seconds, so a run
// ends in minutes: a return whose customer never picks a shipping method
// expires after choiceWithin.
const chaosPolicy = `review:
  reply_sla: 60s
  reply_reminder_before: 20s
  decision_sla: 120s
  decision_reminder_before: 30s
  info_within: 120s
  info_reminder_before: 30s
shipping:
  choice_within: 25s
  choice_reminder_before: 10s
  pickup_within: 180s
  pickup_reminder_before: 60s
  dropoff_within: 180s
  dropoff_reminder_before: 60s
  logistics_buffer: 60s
  transit_within: 300s
inspection:
  within: 300s
exchange:
  choice_within: 120s
  choice_reminder_before: 30s
repair:
  within: 300s
abuse:
  max_returns: 1000000
  max_value: 100000000000
`

// logf writes a progress line.
func logf(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "%s %s\n", time.Now().Format("15:04:05"), strings.TrimSpace(fmt.Sprintf(format, args...)))
}
