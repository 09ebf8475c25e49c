package workflows

import (
	"fmt"
	"time"

	"github.com/rma-dev/rma/domain"
)

// Every command payload checks its own shape and caps (domain/limits.go).
// The API calls Validate before it sends an update, so bad input costs no
// round trip to Temporal and is answered 422 with the field; the workflow's
// validators call it again, so a caller that bypasses the API (the CLI, a
// Go backend) is held to the same caps.

func actor(c *domain.Checker, a string) { c.Required("actor", a, domain.MaxActorLen) }

// Validate checks an approval.
func (in ApproveInput) Validate() error {
	var c domain.Checker
	actor(&c, in.Actor)
	c.Text("note", in.Note, domain.MaxTextLen)
	return c.Err()
}

// Validate checks a decline.
func (in DeclineInput) Validate() error {
	var c domain.Checker
	actor(&c, in.Actor)
	c.Required("reason", in.Reason, domain.MaxShortTextLen)
	c.Text("note", in.Note, domain.MaxTextLen)
	return c.Err()
}

// Validate checks a request for information.
func (in RequestInfoInput) Validate() error {
	var c domain.Checker
	actor(&c, in.Actor)
	c.Required("question", in.Question, domain.MaxTextLen)
	return c.Err()
}

// Validate checks the customer's answer.
func (in InfoInput) Validate() error {
	var c domain.Checker
	c.Text("actor", in.Actor, domain.MaxActorLen)
	c.Required("answer", in.Answer, domain.MaxTextLen)
	c.Photos("photos", in.Photos)
	return c.Err()
}

// Validate checks a shipping choice.
func (in ShippingChoiceInput) Validate() error {
	var c domain.Checker
	c.Text("actor", in.Actor, domain.MaxActorLen)
	if in.Method != domain.ShippingPickup && in.Method != domain.ShippingDropoff {
		c.Add("method", "must be pickup or dropoff")
	}
	return c.Err()
}

// Validate checks an out-of-stock answer.
func (in ExchangeChoiceInput) Validate() error {
	var c domain.Checker
	c.Text("actor", in.Actor, domain.MaxActorLen)
	if in.LineID != "" {
		c.KeyPart("line_id", in.LineID)
	}
	if !in.Choice.Valid() {
		c.Add("choice", "must be wait, variant, refund or store_credit")
	}
	if in.Choice == domain.ChoiceVariant || in.SKU != "" {
		c.KeyPart("sku", in.SKU)
	}
	return c.Err()
}

// Validate checks a cancel.
func (in CancelInput) Validate() error {
	var c domain.Checker
	actor(&c, in.Actor)
	c.Text("reason", in.Reason, domain.MaxShortTextLen)
	return c.Err()
}

// Validate checks a receipt.
func (in ReceiveInput) Validate() error {
	var c domain.Checker
	actor(&c, in.Actor)
	c.Text("note", in.Note, domain.MaxTextLen)
	return c.Err()
}

// Validate checks an inspection's shape; which lines it may cover is the
// workflow's business.
func (in InspectionInput) Validate() error {
	var c domain.Checker
	actor(&c, in.Actor)
	switch {
	case len(in.Items) == 0:
		c.Add("items", "at least one line is required")
	case len(in.Items) > domain.MaxLines:
		c.Add("items", "has %d items; at most %d", len(in.Items), domain.MaxLines)
		return c.Err()
	}
	for i, it := range in.Items {
		f := fmt.Sprintf("items[%d]", i)
		c.KeyPart(f+".line_id", it.LineID)
		switch it.Result {
		case domain.InspectionPass, domain.InspectionFail:
			if it.PassedUnits != 0 || it.FailDisposition != "" {
				c.Add(f+".passed_units", "goes with result partial")
			}
		case domain.InspectionPartial:
			if it.PassedUnits < 1 {
				c.Add(f+".passed_units", "a partial result needs the passed units (at least 1)")
			}
			if it.FailDisposition != "" && !validDisposition(it.FailDisposition) {
				c.Add(f+".fail_disposition", "must be restock, quarantine, repair, dispose or return_to_customer")
			}
		default:
			c.Add(f+".result", "must be pass, fail or partial")
		}
		if !validDisposition(it.Disposition) {
			c.Add(f+".disposition", "must be restock, quarantine, repair, dispose or return_to_customer")
		}
		if it.Reason != "" && !it.Reason.Valid() {
			c.Add(f+".reason", "is not a reason")
		}
		c.Text(f+".note", it.Note, domain.MaxTextLen)
		c.Photos(f+".photos", it.Photos)
		if len(it.Checks) > 10 {
			c.Add(f+".checks", "has %d checks; at most 10", len(it.Checks))
		}
		for name := range it.Checks {
			c.KeyPart(f+".checks."+name, name)
		}
		if it.ValueLoss != nil {
			money(&c, f+".value_loss", *it.ValueLoss)
		}
	}
	return c.Err()
}

