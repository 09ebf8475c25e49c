package domain

// Status is where a return stands. The values are API.md's and must not change.
type Status string

// Statuses.
const (
	StatusRequested        Status = "requested"
	StatusIneligible       Status = "ineligible"
	StatusPendingReview    Status = "pending_review"
	StatusInfoRequested    Status = "info_requested"
	StatusDeclined         Status = "declined"
	StatusAwaitingChoice   Status = "awaiting_choice"
	StatusAwaitingShipment Status = "awaiting_shipment"
	StatusInTransit        Status = "in_transit"
	StatusReceived         Status = "received"
	StatusInspecting       Status = "inspecting"
	StatusResolving        Status = "resolving"
	StatusCompleted        Status = "completed"
	StatusCancelled        Status = "cancelled"
	StatusExpired          Status = "expired"
	StatusNeedsAttention   Status = "needs_attention"
)

// Statuses lists every status in lifecycle order.
func Statuses() []Status {
	return []Status{StatusRequested, StatusIneligible, StatusPendingReview, StatusInfoRequested, StatusDeclined,
		StatusAwaitingChoice, StatusAwaitingShipment, StatusInTransit, StatusReceived, StatusInspecting,
		StatusResolving, StatusCompleted, StatusCancelled, StatusExpired, StatusNeedsAttention}
}

// Valid reports a known status.
func (s Status) Valid() bool { return contains(Statuses(), s) }

// Final reports statuses after which nothing moves the return but a survey.
func (s Status) Final() bool {
	switch s {
	case StatusIneligible, StatusDeclined, StatusCompleted, StatusCancelled, StatusExpired:
		return true
	}
	return false
}

// Cancellable reports statuses in which the customer or support may still
// cancel: anything before the warehouse has the item.
func (s Status) Cancellable() bool {
	switch s {
	case StatusRequested, StatusPendingReview, StatusInfoRequested, StatusAwaitingChoice,
		StatusAwaitingShipment, StatusInTransit:
		return true
	}
	return false
}

// WaitingOn names who the return waits for.
type WaitingOn string

// Parties a return can wait on.
const (
	WaitingCustomer  WaitingOn = "customer"
	WaitingSupport   WaitingOn = "support"
	WaitingCarrier   WaitingOn = "carrier"
	WaitingWarehouse WaitingOn = "warehouse"
	WaitingSystem    WaitingOn = "system"
)

// InspectionResult is the warehouse's verdict on one line.
type InspectionResult string

// Inspection results.
const (
	InspectionPass InspectionResult = "pass"
	InspectionFail InspectionResult = "fail"
	// InspectionPartial: some units of the line passed (PassedUnits), the
	// rest failed (they go to FailDisposition).
	InspectionPartial InspectionResult = "partial"
)

// Disposition is what happens to an inspected item.
type Disposition string

// Dispositions.
const (
	DispositionRestock          Disposition = "restock"
	DispositionQuarantine       Disposition = "quarantine"
	DispositionRepair           Disposition = "repair"
	DispositionDispose          Disposition = "dispose"
	DispositionReturnToCustomer Disposition = "return_to_customer"
)

// Dispositions lists every disposition.
func Dispositions() []Disposition {
	return []Disposition{DispositionRestock, DispositionQuarantine, DispositionRepair, DispositionDispose, DispositionReturnToCustomer}
}

// ShippingMethod is how the parcel comes back.
type ShippingMethod string

// Shipping methods.
const (
	ShippingPickup  ShippingMethod = "pickup"
	ShippingDropoff ShippingMethod = "dropoff"
)

// ExchangeChoice is the customer's answer when a replacement is out of stock.
type ExchangeChoice string

// Exchange choices.
const (
	ChoiceWait        ExchangeChoice = "wait"
	ChoiceVariant     ExchangeChoice = "variant"
	ChoiceRefund      ExchangeChoice = "refund"
	ChoiceStoreCredit ExchangeChoice = "store_credit"
)

// Valid reports a known choice.
func (c ExchangeChoice) Valid() bool {
	return c == ChoiceWait || c == ChoiceVariant || c == ChoiceRefund || c == ChoiceStoreCredit
}

// CarrierEventType is a tracking event from a carrier.
type CarrierEventType string

// Carrier events.
const (
	CarrierPickedUp  CarrierEventType = "picked_up"
	CarrierInTransit CarrierEventType = "in_transit"
	CarrierDelivered CarrierEventType = "delivered"
	CarrierException CarrierEventType = "exception"
	// CarrierClaimSettled is the carrier's answer to a claim: Detail is
	// "approved" or "rejected" and why.
	CarrierClaimSettled CarrierEventType = "claim_settled"
)

// Valid reports a known event type.
func (t CarrierEventType) Valid() bool {
	return t == CarrierPickedUp || t == CarrierInTransit || t == CarrierDelivered || t == CarrierException || t == CarrierClaimSettled
}
