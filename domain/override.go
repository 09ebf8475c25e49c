package domain

import "time"

// RefundOverride is support changing what one line pays back: an amount in
// place of the policy's, or the policy's fees waived. It is recorded on the
// line (who, when, why) and applied when the line is refunded, so a line is
// never paid twice and the audit shows both the policy's figure and the
// one paid.
type RefundOverride struct {
	// Amount, when set, is the line's net refund.
	Amount    *Money    `json:"amount,omitempty"`
	WaiveFees bool      `json:"waive_fees,omitempty"`
	Reason    string    `json:"reason"`
	Actor     string    `json:"actor"`
	At        time.Time `json:"at"`
}

// Apply is the refund with the override in force. Waived fees pay the gross
// back; an amount replaces the net, and the rest of the gross counts as fees.
// The net never exceeds what the line was paid, nor goes below zero: giving
// more than the line is goodwill, not a refund.
func (o *RefundOverride) Apply(rf LineRefund) LineRefund {
	if o == nil {
		return rf
	}
	if o.WaiveFees {
		rf.Fees = Money{Currency: rf.Gross.Currency}
	}
	if o.Amount != nil {
		net := o.Amount.Amount
		net = max(0, min(net, rf.Gross.Amount))
		rf.Fees = Money{Amount: rf.Gross.Amount - net, Currency: rf.Gross.Currency}
	}
	rf.Net = rf.Gross.Sub(rf.Fees)
	return rf
}

// Size is how far the override moves the line's refund from the policy's,
// in minor units, up or down: what OverridePolicy.SupportLimit is compared
// with.
func (o *RefundOverride) Size(policy LineRefund) int64 {
	d := o.Apply(policy).Net.Amount - policy.Net.Amount
	if d < 0 {
		d = -d
	}
	return d
}

// OverridePolicy bounds what support may change alone. SupportLimit is the
// largest change to a line's refund (either way), and the largest goodwill
// grant, that the support role may make; beyond it the admin role is
// needed. 0: every override and grant needs admin.
type OverridePolicy struct {
	SupportLimit int64 `yaml:"support_limit"`
}

// NeedsAdmin reports an amount beyond what support may move alone.
func (o OverridePolicy) NeedsAdmin(amount int64) bool { return amount > o.SupportLimit }

// GoodwillGrant is credit support gives on a return beyond what the policy
// owes: a coupon or store credit, with who gave it and why.
type GoodwillGrant struct {
	Amount Money     `json:"amount"`
	Kind   string    `json:"kind"`
	Reason string    `json:"reason"`
	Actor  string    `json:"actor"`
	At     time.Time `json:"at"`
	// Issued is set once the payment went through.
	Issued bool `json:"issued"`
}

// Goodwill grant kinds.
const (
	GrantCoupon      = "coupon"
	GrantStoreCredit = "store_credit"
)
