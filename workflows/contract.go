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
	UpdateNote             = "note"
	UpdateRepairDone       = "repair-done"
	UpdateResolveAttention = "resolve-attention"
	// UpdateAssign gives a return to an agent or a warehouse user: a claim
	// (to oneself) or a reassignment, recorded on the audit trail.
	UpdateAssign = "assign"
	// UpdateExtend moves the current wait's deadline (and its reminders)
	// later, e.g. during a carrier outage (rma ops extend).
	UpdateExtend = "extend-deadline"
	// UpdateOverrideRefund changes what a line pays back (an amount, or
	// the fees waived) before it is refunded; beyond the policy's
	// overrides.support_limit it needs the admin role.
	UpdateOverrideRefund = "override-refund"
	// UpdateGoodwill grants goodwill credit (a coupon or store credit) on
	// an open return; beyond overrides.support_limit it needs admin.
	UpdateGoodwill = "goodwill"
	// UpdateRefundMethod changes how the customer's money comes back
	// (original, store_credit, bank_transfer, e_wallet), before it does.
	UpdateRefundMethod = "refund-method"
	// UpdateInspectionAnswer is the customer's answer to a failed line:
	// accept it back, let the merchant dispose of it, or dispute.
	UpdateInspectionAnswer = "inspection-answer"
	// UpdateDisputeDecision is support's decision on a disputed
	// inspection: uphold it or overturn it (the line passes).
	UpdateDisputeDecision = "dispute-decision"
	// UpdateKeepOffer offers a partial refund to keep a line's item
	// instead of sending it back (support, during review); the customer
	// answers with UpdateKeepAnswer after approval.
	UpdateKeepOffer  = "keep-offer"
	UpdateKeepAnswer = "keep-answer"
)

// CommandResult is every update's answer: small, because it is stored in
// the history. By the time it arrives the read model already shows the
// command's effect at Seq (or later), so the caller reads the return there.
type CommandResult struct {
	Status domain.Status `json:"status"`
	Seq    int64         `json:"seq"`
}

// Acting is who sends a command and in which roles. Every update payload
// embeds it: the API stamps the caller's token, and the update's validator
// refuses an actor without a role the command needs (CommandRoles), so the
// refusal writes nothing to history.
type Acting struct {
	ActorRoles []string `json:"actor_roles,omitempty"`
}

// SetActorRoles stamps the roles the command is sent with.
func (a *Acting) SetActorRoles(roles []string) { a.ActorRoles = roles }

func (a Acting) actorRoles() []string { return a.ActorRoles }

// CommandRoles are the roles that may send an update (admin may send any).
func CommandRoles(name string) []string {
	switch name {
	case UpdateApprove, UpdateDecline, UpdateRequestInfo, UpdateNote, UpdateResolveAttention:
		return []string{domain.RoleSupport}
	case UpdateInfo:
		return []string{domain.RoleCustomer, domain.RoleBackend, domain.RoleSupport}
	case UpdateShippingChoice, UpdateExchangeChoice:
		return []string{domain.RoleCustomer, domain.RoleBackend}
	case UpdateCancel:
		return []string{domain.RoleBackend, domain.RoleSupport, domain.RoleCustomer}
	case UpdateReceive, UpdateInspection, UpdateRepairDone:
		return []string{domain.RoleWarehouse}
	case UpdateAssign:
		return []string{domain.RoleSupport, domain.RoleWarehouse}
	case UpdateExtend, UpdateOverrideRefund, UpdateGoodwill:
		return []string{domain.RoleSupport}
	case UpdateRefundMethod, UpdateInspectionAnswer:
		return []string{domain.RoleCustomer, domain.RoleBackend, domain.RoleSupport}
	case UpdateDisputeDecision, UpdateKeepOffer:
		return []string{domain.RoleSupport}
	case UpdateKeepAnswer:
		return []string{domain.RoleCustomer, domain.RoleBackend, domain.RoleSupport}
	}
	return nil
}

// Outcome is the workflow's result: how the return ended, and the read
// model's seq that shows it.
type Outcome struct {
	Status      domain.Status `json:"status"`
	Seq         int64         `json:"seq"`
	RefundTotal domain.Money  `json:"refund_total"`
}

// Error types of refused commands: the API maps invalid_transition to 409,
// invalid_input to 422 and forbidden to 403.
const (
	ErrInvalidTransition = "invalid_transition"
	ErrInvalidInput      = "invalid_input"
	// ErrForbidden: the actor lacks a role the command needs (403).
	ErrForbidden = "forbidden"
)

// SignalCarrierEvent carries carrier tracking events: fire-and-forget, and
// deduplicated by event ID inside the workflow.
const SignalCarrierEvent = "carrier-event"

// SignalRestock tells a return waiting for a backordered replacement that
// its SKU is back in stock (the inventory webhook, POST
// /v1/webhooks/inventory). Fire-and-forget; the workflow reserves for real
// and ships, or keeps waiting if the stock went elsewhere.
const SignalRestock = "inventory-restock"

