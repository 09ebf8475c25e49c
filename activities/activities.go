package activities

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.uber.org/zap"

	"github.com/rma-dev/rma/domain"
)

// RejectedError is a business refusal from a partner (card declined, label
// refused for the address, unknown SKU). Retrying cannot fix it, so the
// activity fails non-retryably and the workflow hands it to support.
type RejectedError struct {
	Code    string
	Message string
}

func (e *RejectedError) Error() string { return e.Code + ": " + e.Message }

// Rejected builds a RejectedError.
func Rejected(code, format string, args ...any) error {
	return &RejectedError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Activities are the return workflow's side effects. One value is shared by
// every worker goroutine, so it holds only the ports and the logger.
type Activities struct {
	Carrier   Carrier
	Inventory Inventory
	Payments  Payments
	Store     Store
	Logger    *zap.Logger
}

// business turns a partner refusal into a non-retryable application error
// typed by its code; anything else stays retryable.
func business(err error) error {
	if err == nil {
		return nil
	}
	var rej *RejectedError
	if errors.As(err, &rej) {
		return temporal.NewNonRetryableApplicationError(rej.Message, rej.Code, err)
	}
	return err
}

func (a *Activities) log(ctx context.Context, rmaID string) *zap.Logger {
	l := a.Logger
	if l == nil {
		l = zap.NewNop()
	}
	info := activity.GetInfo(ctx)
	return l.With(zap.String("rma_id", rmaID), zap.String("activity", info.ActivityType.Name), zap.Int32("attempt", info.Attempt))
}

// CreateReturnLabel books the return label (and pickup) and, in the same
// step, routes its tracking number to the return, so a carrier webhook finds
// the return the moment the label exists. Events the carrier sent before the
// route was written come back with the label.
func (a *Activities) CreateReturnLabel(ctx context.Context, req LabelRequest) (LabelResult, error) {
	l, err := a.Carrier.CreateLabel(ctx, req)
	if err != nil {
		a.log(ctx, req.RMAID).Warn("create label failed", zap.Error(err))
		return LabelResult{}, business(fmt.Errorf("create label: %w", err))
	}
	early, err := a.Store.RouteParcel(ctx, Parcel{TrackingNumber: l.TrackingNumber, RMAID: req.RMAID, Purpose: ParcelReturn})
	if err != nil {
		return LabelResult{}, fmt.Errorf("route parcel %s: %w", l.TrackingNumber, err)
	}
	a.log(ctx, req.RMAID).Info("label booked", zap.String("tracking", l.TrackingNumber), zap.String("method", string(req.Method)), zap.Int("early_events", len(early)))
	return LabelResult{Label: l, Events: early}, nil
}

// VoidReturnLabel voids a label and cancels its pickup.
func (a *Activities) VoidReturnLabel(ctx context.Context, req VoidLabelRequest) error {
	if err := a.Carrier.VoidLabel(ctx, req); err != nil {
		return business(fmt.Errorf("void label: %w", err))
	}
	a.log(ctx, req.RMAID).Info("label voided", zap.String("tracking", req.TrackingNumber))
	return nil
}

// ShipToCustomer sends a replacement, reship or repaired item and routes its
// tracking number to the return, so its delivery is tracked.
func (a *Activities) ShipToCustomer(ctx context.Context, req ShipRequest) (Shipment, error) {
	s, err := a.Carrier.Ship(ctx, req)
	if err != nil {
		return Shipment{}, business(fmt.Errorf("ship %s: %w", req.Purpose, err))
	}
	if _, err := a.Store.RouteParcel(ctx, Parcel{TrackingNumber: s.TrackingNumber, RMAID: req.RMAID, Purpose: req.Purpose, LineID: req.LineID}); err != nil {
		return Shipment{}, fmt.Errorf("route parcel %s: %w", s.TrackingNumber, err)
	}
	a.log(ctx, req.RMAID).Info("shipped", zap.String("line_id", req.LineID), zap.String("purpose", req.Purpose), zap.String("tracking", s.TrackingNumber))
	return s, nil
}

// OpenCarrierClaim opens a lost/damaged claim with the parcel's whole
// tracking record, read from the store (the workflow sees only the scans that
// move the return) as evidence.
func (a *Activities) OpenCarrierClaim(ctx context.Context, req ClaimRequest) (Claim, error) {
	record, err := a.Store.TrackingRecord(ctx, req.TrackingNumber)
	if err != nil {
		return Claim{}, fmt.Errorf("tracking record %s: %w", req.TrackingNumber, err)
	}
	req.Evidence = evidenceThrough(record, req.Through)
	c, err := a.Carrier.OpenClaim(ctx, req)
	if err != nil {
		return Claim{}, business(fmt.Errorf("open claim: %w", err))
	}
	a.log(ctx, req.RMAID).Info("carrier claim opened", zap.String("claim_id", c.ClaimID))
	return c, nil
}

// ReserveStock reserves a replacement; out of stock is a normal answer.
func (a *Activities) ReserveStock(ctx context.Context, req ReserveRequest) (Reservation, error) {
	r, err := a.Inventory.Reserve(ctx, req)
	if err != nil {
		return Reservation{}, business(fmt.Errorf("reserve %s: %w", req.SKU, err))
	}
	a.log(ctx, req.RMAID).Info("reserve", zap.String("sku", req.SKU), zap.Bool("reserved", r.Reserved), zap.Bool("backordered", r.Backordered))
	return r, nil
}

// ReleaseStock gives a reservation back.
func (a *Activities) ReleaseStock(ctx context.Context, req StockRequest) error {
	if err := a.Inventory.Release(ctx, req); err != nil {
		return business(fmt.Errorf("release %s: %w", req.SKU, err))
	}
	a.log(ctx, req.RMAID).Info("reservation released", zap.String("sku", req.SKU))
	return nil
}

// CommitStock turns a reservation into a shipment from stock.
func (a *Activities) CommitStock(ctx context.Context, req StockRequest) error {
	if err := a.Inventory.Commit(ctx, req); err != nil {
		return business(fmt.Errorf("commit %s: %w", req.SKU, err))
	}
	a.log(ctx, req.RMAID).Info("reservation committed", zap.String("sku", req.SKU))
	return nil
}

// MoveStock applies an inspection disposition to a returned item.
func (a *Activities) MoveStock(ctx context.Context, req MoveRequest) error {
	if err := a.Inventory.Move(ctx, req); err != nil {
		return business(fmt.Errorf("move %s to %s: %w", req.SKU, req.To, err))
	}
	a.log(ctx, req.RMAID).Info("stock moved", zap.String("sku", req.SKU), zap.String("to", req.To))
	return nil
}

// MoveMoney executes one idempotent money movement.
func (a *Activities) MoveMoney(ctx context.Context, req PaymentRequest) (PaymentResult, error) {
	if req.Key == "" {
		return PaymentResult{}, temporal.NewNonRetryableApplicationError("payment without idempotency key", "MissingKey", nil)
	}
	res, err := a.Payments.Execute(ctx, req)
	if err != nil {
		a.log(ctx, req.RMAID).Warn("payment failed", zap.String("key", req.Key), zap.Error(err))
		return PaymentResult{}, business(fmt.Errorf("%s %s: %w", req.Kind, req.Amount, err))
	}
	a.log(ctx, req.RMAID).Info("money moved", zap.String("kind", req.Kind), zap.String("key", req.Key), zap.Int64("amount", req.Amount.Amount), zap.String("currency", req.Amount.Currency))
	return res, nil
}

// ReconcileMoney is MoveMoney for a movement retried after the provider may
// have forgotten its idempotency key (24 h at Stripe): it looks the key up
// first and, when a movement was made under it, returns that one instead of
// paying again.
func (a *Activities) ReconcileMoney(ctx context.Context, req PaymentRequest) (PaymentResult, error) {
	if req.Key == "" {
		return PaymentResult{}, temporal.NewNonRetryableApplicationError("payment without idempotency key", "MissingKey", nil)
	}
	res, found, err := a.Payments.Find(ctx, req)
	if err != nil {
		return PaymentResult{}, business(fmt.Errorf("look up %s: %w", req.Key, err))
	}
	if found {
		a.log(ctx, req.RMAID).Info("money movement found by key; not sent again", zap.String("kind", req.Kind), zap.String("key", req.Key), zap.String("payment_id", res.ID))
		return res, nil
	}
	return a.MoveMoney(ctx, req)
}

// Enqueue puts notices in the outbox; the relay delivers them.
func (a *Activities) Enqueue(ctx context.Context, notices []Notification) error {
	if err := a.Store.Enqueue(ctx, notices); err != nil {
		return fmt.Errorf("enqueue %d notice(s): %w", len(notices), err)
	}
	return nil
}

// DetectAnomalies reads batch sales and returns and applies the anomaly
// rule.
func (a *Activities) DetectAnomalies(ctx context.Context, rule domain.AnomalyPolicy) ([]domain.Anomaly, error) {
	stats, err := a.Store.BatchStats(ctx)
	if err != nil {
		return nil, business(fmt.Errorf("batch stats: %w", err))
	}
	found := domain.DetectAnomalies(rule, stats)
	a.log(ctx, "").Info("anomaly check", zap.Int("batches", len(stats)), zap.Int("anomalies", len(found)))
	return found, nil
}

// Publish writes a publication: the read model, the audit trail and the
// outbox, in one transaction. Every failure is retried (the workflow retries
// it until it succeeds), so it is never a business refusal.
func (a *Activities) Publish(ctx context.Context, p Publication) error {
	if err := a.Store.Publish(ctx, p); err != nil {
		a.log(ctx, p.Return.ID).Warn("publish failed", zap.Int64("seq", p.Seq), zap.Error(err))
		return fmt.Errorf("publish %s seq %d: %w", p.Return.ID, p.Seq, err)
	}
	return nil
}

// evidenceThrough is the tracking record up to and including the event that
// prompted the claim, so the claim's body is the same on every retry.
func evidenceThrough(record []TrackingEvent, through string) []TrackingEvent {
	for i, e := range record {
		if e.EventID == through {
			return record[:i+1]
		}
	}
	return record
}
