package domain

import "time"

// Kind is what the customer asked for as a whole.
type Kind string

// Kinds of return.
const (
	KindReturn   Kind = "return"
	KindExchange Kind = "exchange"
)

// Reason is why a line comes back. Whether the merchant or the customer is at
// fault decides the fees.
type Reason string

// Reasons, as in API.md.
const (
	ReasonDefective        Reason = "defective"
	ReasonWrongItem        Reason = "wrong_item"
	ReasonMissingParts     Reason = "missing_parts"
	ReasonDamagedInTransit Reason = "damaged_in_transit"
	ReasonNotAsDescribed   Reason = "not_as_described"
	ReasonSizeFit          Reason = "size_fit"
	ReasonChangedMind      Reason = "changed_mind"
	ReasonOther            Reason = "other"
)

// Reasons lists every reason in API order.
func Reasons() []Reason {
	return []Reason{ReasonDefective, ReasonWrongItem, ReasonMissingParts, ReasonDamagedInTransit,
		ReasonNotAsDescribed, ReasonSizeFit, ReasonChangedMind, ReasonOther}
}

// Valid reports a known reason.
func (r Reason) Valid() bool { return contains(Reasons(), r) }

// MerchantFault reports reasons the merchant (or its carrier) caused; those
// are free for the customer.
func (r Reason) MerchantFault() bool {
	switch r {
	case ReasonDefective, ReasonWrongItem, ReasonMissingParts, ReasonDamagedInTransit, ReasonNotAsDescribed:
		return true
	}
	return false
}

// Resolution is what the customer wants for one line.
type Resolution string

// Resolutions. Reship is our extension of API.md: a missing item is sent
// again and nothing travels back.
const (
	ResolutionRefund      Resolution = "refund"
	ResolutionStoreCredit Resolution = "store_credit"
	ResolutionExchange    Resolution = "exchange"
	ResolutionRepair      Resolution = "repair"
	ResolutionKeep        Resolution = "keep"
	ResolutionReship      Resolution = "reship"
)

// Resolutions lists every resolution.
func Resolutions() []Resolution {
	return []Resolution{ResolutionRefund, ResolutionStoreCredit, ResolutionExchange, ResolutionRepair, ResolutionKeep, ResolutionReship}
}

// Valid reports a known resolution.
func (r Resolution) Valid() bool { return contains(Resolutions(), r) }

// PaysMoney reports resolutions settled with a money movement to the customer.
func (r Resolution) PaysMoney() bool {
	return r == ResolutionRefund || r == ResolutionStoreCredit || r == ResolutionKeep
}

// Tier is the customer's service tier.
type Tier string

// Tiers.
const (
	TierStandard Tier = "standard"
	TierVIP      Tier = "vip"
)

// Locale picks the language of customer notices.
type Locale string

// Locales.
const (
	LocaleZhCN Locale = "zh-CN"
	LocaleEN   Locale = "en"
)

// Channel is where the request came from.
type Channel string

// Channels.
const (
	ChannelWeb   Channel = "web"
	ChannelApp   Channel = "app"
	ChannelPhone Channel = "phone"
	ChannelChat  Channel = "chat"
	ChannelEmail Channel = "email"
	ChannelStore Channel = "store"
)

// Channels lists every channel.
func Channels() []Channel {
	return []Channel{ChannelWeb, ChannelApp, ChannelPhone, ChannelChat, ChannelEmail, ChannelStore}
}

// Customer is who returns.
type Customer struct {
	ID     string `json:"id"`
	Tier   Tier   `json:"tier"`
	Locale Locale `json:"locale"`
	Email  string `json:"email,omitempty"`
	Phone  string `json:"phone,omitempty"`
	// Tags and Country select the policy's segment rules (a loyalty
	// group, "wholesale"; an ISO 3166 code).
	Tags    []string `json:"tags,omitempty"`
	Country string   `json:"country,omitempty"`
}