// RestockEvent is an inventory restock, as the webhook delivers it.
type RestockEvent struct {
	EventID   string    `json:"event_id"`
	SKU       string    `json:"sku"`
	Available int       `json:"available"`
	At        time.Time `json:"at"`
}

// QueryStatus returns the domain.Return view.
const QueryStatus = "status"

// StartInput starts a Return workflow. The policy is a snapshot taken at
// start: editing the policy file later never changes a running return.
// History is the customer's recent returns, read by the starter, so the
// abuse rules see the same facts wherever domain.Open runs.
type StartInput struct {
	RMAID       string                 `json:"rma_id"`
	Request     domain.Request         `json:"request"`
	Policy      domain.Policy          `json:"policy"`
	RequestedAt time.Time              `json:"requested_at"`
	Actor       string                 `json:"actor"`
	History     domain.CustomerHistory `json:"history"`
	// OpeningPublished says the starter already wrote the opening (seq 1:
	// the view, its audit entries and notices) to the read model, in the
	// same transaction as the idempotency key; the workflow then starts
	// from it without publishing it again.
	OpeningPublished bool `json:"opening_published,omitempty"`
	// PolicyVersion is the stored version Policy is (0: a policy file);
	// the view and the RmaPolicyVersion search attribute show it.
	PolicyVersion int `json:"policy_version,omitempty"`
	// Features is the behaviour level the return started with
	// (FeaturesCurrent when the starter started it). A release that changes
	// what a running return does raises it, so returns started before it
	// replay as they ran: 1 adds the stage notices (docs/notifications.md),
	// refund methods, and compensation for returns that end declined,
	// cancelled or expired after a merchant SLA breach.
	Features int `json:"features,omitempty"`
}

// FeaturesCurrent is the behaviour level of this release (StartInput.Features).
const FeaturesCurrent = 1

// Opening is what domain.Open makes of a start input: the API answers the
// create call with it and the workflow starts from it.
func (in StartInput) Opening() domain.Opening {
	return domain.Open(domain.OpenInput{RMAID: in.RMAID, Request: in.Request, Policy: in.Policy, At: in.RequestedAt, Actor: in.Actor, History: in.History, PolicyVersion: in.PolicyVersion, StageNotices: in.Features >= 1})
}

// ApproveInput approves a return under review.
type ApproveInput struct {
	Acting
	Actor string `json:"actor"`
	Note  string `json:"note,omitempty"`
}

// DeclineInput declines a return under review.
type DeclineInput struct {
	Acting
	Actor  string `json:"actor"`
	Reason string `json:"reason"`
	Note   string `json:"note,omitempty"`
}

// RequestInfoInput asks the customer for more information; the decision
// clock stops until the answer.
type RequestInfoInput struct {
	Acting
	Actor    string `json:"actor"`
	Question string `json:"question"`
}

// InfoInput is the customer's answer.
type InfoInput struct {
	Acting
	Actor  string   `json:"actor"`
	Answer string   `json:"answer"`
	Photos []string `json:"photos,omitempty"`
}

// ShippingChoiceInput picks carrier pickup or drop-off.
type ShippingChoiceInput struct {
	Acting
	Actor  string                `json:"actor"`
	Method domain.ShippingMethod `json:"method"`
}

// ExchangeChoiceInput answers an out-of-stock replacement. LineID may be
// empty when only one line waits for a choice.
type ExchangeChoiceInput struct {
	Acting
	Actor  string                `json:"actor"`
	LineID string                `json:"line_id,omitempty"`
	Choice domain.ExchangeChoice `json:"choice"`
	SKU    string                `json:"sku,omitempty"`
}

// CancelInput cancels a return that has not been received.
type CancelInput struct {
	Acting
	Actor  string `json:"actor"`
	Reason string `json:"reason,omitempty"`
}

// ReceiveInput records the parcel's arrival at the warehouse.
type ReceiveInput struct {
	Acting
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
	// Checks are the category's checks (policy inspection.checks), true
	// for ok: seal, activation, serial_number, tags.
	Checks map[string]bool `json:"checks,omitempty"`
	// ValueLoss is the loss of value from handling beyond inspection,
	// deducted from the refund where the policy allows it (eu-crd).
	ValueLoss *domain.Money `json:"value_loss,omitempty"`
	// PassedUnits, with Result partial, is how many of the line's units
	// passed; the others go to FailDisposition (default quarantine).
	PassedUnits     int                `json:"passed_units,omitempty"`
	FailDisposition domain.Disposition `json:"fail_disposition,omitempty"`
}

// InspectionInput records inspection of some or all lines.
type InspectionInput struct {
	Acting
	Actor string           `json:"actor"`
	Items []InspectionItem `json:"items"`
}

