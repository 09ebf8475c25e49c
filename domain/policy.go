package domain

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration that reads and writes Go duration strings
// ("48h", "90m", "5s") in YAML so a policy file stays human.
type Duration time.Duration

// D is the time.Duration value.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String renders "48h" rather than "48h0m0s".
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// MarshalYAML writes the duration string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML reads a duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return fmt.Errorf("line %d: duration must be a string like 48h: %w", n.Line, err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// Policy holds every timing and threshold of the brief. Defaults() carries the
// seeds' figures; a YAML file overrides any subset. Amounts are minor units of
// Currency.
type Policy struct {
	// Preset is the legal base the policy was built on (cn-7day, eu-crd;
	// empty: the seeds' defaults). A file that names one overrides it.
	Preset       string             `yaml:"preset,omitempty"`
	Currency     string             `yaml:"currency"`
	Window       WindowPolicy       `yaml:"window"`
	Review       ReviewPolicy       `yaml:"review"`
	Abuse        AbusePolicy        `yaml:"abuse"`
	Returnless   ReturnlessPolicy   `yaml:"returnless"`
	Shipping     ShippingPolicy     `yaml:"shipping"`
	Inspection   InspectionPolicy   `yaml:"inspection"`
	Fees         FeePolicy          `yaml:"fees"`
	FastLane     FastLanePolicy     `yaml:"vip_fast_lane"`
	Exchange     ExchangePolicy     `yaml:"exchange"`
	Repair       RepairPolicy       `yaml:"repair"`
	Survey       SurveyPolicy       `yaml:"survey"`
	Compensation CompensationPolicy `yaml:"compensation"`
	Anomaly      AnomalyPolicy      `yaml:"anomaly"`
	Overrides    OverridePolicy     `yaml:"overrides"`
	KeepDiscount KeepDiscountPolicy `yaml:"keep_discount"`
	Refund       RefundPolicy       `yaml:"refund"`
	// Rules override settings by segment; the first matching rule wins,
	// in the order written (see rules.go).
	Rules []Rule `yaml:"rules"`
}

// KeepDiscountPolicy is 折价补偿: for a defect or a description mismatch,
// a partial refund to keep the item instead of sending it back. Support
// offers it during review; with Auto the policy offers OfferBps of the
// line's value at approval. The customer answers within AnswerWithin;
// no answer is a decline.
type KeepDiscountPolicy struct {
	Reasons      []Reason `yaml:"reasons"`
	Auto         bool     `yaml:"auto"`
	OfferBps     int64    `yaml:"offer_bps"`
	AnswerWithin Duration `yaml:"answer_within"`
}

// RefundPolicy is when a refund is due and how it is paid.
type RefundPolicy struct {
	// DueWithin is a legal refund deadline (0: none), counted from
	// DueFrom: receipt (the parcel's arrival) or request (the customer's
	// withdrawal). The workflow holds it as a durable timer with a
	// reminder to support and an escalation to the supervisor before it
	// is breached.
	DueWithin      Duration `yaml:"due_within"`
	DueFrom        string   `yaml:"due_from"`
	ReminderBefore Duration `yaml:"reminder_before"`
	EscalateBefore Duration `yaml:"escalate_before"`
	// IncludeOutboundShipping refunds the standard delivery the customer
	// paid for the order (the request's outbound_shipping), once.
	IncludeOutboundShipping bool `yaml:"include_outbound_shipping"`
	// Methods are the refund methods offered: original (the payment
	// method the customer used), store_credit, bank_transfer, e_wallet.
	Methods []string `yaml:"methods"`
}

// Refund due points.
const (
	DueFromReceipt = "receipt"
	DueFromRequest = "request"
)

// RefundMethodAllowed reports whether the policy offers method for every
// money line of req (a segment rule may narrow it); "" is original.
func (p Policy) RefundMethodAllowed(req Request, method string) bool {
	if method == "" {
		method = "original"
	}
	for _, l := range req.Lines {
		if l.Resolution.PaysMoney() && !contains(p.ForLine(req, l).Refund.Methods, method) {
			return false
		}
	}
	return true
}

// CheckRefundMethod refuses a request whose refund method the policy does
// not offer, naming the ones it does.
func (p Policy) CheckRefundMethod(req Request) error {
	if p.RefundMethodAllowed(req, req.RefundMethod) {
		return nil
	}
	var pr problems
	pr.add("refund_method", "%s is not offered; the policy offers %s", req.RefundMethod, strings.Join(p.Refund.Methods, ", "))
	return pr.err()
}