func validDisposition(d domain.Disposition) bool {
	for _, x := range domain.Dispositions() {
		if x == d {
			return true
		}
	}
	return false
}

// Validate checks a survey answer.
func (in SurveyInput) Validate() error {
	var c domain.Checker
	c.Text("actor", in.Actor, domain.MaxActorLen)
	if in.Score < 1 || in.Score > 5 {
		c.Add("score", "must be 1 to 5")
	}
	c.Text("comment", in.Comment, domain.MaxTextLen)
	return c.Err()
}

// Validate checks an assignment.
func (in AssignInput) Validate() error {
	var c domain.Checker
	actor(&c, in.Actor)
	c.Required("assignee", in.Assignee, domain.MaxActorLen)
	c.Text("team", in.Team, domain.MaxIDLen)
	c.Text("reason", in.Reason, domain.MaxShortTextLen)
	return c.Err()
}

// MaxExtension bounds one deadline extension.
const MaxExtension = 30 * 24 * time.Hour

// Validate checks an extension.
func (in ExtendInput) Validate() error {
	var c domain.Checker
	actor(&c, in.Actor)
	c.Required("reason", in.Reason, domain.MaxShortTextLen)
	if d, err := time.ParseDuration(in.By); err != nil || d < time.Minute || d > MaxExtension {
		c.Add("by", "must be a duration from 1m to 720h, e.g. 48h")
	}
	return c.Err()
}

// Validate checks a note.
func (in NoteInput) Validate() error {
	var c domain.Checker
	actor(&c, in.Actor)
	c.Required("note", in.Note, domain.MaxTextLen)
	return c.Err()
}

// Validate checks a repair completion.
func (in RepairDoneInput) Validate() error {
	var c domain.Checker
	actor(&c, in.Actor)
	c.KeyPart("line_id", in.LineID)
	c.Text("note", in.Note, domain.MaxTextLen)
	return c.Err()
}

// Validate checks support's answer to needs_attention.
func (in ResolveAttentionInput) Validate() error {
	var c domain.Checker
	actor(&c, in.Actor)
	switch in.Action {
	case AttentionRetry:
		if in.Outcome != "" {
			c.Add("outcome", "only goes with abandon")
		}
	case AttentionAbandon:
		if in.Outcome != domain.StatusCompleted && in.Outcome != domain.StatusCancelled {
			c.Add("outcome", "abandon needs the outcome of the manual handling: completed or cancelled")
		}
	default:
		c.Add("action", "must be retry or abandon")
	}
	c.Text("note", in.Note, domain.MaxTextLen)
	return c.Err()
}

// Validate checks a carrier event as the webhook delivers it.
func (ev CarrierEvent) Validate() error {
	var c domain.Checker
	c.Required("event_id", ev.EventID, 128)
	c.Required("tracking_number", ev.TrackingNumber, domain.MaxIDLen)
	if !ev.Type.Valid() {
		c.Add("type", "must be picked_up, in_transit, delivered, exception or claim_settled")
	}
	c.Text("detail", ev.Detail, domain.MaxShortTextLen)
	return c.Err()
}