// Line is one order line coming back (or, for reship and keep, not coming
// back).
type Line struct {
	LineID      string     `json:"line_id"`
	SKU         string     `json:"sku"`
	Batch       string     `json:"batch,omitempty"`
	Category    string     `json:"category,omitempty"`
	Supplier    string     `json:"supplier,omitempty"`
	FinalSale   bool       `json:"final_sale,omitempty"`
	Quantity    int        `json:"quantity"`
	UnitPrice   Money      `json:"unit_price"`
	Reason      Reason     `json:"reason"`
	Resolution  Resolution `json:"resolution"`
	ExchangeSKU string     `json:"exchange_sku,omitempty"`
	Photos      []string   `json:"photos,omitempty"`
	Comment     string     `json:"comment,omitempty"`
	// Tags select the policy's segment rules by product.
	Tags []string `json:"tags,omitempty"`
	// ExclusionConfirmed: the customer confirmed at purchase that this
	// item may not be returned (cn-7day: only then does a confirmable
	// category or a final-sale mark exclude it).
	ExclusionConfirmed bool `json:"exclusion_confirmed,omitempty"`
}

// Value is what the customer paid for the line.
func (l Line) Value() Money { return l.UnitPrice.Mul(l.Quantity) }

// NeedsReturnShipment reports whether the item has to travel back to us.
func (l Line) NeedsReturnShipment() bool {
	return l.Resolution != ResolutionKeep && l.Resolution != ResolutionReship
}

// Request is a return, exchange or refund-only claim as the merchant backend
// opens it.
type Request struct {
	OrderID     string    `json:"order_id"`
	Kind        Kind      `json:"kind"`
	DeliveredAt time.Time `json:"delivered_at"`
	Channel     Channel   `json:"channel"`
	Customer    Customer  `json:"customer"`
	Lines       []Line    `json:"lines"`
	// Wholesale marks bulk/B2B orders, which are routed to a dedicated agent.
	Wholesale bool `json:"wholesale,omitempty"`
	// OutboundShipping is what the customer paid for the order's standard
	// delivery; refunded once where the policy says so (eu-crd).
	OutboundShipping *Money `json:"outbound_shipping,omitempty"`
	// RefundMethod is how the customer wants money back: original (the
	// default), store_credit, bank_transfer or e_wallet (to RefundAccount),
	// as the policy offers (refund.methods).
	RefundMethod  string `json:"refund_method,omitempty"`
	RefundAccount string `json:"refund_account,omitempty"`
	// Payment is where the order was paid, at the payment provider.
	// Optional: the simulator needs none of it; with Stripe a refund needs
	// PaymentID and store credit CustomerID.
	Payment *PaymentRef `json:"payment,omitempty"`
}

// PaymentRef names the order's payment at the payment provider (Stripe:
// a PaymentIntent pi_..., a Customer cus_..., a saved PaymentMethod
// pm_... for advance-exchange holds and price-difference charges).
type PaymentRef struct {
	PaymentID     string `json:"payment_id,omitempty"`
	CustomerID    string `json:"customer_id,omitempty"`
	PaymentMethod string `json:"payment_method,omitempty"`
}

// Total is the paid value of every line.
func (r Request) Total() Money {
	m := Zero(r.Currency())
	for _, l := range r.Lines {
		m = m.Add(l.Value())
	}
	return m
}

// Currency is the currency of the request's lines.
func (r Request) Currency() string {
	if len(r.Lines) > 0 && r.Lines[0].UnitPrice.Currency != "" {
		return r.Lines[0].UnitPrice.Currency
	}
	return DefaultCurrency
}

// Quantity is the number of items across lines.
func (r Request) Quantity() int {
	n := 0
	for _, l := range r.Lines {
		n += l.Quantity
	}
	return n
}

// SKUs lists the distinct SKUs, in line order.
func (r Request) SKUs() []string {
	var out []string
	for _, l := range r.Lines {
		if !contains(out, l.SKU) {
			out = append(out, l.SKU)
		}
	}
	return out
}

// Normalize fills the documented defaults (standard tier, zh-CN, web) so
// callers may omit them.
func (r Request) Normalize() Request {
	if r.Customer.Tier == "" {
		r.Customer.Tier = TierStandard
	}
	if r.Customer.Locale == "" {
		r.Customer.Locale = LocaleZhCN
	}
	if r.Channel == "" {
		r.Channel = ChannelWeb
	}
	lines := make([]Line, len(r.Lines))
	copy(lines, r.Lines)
	for i := range lines {
		if lines[i].UnitPrice.Currency == "" {
			lines[i].UnitPrice.Currency = DefaultCurrency
		}
	}
	r.Lines = lines
	return r
}

func contains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