// MaskAccount shows the last four characters of an account number.
func MaskAccount(a string) string {
	if len(a) <= 4 {
		return strings.Repeat("*", len(a))
	}
	return strings.Repeat("*", len(a)-4) + a[len(a)-4:]
}

// RefundMethods rma knows.
func RefundMethods() []string {
	return []string{"original", "store_credit", "bank_transfer", "e_wallet"}
}

// AnomalyPolicy is the batch return-rate alert: how often the check runs and
// the rule (see DetectAnomalies).
type AnomalyPolicy struct {
	CheckEvery Duration `yaml:"check_every"`
	MinSample  int      `yaml:"min_sample"`
	MinZ       float64  `yaml:"min_z"`
	MinRatio   float64  `yaml:"min_ratio"`
}

// WindowPolicy is how long after delivery a return may be opened, and
// what may not be returned at all.
type WindowPolicy struct {
	Default             Duration            `yaml:"default"`
	Categories          map[string]Duration `yaml:"categories"`
	FinalSaleCategories []string            `yaml:"final_sale_categories"`
	// ConfirmableCategories are excluded only where the customer
	// confirmed it at purchase (the line's exclusion_confirmed).
	ConfirmableCategories []string `yaml:"confirmable_categories"`
	// FinalSaleNeedsConfirmation: a line the merchant marked final_sale
	// is excluded only where the customer confirmed it at purchase.
	FinalSaleNeedsConfirmation bool `yaml:"final_sale_needs_confirmation"`
}

// ReviewPolicy is the support SLA and auto-approval.
type ReviewPolicy struct {
	ReplySLA               Duration          `yaml:"reply_sla"`
	ReplyReminderBefore    Duration          `yaml:"reply_reminder_before"`
	DecisionSLA            Duration          `yaml:"decision_sla"`
	DecisionReminderBefore Duration          `yaml:"decision_reminder_before"`
	InfoWithin             Duration          `yaml:"info_within"`
	InfoReminderBefore     Duration          `yaml:"info_reminder_before"`
	AutoApprove            AutoApprovePolicy `yaml:"auto_approve"`
	Routing                RoutingPolicy     `yaml:"routing"`
}

// AutoApprovePolicy lists what skips human review.
type AutoApprovePolicy struct {
	MerchantFaultWithPhoto bool  `yaml:"merchant_fault_with_photo"`
	MaxValue               int64 `yaml:"max_value"`
	VIP                    bool  `yaml:"vip"`
}

// RoutingPolicy says who reviews.
type RoutingPolicy struct {
	Team         string `yaml:"team"`
	VIPAgent     string `yaml:"vip_agent"`
	BulkAgent    string `yaml:"bulk_agent"`
	BulkQuantity int    `yaml:"bulk_quantity"`
}

// AbusePolicy sends frequent returners to a human.
type AbusePolicy struct {
	Period     Duration `yaml:"period"`
	MaxReturns int      `yaml:"max_returns"`
	MaxValue   int64    `yaml:"max_value"`
}

// ReturnlessPolicy is the "keep it" threshold.
type ReturnlessPolicy struct {
	MaxValue int64 `yaml:"max_value"`
}

// ShippingPolicy holds the return-shipment deadlines.
type ShippingPolicy struct {
	ChoiceWithin          Duration `yaml:"choice_within"`
	ChoiceReminderBefore  Duration `yaml:"choice_reminder_before"`
	PickupWithin          Duration `yaml:"pickup_within"`
	PickupReminderBefore  Duration `yaml:"pickup_reminder_before"`
	DropoffWithin         Duration `yaml:"dropoff_within"`
	DropoffReminderBefore Duration `yaml:"dropoff_reminder_before"`
	LogisticsBuffer       Duration `yaml:"logistics_buffer"`
	TransitWithin         Duration `yaml:"transit_within"`
	// LostParcel is what happens when the transit deadline passes with no
	// delivery: settle (open a carrier claim, settle the customer as if
	// the parcel had arrived and passed, and follow the claim for
	// ClaimWithin) or alert (support is only told).
	LostParcel  string   `yaml:"lost_parcel"`
	ClaimWithin Duration `yaml:"claim_within"`
}

