// Package workflows holds the Return workflow and its contract. contract.go is
// the only thing starters, the API and the CLI need: the task queue, the
// workflow ID of an RMA, and the name and payload of every update, signal and
// query. The workflow itself reads top to bottom like the business process in
// DESIGN.md: request, eligibility, review, prepare, return shipment, receive
// and inspect, resolve, close.
package workflows

import (
	"time"

	"github.com/rma-dev/rma/domain"
)

// TaskQueue is where return workflows and their activities run.
const TaskQueue = "rma-returns"

// WorkflowType is the registered name of the Return workflow.
const WorkflowType = "Return"

// WorkflowID is the workflow ID of an RMA: one return, one workflow, and a
// second start with the same RMA ID is rejected by Temporal.
func WorkflowID(rmaID string) string { return "return/" + rmaID }

// Updates carry human commands that need an answer. Their validators refuse an
// invalid command before anything is written to history.
const (
	UpdateApprove          = "approve"
	UpdateDecline          = "decline"
	UpdateRequestInfo      = "request-info"
	UpdateInfo             = "info"
	UpdateShippingChoice   = "shipping-choice"
	UpdateExchangeChoice   = "exchange-choice"
	UpdateCancel           = "cancel"
	UpdateReceive          = "receive"
	UpdateInspection       = "inspection"
	UpdateSurvey           = "survey"
	UpdateNote             = "note"
	UpdateRepairDone       = "repair-done"
	UpdateResolveAttention = "resolve-attention"
	// UpdateCreated is sent with the start (Update-with-Start): it answers
	// the create call with the return as it stands, and refuses a second
	// create that reuses the idempotency key with a different body.
	UpdateCreated = "created"
)

// ErrIdempotencyConflict is the refusal type of a create whose key was used
// for a different request.
const ErrIdempotencyConflict = "idempotency_conflict"

// CreatedInput carries the hash of the create request.
type CreatedInput struct {
	RequestHash string `json:"request_hash"`
}

// CreatedResult tells the caller whether this call started the return.
type CreatedResult struct {
	Created bool          `json:"created"`
	Return  domain.Return `json:"return"`
}

// SignalCarrierEvent carries carrier tracking events: fire-and-forget, and
// deduplicated by event ID inside the workflow.
const SignalCarrierEvent = "carrier-event"

// QueryStatus returns the domain.Return view.
const QueryStatus = "status"

// StartInput starts a Return workflow. The policy is a snapshot taken at
// start: editing the policy file later never changes a running return.
type StartInput struct {
	RMAID       string         `json:"rma_id"`
	Request     domain.Request `json:"request"`
	Policy      domain.Policy  `json:"policy"`
	RequestedAt time.Time      `json:"requested_at"`
	Actor       string         `json:"actor"`
	// RequestHash identifies the body behind the idempotency key.
	RequestHash string `json:"request_hash,omitempty"`
}

// ApproveInput approves a return under review.
type ApproveInput struct {
	Actor string `json:"actor"`
	Note  string `json:"note,omitempty"`
}

// DeclineInput declines a return under review.
type DeclineInput struct {
	Actor  string `json:"actor"`
	Reason string `json:"reason"`
	Note   string `json:"note,omitempty"`
}

// RequestInfoInput asks the customer for more information; the decision
// clock stops until the answer.
type RequestInfoInput struct {
	Actor    string `json:"actor"`
	Question string `json:"question"`
}

// InfoInput is the customer's answer.
type InfoInput struct {
	Actor  string   `json:"actor"`
	Answer string   `json:"answer"`
	Photos []string `json:"photos,omitempty"`
}

// ShippingChoiceInput picks carrier pickup or drop-off.
type ShippingChoiceInput struct {
	Actor  string                `json:"actor"`
	Method domain.ShippingMethod `json:"method"`
}

// ExchangeChoiceInput answers an out-of-stock replacement. LineID may be
// empty when only one line waits for a choice.
type ExchangeChoiceInput struct {
	Actor  string                `json:"actor"`
	LineID string                `json:"line_id,omitempty"`
	Choice domain.ExchangeChoice `json:"choice"`
	SKU    string                `json:"sku,omitempty"`
}

// CancelInput cancels a return that has not been received.
type CancelInput struct {
	Actor  string `json:"actor"`
	Reason string `json:"reason,omitempty"`
}

// ReceiveInput records the parcel's arrival at the warehouse.
type ReceiveInput struct {
	Actor string `json:"actor"`
	Note  string `json:"note,omitempty"`
}

// InspectionItem is the verdict on one line. Reason, when set, reclassifies
// the return reason (claimed defective, no defect found).
type InspectionItem struct {
	LineID      string                  `json:"line_id"`
	Result      domain.InspectionResult `json:"result"`
	Disposition domain.Disposition      `json:"disposition"`
	Note        string                  `json:"note,omitempty"`
	Photos      []string                `json:"photos,omitempty"`
	Reason      domain.Reason           `json:"reason,omitempty"`
}

// InspectionInput records inspection of some or all lines.
type InspectionInput struct {
	Actor string           `json:"actor"`
	Items []InspectionItem `json:"items"`
}

// SurveyInput is the customer's satisfaction answer.
type SurveyInput struct {
	Actor   string `json:"actor"`
	Score   int    `json:"score"`
	Comment string `json:"comment,omitempty"`
}

// NoteInput adds an internal support note.
type NoteInput struct {
	Actor string `json:"actor"`
	Note  string `json:"note"`
}

// RepairDoneInput says a repaired line is ready to go back.
type RepairDoneInput struct {
	Actor  string `json:"actor"`
	LineID string `json:"line_id"`
	Note   string `json:"note,omitempty"`
}

// Attention actions.
const (
	AttentionRetry   = "retry"
	AttentionAbandon = "abandon"
)

// ResolveAttentionInput is support's answer to a return in needs_attention:
// retry the failed step (after fixing its cause) or abandon it to manual
// handling.
type ResolveAttentionInput struct {
	Actor  string `json:"actor"`
	Action string `json:"action"`
	Note   string `json:"note,omitempty"`
}

// CarrierEvent is a tracking event, as the carrier webhook delivers it.
type CarrierEvent struct {
	EventID        string                  `json:"event_id"`
	TrackingNumber string                  `json:"tracking_number"`
	Type           domain.CarrierEventType `json:"type"`
	OccurredAt     time.Time               `json:"occurred_at"`
	Detail         string                  `json:"detail,omitempty"`
}