// Validate checks a refund override's shape: an amount or waived fees,
// and why. What the line allows is the workflow's business.
func (in OverrideRefundInput) Validate() error {
	var c domain.Checker
	actor(&c, in.Actor)
	c.KeyPart("line_id", in.LineID)
	c.Required("reason", in.Reason, domain.MaxShortTextLen)
	switch {
	case in.Amount == nil && !in.WaiveFees:
		c.Add("amount", "an amount or waive_fees is required")
	case in.Amount != nil && in.WaiveFees:
		c.Add("waive_fees", "goes without an amount: the amount is the line's whole refund")
	case in.Amount != nil:
		money(&c, "amount", *in.Amount)
	}
	return c.Err()
}

// MaxGoodwillGrants bounds the goodwill grants of one return: each is a
// money movement and a history event.
const MaxGoodwillGrants = 10

// Validate checks a goodwill grant.
func (in GoodwillInput) Validate() error {
	var c domain.Checker
	actor(&c, in.Actor)
	c.Required("reason", in.Reason, domain.MaxShortTextLen)
	money(&c, "amount", in.Amount)
	if in.Amount.Amount == 0 {
		c.Add("amount.amount", "must be more than 0")
	}
	if in.Kind != "" && in.Kind != domain.GrantCoupon && in.Kind != domain.GrantStoreCredit {
		c.Add("kind", "must be coupon or store_credit")
	}
	return c.Err()
}

// money checks an amount support types: not negative, plausible, with a
// currency.
func money(c *domain.Checker, field string, m domain.Money) {
	switch {
	case m.Amount < 0:
		c.Add(field+".amount", "must not be negative")
	case m.Amount > 1e12:
		c.Add(field+".amount", "is implausibly large")
	}
	if len(m.Currency) != 3 {
		c.Add(field+".currency", "must be a 3-letter currency code like CNY")
	}
}

// Validate checks a refund method choice.
func (in RefundMethodInput) Validate() error {
	var c domain.Checker
	c.Text("actor", in.Actor, domain.MaxActorLen)
	switch in.Method {
	case "original", "store_credit":
		if in.Account != "" {
			c.Add("account", "only goes with bank_transfer or e_wallet")
		}
	case "bank_transfer", "e_wallet":
		c.Required("account", in.Account, domain.MaxIDLen)
	default:
		c.Add("method", "must be original, store_credit, bank_transfer or e_wallet")
	}
	return c.Err()
}

// Validate checks an answer to a failed inspection.
func (in InspectionAnswerInput) Validate() error {
	var c domain.Checker
	c.Text("actor", in.Actor, domain.MaxActorLen)
	if in.LineID != "" {
		c.KeyPart("line_id", in.LineID)
	}
	switch in.Choice {
	case AnswerAccept, AnswerDispose:
		if in.Evidence != "" || len(in.Photos) > 0 {
			c.Add("evidence", "goes with a dispute")
		}
	case AnswerDispute:
		c.Required("evidence", in.Evidence, domain.MaxTextLen)
	default:
		c.Add("choice", "must be accept, dispose or dispute")
	}
	c.Photos("photos", in.Photos)
	return c.Err()
}

// Validate checks a dispute decision.
func (in DisputeDecisionInput) Validate() error {
	var c domain.Checker
	actor(&c, in.Actor)
	c.KeyPart("line_id", in.LineID)
	if in.Decision != "uphold" && in.Decision != "overturn" {
		c.Add("decision", "must be uphold or overturn")
	}
	c.Text("note", in.Note, domain.MaxTextLen)
	return c.Err()
}

// Validate checks a keep offer.
func (in KeepOfferInput) Validate() error {
	var c domain.Checker
	actor(&c, in.Actor)
	c.KeyPart("line_id", in.LineID)
	money(&c, "amount", in.Amount)
	if in.Amount.Amount == 0 {
		c.Add("amount.amount", "must be more than 0")
	}
	c.Text("reason", in.Reason, domain.MaxShortTextLen)
	return c.Err()
}

// Validate checks an answer to a keep offer.
func (in KeepAnswerInput) Validate() error {
	var c domain.Checker
	c.Text("actor", in.Actor, domain.MaxActorLen)
	c.KeyPart("line_id", in.LineID)
	return c.Err()
}