// SurveyInput is the customer's satisfaction answer. It is not an update:
// the workflow has ended when the survey opens, and the API stores the
// answer in the read model for policy.survey.window after completion.
type SurveyInput struct {
	Actor   string `json:"actor"`
	Score   int    `json:"score"`
	Comment string `json:"comment,omitempty"`
}

// AssignInput gives the return to Assignee (an agent's or a warehouse
// user's token subject, or a team), with an optional reason.
type AssignInput struct {
	Acting
	Actor    string `json:"actor"`
	Assignee string `json:"assignee"`
	// Team, when set, moves the return to that team's queue as well.
	Team   string `json:"team,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// ExtendInput moves the current deadline By later (a Go duration, 1m to
// 30 days), with the reason on the audit trail.
type ExtendInput struct {
	Acting
	Actor  string `json:"actor"`
	By     string `json:"by"`
	Reason string `json:"reason"`
}

// Duration is By, parsed (Validate checks it).
func (in ExtendInput) Duration() time.Duration {
	d, _ := time.ParseDuration(in.By)
	return d
}

// OverrideRefundInput changes line LineID's refund: Amount is its net
// refund (at most what the line was paid), or WaiveFees pays it back
// without the policy's fees. Reason goes on the audit trail.
type OverrideRefundInput struct {
	Acting
	Actor     string        `json:"actor"`
	LineID    string        `json:"line_id"`
	Amount    *domain.Money `json:"amount,omitempty"`
	WaiveFees bool          `json:"waive_fees,omitempty"`
	Reason    string        `json:"reason"`
}

func (in OverrideRefundInput) commandLine() string { return in.LineID }

// RefundMethodInput is how the customer wants money back: Method is
// original, store_credit, bank_transfer or e_wallet (then Account is the
// bank account or the wallet).
type RefundMethodInput struct {
	Acting
	Actor   string `json:"actor"`
	Method  string `json:"method"`
	Account string `json:"account,omitempty"`
}

// Answers to a failed inspection.
const (
	AnswerAccept  = "accept"  // send it back to me
	AnswerDispose = "dispose" // the merchant may dispose of it
	AnswerDispute = "dispute" // support reviews the inspection
)

// InspectionAnswerInput answers a failed line (LineID may be empty when one
// line waits). A dispute carries the customer's evidence.
type InspectionAnswerInput struct {
	Acting
	Actor    string   `json:"actor"`
	LineID   string   `json:"line_id,omitempty"`
	Choice   string   `json:"choice"`
	Evidence string   `json:"evidence,omitempty"`
	Photos   []string `json:"photos,omitempty"`
}

// DisputeDecisionInput is support's decision on a disputed line: uphold
// (the inspection stands) or overturn (the line passes and is paid).
type DisputeDecisionInput struct {
	Acting
	Actor    string `json:"actor"`
	LineID   string `json:"line_id"`
	Decision string `json:"decision"`
	Note     string `json:"note,omitempty"`
}

// KeepOfferInput offers Amount back if the customer keeps line LineID.
type KeepOfferInput struct {
	Acting
	Actor  string       `json:"actor"`
	LineID string       `json:"line_id"`
	Amount domain.Money `json:"amount"`
	Reason string       `json:"reason,omitempty"`
}

// KeepAnswerInput is the customer's answer to a keep offer.
type KeepAnswerInput struct {
	Acting
	Actor  string `json:"actor"`
	LineID string `json:"line_id"`
	Accept bool   `json:"accept"`
}

func (in KeepOfferInput) commandLine() string  { return in.LineID }
func (in KeepAnswerInput) commandLine() string { return in.LineID }

// GoodwillInput grants Amount of goodwill credit: Kind is coupon or
// store_credit (the default).
type GoodwillInput struct {
	Acting
	Actor  string       `json:"actor"`
	Amount domain.Money `json:"amount"`
	Kind   string       `json:"kind,omitempty"`
	Reason string       `json:"reason"`
}

// NoteInput adds an internal support note.
type NoteInput struct {
	Acting
	Actor string `json:"actor"`
	Note  string `json:"note"`
}

// RepairDoneInput says a repaired line is ready to go back.
type RepairDoneInput struct {
	Acting
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
// retry the failed step (after fixing its cause), or abandon it: support
// finished the return by hand, and Outcome (completed or cancelled) is the
// status it ends in. Nothing is undone on abandon.
type ResolveAttentionInput struct {
	Acting
	Actor   string        `json:"actor"`
	Action  string        `json:"action"`
	Outcome domain.Status `json:"outcome,omitempty"`
	Note    string        `json:"note,omitempty"`
}

// CarrierEvent is a tracking event, as the carrier webhook delivers it.
type CarrierEvent struct {
	EventID        string                  `json:"event_id"`
	TrackingNumber string                  `json:"tracking_number"`
	Type           domain.CarrierEventType `json:"type"`
	OccurredAt     time.Time               `json:"occurred_at"`
	Detail         string                  `json:"detail,omitempty"`
}
