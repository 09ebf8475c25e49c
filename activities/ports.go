// Package activities holds the Temporal activities of a return and the ports
// they drive: carrier, inventory, payments, notifier and store. Activities are
// methods on Activities so one struct carries every dependency; the ports are
// interfaces so the real HTTP/SQL adapters, the simulators and the in-memory
// fakes used in tests are interchangeable.
//
// Every request that moves money or stock carries an idempotency Key derived
// from the RMA ID, the line and the purpose (see Key), never from a run ID, so
// a retried activity or a reset workflow can never pay or reserve twice.
package activities

import (
	"context"
	"strings"
	"time"

	"github.com/rma-dev/rma/domain"
)

// Key builds an idempotency key from business identifiers, for example
// Key("RMA-1", "L1", "refund") = "RMA-1/L1/refund". Empty parts are skipped.
func Key(parts ...string) string {
	out := make([]string, 0, len(parts))
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "/")
}

// Carrier books return labels and pickups, ships parcels to customers and
// opens claims.
type Carrier interface {
	CreateLabel(ctx context.Context, req LabelRequest) (Label, error)
	VoidLabel(ctx context.Context, req VoidLabelRequest) error
	Ship(ctx context.Context, req ShipRequest) (Shipment, error)
	OpenClaim(ctx context.Context, req ClaimRequest) (Claim, error)
}

// Inventory reserves replacements and moves returned stock.
type Inventory interface {
	Reserve(ctx context.Context, req ReserveRequest) (Reservation, error)
	Release(ctx context.Context, req StockRequest) error
	Commit(ctx context.Context, req StockRequest) error
	Move(ctx context.Context, req MoveRequest) error
}

// Payments moves money: refunds, store credit, charges, holds and coupons.
// One entry point keeps the ledger and its idempotency in one place. Find
// looks up the movement req would make, by its idempotency key: providers
// forget keys after a while (24 h at Stripe), so a movement retried later
// than that is reconciled by lookup before it is sent again. It takes the
// whole request because a provider may only list movements per payment
// or customer (Stripe lists refunds per PaymentIntent).
type Payments interface {
	Execute(ctx context.Context, req PaymentRequest) (PaymentResult, error)
	Find(ctx context.Context, req PaymentRequest) (PaymentResult, bool, error)
}

// Notifier tells customers, support and the quality team.
type Notifier interface {
	Notify(ctx context.Context, n Notification) error
}

// Store is the PostgreSQL side of a return: the read model, the audit trail
// and the notice outbox (one transaction per publication), the parcel routes
// that carrier webhooks follow, and the batch statistics of the anomaly
// check.
type Store interface {
	Publish(ctx context.Context, p Publication) error
	// RouteParcel records which return a tracking number belongs to and
	// hands back every event already stored for it: a carrier may scan a
	// parcel the instant its label exists, before this route is written.
	RouteParcel(ctx context.Context, p Parcel) ([]TrackingEvent, error)
	// TrackingRecord is every event stored for a parcel, oldest first.
	TrackingRecord(ctx context.Context, trackingNumber string) ([]TrackingEvent, error)
	// Enqueue adds notices to the outbox outside a publication.
	Enqueue(ctx context.Context, notices []Notification) error
	BatchStats(ctx context.Context) ([]domain.BatchStats, error)
}

// Parcel routes a tracking number to its return.
type Parcel struct {
	TrackingNumber string `json:"tracking_number"`
	RMAID          string `json:"rma_id"`
	// Purpose is "return" for the return label, else the outbound
	// shipment's purpose (replacement, reship, ...).
	Purpose string `json:"purpose"`
	LineID  string `json:"line_id,omitempty"`
}

// ParcelReturn is the purpose of a return label.
const ParcelReturn = "return"