// InspectionPolicy is the warehouse SLA and what an inspection must check.
type InspectionPolicy struct {
	Within Duration `yaml:"within"`
	// Checks are the checks a line of a category must pass to pass
	// inspection (food: seal; electronics: activation, serial_number).
	Checks map[string][]string `yaml:"checks"`
	// ValueLossDeduction lets the warehouse deduct the loss of value from
	// handling beyond what inspecting the item needed.
	ValueLossDeduction bool `yaml:"value_loss_deduction"`
	// A failed item waits AnswerWithin for the customer's answer (accept
	// it back, let the merchant dispose of it, or dispute); FailedDefault
	// (return or dispose) applies without one. ReturnFee is what sending
	// it back costs a customer whose reason is their own.
	AnswerWithin  Duration `yaml:"answer_within"`
	FailedDefault string   `yaml:"failed_default"`
	ReturnFee     int64    `yaml:"return_fee"`
}

// ReasonFees are the fees one reason carries.
type ReasonFees struct {
	HandlingFee    int64 `yaml:"handling_fee"`
	RestockingBps  int64 `yaml:"restocking_bps"`
	ReturnShipping int64 `yaml:"return_shipping"`
	GoodwillCoupon int64 `yaml:"goodwill_coupon"`
}

// FeePolicy is the fee table by reason.
type FeePolicy struct {
	ByReason map[Reason]ReasonFees `yaml:"by_reason"`
}

// FastLanePolicy refunds VIPs at the first carrier scan.
type FastLanePolicy struct {
	Enabled bool `yaml:"enabled"`
}

// ExchangePolicy covers out-of-stock choices and advance exchanges.
type ExchangePolicy struct {
	ChoiceWithin         Duration       `yaml:"choice_within"`
	ChoiceReminderBefore Duration       `yaml:"choice_reminder_before"`
	ChoiceDefault        ExchangeChoice `yaml:"choice_default"`
	AdvanceForVIP        bool           `yaml:"advance_for_vip"`
	AdvanceHoldWindow    Duration       `yaml:"advance_hold_window"`
	// RestockWait is how long a backordered replacement is waited for
	// when the inventory gives no ETA; RestockGrace is added to an ETA.
	// Past it the choice default applies (refund when it is wait).
	RestockWait  Duration `yaml:"restock_wait"`
	RestockGrace Duration `yaml:"restock_grace"`
}

// RepairPolicy is the repair turnaround.
type RepairPolicy struct {
	Within Duration `yaml:"within"`
}

// SurveyPolicy is how long a survey answer is accepted after closing.
type SurveyPolicy struct {
	Window Duration `yaml:"window"`
}

// CompensationPolicy is what the merchant gives when it breaches its own SLA.
type CompensationPolicy struct {
	CouponOnBreach int64 `yaml:"coupon_on_breach"`
	// PointsOnBreach are loyalty points granted beside the coupon.
	PointsOnBreach int64 `yaml:"points_on_breach"`
	// OnEndedReturns compensates a breach on returns that end declined,
	// cancelled or expired too, not only on completed ones.
	OnEndedReturns bool `yaml:"on_ended_returns"`
}

const (
	hour = Duration(time.Hour)
	day  = 24 * hour
)

