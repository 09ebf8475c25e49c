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
// One entry point keeps the ledger and its idempotency in one place.
type Payments interface {
	Execute(ctx context.Context, req PaymentRequest) (PaymentResult, error)
}

// Notifier tells customers, support and the quality team.
type Notifier interface {
	Notify(ctx context.Context, n Notification) error
}

// Store is the read model and the customer history the policy needs.
type Store interface {
	CustomerHistory(ctx context.Context, customerID, excludeRMA string, since time.Time) (domain.CustomerHistory, error)
	Project(ctx context.Context, p Projection) error
	BatchStats(ctx context.Context) ([]domain.BatchStats, error)
}

// LabelRequest books a return label, and a pickup for method pickup.
type LabelRequest struct {
	Key      string                `json:"key"`
	RMAID    string                `json:"rma_id"`
	Method   domain.ShippingMethod `json:"method"`
	Customer domain.Customer       `json:"customer"`
	Parcels  int                   `json:"parcels"`
	PickupBy time.Time             `json:"pickup_by"`
}

// Label is a booked return label.
type Label struct {
	TrackingNumber string `json:"tracking_number"`
	LabelURL       string `json:"label_url"`
	ReturnAddress  string `json:"return_address"`
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

// TrackingEvent is one carrier scan, kept as claim evidence.
type TrackingEvent struct {
	EventID    string                  `json:"event_id"`
	Type       domain.CarrierEventType `json:"type"`
	OccurredAt time.Time               `json:"occurred_at"`
	Detail     string                  `json:"detail,omitempty"`
}

// ClaimRequest opens a lost/damaged claim with the tracking record.
type ClaimRequest struct {
	Key            string          `json:"key"`
	RMAID          string          `json:"rma_id"`
	TrackingNumber string          `json:"tracking_number"`
	Detail         string          `json:"detail"`
	Evidence       []TrackingEvent `json:"evidence"`
	DeclaredValue  domain.Money    `json:"declared_value"`
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
	HoldKey   string        `json:"hold_key,omitempty"`
	ExpiresIn time.Duration `json:"expires_in,omitempty"`
	Memo      string        `json:"memo,omitempty"`
}

// PaymentResult is the ledger entry made.
type PaymentResult struct {
	ID     string       `json:"id"`
	Status string       `json:"status"`
	Amount domain.Money `json:"amount"`
}

// Audiences of notifications.
const (
	ToCustomer   = "customer"
	ToSupport    = "support"
	ToSupervisor = "supervisor"
	ToQuality    = "quality"
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

// Projection is the state of a return after transition Seq. Writes are
// idempotent: a store keeps the highest Seq it has seen per return.
type Projection struct {
	Seq    int64         `json:"seq"`
	Event  string        `json:"event"`
	Actor  string        `json:"actor"`
	Return domain.Return `json:"return"`
}