// LabelRequest books a return label, and a pickup for method pickup.
type LabelRequest struct {
	Key      string                `json:"key"`
	RMAID    string                `json:"rma_id"`
	Method   domain.ShippingMethod `json:"method"`
	Customer domain.Customer       `json:"customer"`
	Parcels  int                   `json:"parcels"`
	// ShipWithinHours is how long the customer (or the pickup) has. It is a
	// duration, not a time, so a request retried later has the same body
	// under the same idempotency key.
	ShipWithinHours int `json:"ship_within_hours"`
}

// Label is a booked return label.
type Label struct {
	TrackingNumber string `json:"tracking_number"`
	LabelURL       string `json:"label_url"`
	ReturnAddress  string `json:"return_address"`
}

// LabelResult is a booked label and the events stored for its parcel before
// its route existed.
type LabelResult struct {
	Label  Label           `json:"label"`
	Events []TrackingEvent `json:"events,omitempty"`
}

// VoidLabelRequest voids a label and cancels its pickup.
type VoidLabelRequest struct {
	Key            string `json:"key"`
	RMAID          string `json:"rma_id"`
	TrackingNumber string `json:"tracking_number"`
}

// Shipment purposes.
const (
	ShipReplacement      = "replacement"
	ShipReship           = "reship"
	ShipRepairReturn     = "repair_return"
	ShipBackToCustomer   = "return_to_customer"
	ShipToRepair         = "to_repair"
	MovementRestock      = "restock"
	MovementQuarantine   = "quarantine"
	MovementDispose      = "dispose"
	MovementRepairIntake = "repair"
)

// ShipRequest sends goods out.
type ShipRequest struct {
	Key      string          `json:"key"`
	RMAID    string          `json:"rma_id"`
	LineID   string          `json:"line_id"`
	SKU      string          `json:"sku"`
	Quantity int             `json:"quantity"`
	Purpose  string          `json:"purpose"`
	Customer domain.Customer `json:"customer"`
}

// Shipment is an outbound parcel.
type Shipment struct {
	TrackingNumber string `json:"tracking_number"`
}

// TrackingEvent is one carrier scan: claim evidence, and what a label's
// route hands back when the scan came first.
type TrackingEvent struct {
	EventID        string                  `json:"event_id"`
	TrackingNumber string                  `json:"tracking_number,omitempty"`
	Type           domain.CarrierEventType `json:"type"`
	OccurredAt     time.Time               `json:"occurred_at"`
	Detail         string                  `json:"detail,omitempty"`
}

// ClaimRequest opens a lost/damaged claim with the tracking record.
type ClaimRequest struct {
	Key            string          `json:"key"`
	RMAID          string          `json:"rma_id"`
	TrackingNumber string          `json:"tracking_number"`
	Detail         string          `json:"detail"`
	Evidence       []TrackingEvent `json:"evidence"`
	DeclaredValue  domain.Money    `json:"declared_value"`
	// Through is the event that prompted the claim: the evidence is the
	// tracking record up to and including it, the same on every retry.
	Through string `json:"through,omitempty"`
}

// Claim is an opened carrier claim.
type Claim struct {
	ClaimID string `json:"claim_id"`
}

// ReserveRequest reserves a replacement. Backorder accepts a reservation that
// is filled on restock.
type ReserveRequest struct {
	Key       string `json:"key"`
	RMAID     string `json:"rma_id"`
	LineID    string `json:"line_id"`
	SKU       string `json:"sku"`
	Quantity  int    `json:"quantity"`
	Backorder bool   `json:"backorder,omitempty"`
}

// Reservation is the inventory's answer: Reserved false means out of stock,
// which is a business outcome, not an error.
type Reservation struct {
	Reserved     bool         `json:"reserved"`
	Backordered  bool         `json:"backordered,omitempty"`
	UnitPrice    domain.Money `json:"unit_price"`
	RestockETA   *time.Time   `json:"restock_eta,omitempty"`
	Alternatives []string     `json:"alternatives,omitempty"`
}

// StockRequest releases or commits (ships from) a reservation.
type StockRequest struct {
	Key      string `json:"key"`
	RMAID    string `json:"rma_id"`
	LineID   string `json:"line_id"`
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
}