// Defaults returns the policy with the seeds' figures: 7-day window, 24 h reply
// and 48 h decision SLA, 48 h pickup plus a 2-day buffer, inspection within
// 24 h.
func Defaults() Policy {
	customerFault := ReasonFees{HandlingFee: 1000, ReturnShipping: 1200}
	merchantFault := ReasonFees{}
	return Policy{
		Currency: DefaultCurrency,
		Window: WindowPolicy{
			Default:             7 * day,
			Categories:          map[string]Duration{"electronics": 15 * day, "fresh_food": 1 * day},
			FinalSaleCategories: []string{"clearance", "personal_care"},
		},
		Review: ReviewPolicy{
			ReplySLA: 24 * hour, ReplyReminderBefore: 4 * hour,
			DecisionSLA: 48 * hour, DecisionReminderBefore: 8 * hour,
			InfoWithin: 3 * day, InfoReminderBefore: 24 * hour,
			AutoApprove: AutoApprovePolicy{MerchantFaultWithPhoto: true, MaxValue: 5000, VIP: true},
			Routing:     RoutingPolicy{Team: "support", VIPAgent: "vip-desk", BulkAgent: "wholesale-desk", BulkQuantity: 20},
		},
		Abuse:      AbusePolicy{Period: 90 * day, MaxReturns: 5, MaxValue: 500000},
		Returnless: ReturnlessPolicy{MaxValue: 3000},
		Shipping: ShippingPolicy{
			ChoiceWithin: 3 * day, ChoiceReminderBefore: 24 * hour,
			PickupWithin: 48 * hour, PickupReminderBefore: 12 * hour,
			DropoffWithin: 7 * day, DropoffReminderBefore: 24 * hour,
			LogisticsBuffer: 2 * day,
			TransitWithin:   10 * day,
			LostParcel:      "settle", ClaimWithin: 30 * day,
		},
		Inspection: InspectionPolicy{Within: 24 * hour, AnswerWithin: 7 * day, FailedDefault: "return", ReturnFee: 1200},
		Fees: FeePolicy{ByReason: map[Reason]ReasonFees{
			ReasonDefective:        merchantFault,
			ReasonWrongItem:        {GoodwillCoupon: 1000},
			ReasonMissingParts:     merchantFault,
			ReasonDamagedInTransit: merchantFault,
			ReasonNotAsDescribed:   merchantFault,
			ReasonSizeFit:          customerFault,
			ReasonChangedMind:      customerFault,
			ReasonOther:            customerFault,
		}},
		FastLane: FastLanePolicy{Enabled: true},
		Exchange: ExchangePolicy{
			ChoiceWithin: 2 * day, ChoiceReminderBefore: 12 * hour, ChoiceDefault: ChoiceRefund,
			AdvanceForVIP: true, AdvanceHoldWindow: 14 * day, RestockWait: 14 * day, RestockGrace: 3 * day,
		},
		Repair:       RepairPolicy{Within: 10 * day},
		Survey:       SurveyPolicy{Window: 7 * day},
		Compensation: CompensationPolicy{CouponOnBreach: 500, PointsOnBreach: 200, OnEndedReturns: true},
		Anomaly:      AnomalyPolicy{CheckEvery: day, MinSample: 30, MinZ: 3, MinRatio: 1.5},
		Overrides:    OverridePolicy{SupportLimit: 5000},
		KeepDiscount: KeepDiscountPolicy{Reasons: []Reason{ReasonDefective, ReasonNotAsDescribed}, OfferBps: 3000, AnswerWithin: 2 * day},
		Refund:       RefundPolicy{DueFrom: DueFromReceipt, Methods: []string{"original", "store_credit"}},
	}
}

// LoadPolicy reads YAML over the defaults: a file that sets only
// shipping.pickup_within keeps every other default. Unknown keys are errors,
// so a typo never silently leaves a default in force.
func LoadPolicy(data []byte) (Policy, error) {
	var head struct {
		Preset string `yaml:"preset"`
	}
	if err := yaml.Unmarshal(data, &head); err != nil {
		return Policy{}, fmt.Errorf("read policy: %w", err)
	}
	p, err := Preset(head.Preset)
	if err != nil {
		return Policy{}, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	// An empty file is io.EOF and means "all defaults".
	if err := dec.Decode(&p); err != nil && !errors.Is(err, io.EOF) {
		return Policy{}, fmt.Errorf("read policy: %w", err)
	}
	// A map or list set to null ("categories:" with nothing after it) is
	// cleared; it reads as empty, and prints as null (see YAML).
	if p.Window.Categories == nil {
		p.Window.Categories = map[string]Duration{}
	}
	if p.Window.FinalSaleCategories == nil {
		p.Window.FinalSaleCategories = []string{}
	}
	if p.Fees.ByReason == nil {
		p.Fees.ByReason = map[Reason]ReasonFees{}
	}
	if p.Inspection.Checks == nil {
		p.Inspection.Checks = map[string][]string{}
	}
	if p.Window.ConfirmableCategories == nil {
		p.Window.ConfirmableCategories = []string{}
	}
	if p.Rules == nil {
		p.Rules = []Rule{}
	}
	if err := p.Validate(); err != nil {
		return Policy{}, err
	}
	return p, nil
}

// YAML renders the effective policy in the same format LoadPolicy reads,
// so that what it prints loads to the same policy. Maps in a policy file
// add to the defaults' (a file that sets one reason's fees keeps the other
// reasons'), so an empty map prints as null, which clears them, not as {},
// which would keep them.
func (p Policy) YAML() ([]byte, error) {
	var doc yaml.Node
	if err := doc.Encode(p); err != nil {
		return nil, fmt.Errorf("write policy: %w", err)
	}
	var nullEmpty func(n *yaml.Node)
	nullEmpty = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode && len(n.Content) == 0 {
			n.Kind, n.Tag, n.Value, n.Style = yaml.ScalarNode, "!!null", "null", 0
			return
		}
		for _, c := range n.Content {
			nullEmpty(c)
		}
	}
	nullEmpty(&doc)
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("write policy: %w", err)
	}
	return b.Bytes(), nil
}