// MoveRequest moves a returned item to restock, quarantine, disposal or
// repair.
type MoveRequest struct {
	Key      string `json:"key"`
	RMAID    string `json:"rma_id"`
	LineID   string `json:"line_id"`
	SKU      string `json:"sku"`
	Batch    string `json:"batch,omitempty"`
	Quantity int    `json:"quantity"`
	To       string `json:"to"`
}

// Payment kinds.
const (
	PayRefund      = "refund"
	PayStoreCredit = "store_credit"
	PayCharge      = "charge"
	PayHold        = "hold"
	PayCapture     = "capture"
	PayVoidHold    = "void_hold"
	PayCoupon      = "coupon"
	// PayPoints grants loyalty points (Amount in the currency "PTS").
	PayPoints = "points"
)

// PaymentRequest is one money movement.
type PaymentRequest struct {
	Key        string       `json:"key"`
	Kind       string       `json:"kind"`
	RMAID      string       `json:"rma_id"`
	LineID     string       `json:"line_id,omitempty"`
	CustomerID string       `json:"customer_id"`
	Amount     domain.Money `json:"amount"`
	// HoldKey names the hold a capture or void acts on.
	HoldKey string `json:"hold_key,omitempty"`
	// RefundOf is the key of the movement a refund gives back (a charged
	// price difference, a captured hold); empty refunds the order's own
	// payment.
	RefundOf string `json:"refund_of,omitempty"`
	// Payment is where the order was paid, at the provider: what a refund
	// refunds, whose balance store credit goes to, the card a hold is
	// placed on. The simulator needs none of it; Stripe does.
	Payment   *domain.PaymentRef `json:"payment,omitempty"`
	ExpiresIn time.Duration      `json:"expires_in,omitempty"`
	Memo      string             `json:"memo,omitempty"`
	// Method is how a refund is paid: "" or original (the payment method
	// the customer used), bank_transfer or e_wallet to Account.
	Method  string `json:"method,omitempty"`
	Account string `json:"account,omitempty"`
}

// PaymentResult is the ledger entry made.
type PaymentResult struct {
	ID     string       `json:"id"`
	Status string       `json:"status"`
	Amount domain.Money `json:"amount"`
}

// Audiences of notifications.
const (
	ToCustomer   = domain.ToCustomer
	ToSupport    = domain.ToSupport
	ToSupervisor = domain.ToSupervisor
	ToQuality    = domain.ToQuality
)

// Notification is a message rendered from a template in the customer's
// locale by the notifier.
type Notification struct {
	Key      string            `json:"key"`
	RMAID    string            `json:"rma_id"`
	To       string            `json:"to"`
	Assignee string            `json:"assignee,omitempty"`
	Template string            `json:"template"`
	Locale   domain.Locale     `json:"locale"`
	Customer domain.Customer   `json:"customer"`
	Params   map[string]string `json:"params,omitempty"`
}

// Publication is what a return's workflow writes to PostgreSQL once per
// wait, in one transaction: the view as of Seq, the timeline entries added
// since the last publication (the audit trail; Audit[0] is entry number
// AuditFrom) and the notices to send (the outbox, delivered by the relay
// with their keys). It is idempotent: a store that has Seq or a newer one
// changes nothing.
type Publication struct {
	Seq int64 `json:"seq"`
	// Epoch is the workflow's history length when the publication was
	// made: of two publications with the same Seq (one workflow task run
	// twice, by a worker that lost it and by the one that took it over), the
	// one with the larger Epoch is the one the workflow goes on from.
	Epoch     int64                  `json:"epoch,omitempty"`
	Return    domain.Return          `json:"return"`
	AuditFrom int                    `json:"audit_from"`
	Audit     []domain.TimelineEntry `json:"audit,omitempty"`
	Notices   []Notification         `json:"notices,omitempty"`
}