// Validate refuses settings that would make a deadline meaningless.
func (p Policy) Validate() error {
	var pr problems
	positive := map[string]Duration{
		"window.default": p.Window.Default, "review.reply_sla": p.Review.ReplySLA,
		"review.decision_sla": p.Review.DecisionSLA, "review.info_within": p.Review.InfoWithin,
		"shipping.choice_within": p.Shipping.ChoiceWithin, "shipping.pickup_within": p.Shipping.PickupWithin,
		"shipping.dropoff_within": p.Shipping.DropoffWithin, "shipping.transit_within": p.Shipping.TransitWithin,
		"inspection.within": p.Inspection.Within, "exchange.choice_within": p.Exchange.ChoiceWithin,
		"exchange.advance_hold_window": p.Exchange.AdvanceHoldWindow, "repair.within": p.Repair.Within,
		"survey.window": p.Survey.Window, "anomaly.check_every": p.Anomaly.CheckEvery,
	}
	for _, k := range sortedKeys(positive) {
		if positive[k] <= 0 {
			pr.add(k, "must be a positive duration")
		}
	}
	if p.Shipping.LogisticsBuffer < 0 {
		pr.add("shipping.logistics_buffer", "must not be negative")
	}
	if p.Review.DecisionSLA < p.Review.ReplySLA {
		pr.add("review.decision_sla", "must not be shorter than review.reply_sla")
	}
	switch p.Exchange.ChoiceDefault {
	case ChoiceRefund, ChoiceStoreCredit, ChoiceWait:
	default:
		pr.add("exchange.choice_default", "must be refund, store_credit or wait")
	}
	for r, f := range p.Fees.ByReason {
		if !r.Valid() {
			pr.add("fees.by_reason."+string(r), "is not a reason")
		}
		if f.HandlingFee < 0 || f.ReturnShipping < 0 || f.GoodwillCoupon < 0 || f.RestockingBps < 0 || f.RestockingBps > 10000 {
			pr.add("fees.by_reason."+string(r), "fees must be >= 0 and restocking_bps <= 10000")
		}
	}
	if p.Anomaly.MinSample < 1 || p.Anomaly.MinZ <= 0 || p.Anomaly.MinRatio < 1 {
		pr.add("anomaly", "min_sample must be >= 1, min_z > 0 and min_ratio >= 1")
	}
	switch {
	case p.Refund.DueFrom != DueFromReceipt && p.Refund.DueFrom != DueFromRequest:
		pr.add("refund.due_from", "must be receipt or request")
	case p.Refund.DueWithin < 0 || p.Refund.ReminderBefore < 0 || p.Refund.EscalateBefore < 0:
		pr.add("refund", "durations must not be negative")
	case p.Refund.DueWithin > 0 && (p.Refund.ReminderBefore >= p.Refund.DueWithin || p.Refund.EscalateBefore >= p.Refund.DueWithin):
		pr.add("refund", "reminder_before and escalate_before must be shorter than due_within")
	}
	if len(p.Refund.Methods) == 0 {
		pr.add("refund.methods", "at least one method is required")
	}
	for _, m := range p.Refund.Methods {
		if !contains(RefundMethods(), m) {
			pr.add("refund.methods", "%q is not a refund method (%s)", m, strings.Join(RefundMethods(), ", "))
		}
	}
	for i, r := range p.Rules {
		r.validate(&pr, fmt.Sprintf("rules[%d]", i))
	}
	if p.Overrides.SupportLimit < 0 {
		pr.add("overrides.support_limit", "must not be negative")
	}
	if p.Currency == "" {
		pr.add("currency", "is required")
	}
	return pr.err()
}

// WindowFor is the return window of a category.
func (p Policy) WindowFor(category string) time.Duration {
	if d, ok := p.Window.Categories[category]; ok && category != "" {
		return d.D()
	}
	return p.Window.Default.D()
}

// FeesFor is the fee row of a reason.
func (p Policy) FeesFor(r Reason) ReasonFees { return p.Fees.ByReason[r] }
