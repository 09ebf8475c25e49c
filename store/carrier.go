package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rma-dev/rma/activities"
	"github.com/rma-dev/rma/domain"
)

// Carrier webhooks find their return through the parcel routes written when
// a label is booked or a parcel shipped. Both sides take the same
// per-tracking-number lock, so a scan that arrives while the label is being
// booked is either routed by the webhook or handed back to the label step,
// never neither.

func lockTracking(ctx context.Context, tx tx, tracking string) error {
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext('parcel:' || $1))`, tracking); err != nil {
		return fmt.Errorf("lock parcel %s: %w", tracking, err)
	}
	return nil
}

// RouteParcel implements activities.Store.
func (s *Store) RouteParcel(ctx context.Context, p activities.Parcel) ([]activities.TrackingEvent, error) {
	tx, err := s.begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := lockTracking(ctx, tx, p.TrackingNumber); err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO parcels (tracking_number, rma_id, purpose, line_id) VALUES ($1, $2, $3, $4)
  ON CONFLICT (tracking_number) DO NOTHING`, p.TrackingNumber, p.RMAID, p.Purpose, p.LineID); err != nil {
		return nil, fmt.Errorf("route parcel %s: %w", p.TrackingNumber, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE carrier_events SET rma_id = $2, routed_at = coalesce(routed_at, now())
  WHERE tracking_number = $1 AND rma_id IS NULL`, p.TrackingNumber, p.RMAID); err != nil {
		return nil, fmt.Errorf("route early events: %w", err)
	}
	// Every event of the parcel so far, not only the ones routed now: if
	// the label step is retried, it must hand them back again.
	events, err := trackingRecord(ctx, tx, p.TrackingNumber)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit route: %w", err)
	}
	return events, nil
}

type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

func trackingRecord(ctx context.Context, q querier, tracking string) ([]activities.TrackingEvent, error) {
	rows, err := q.QueryContext(ctx, `SELECT event_id, type, occurred_at, detail FROM carrier_events WHERE tracking_number = $1 ORDER BY arrival`, tracking)
	if err != nil {
		return nil, fmt.Errorf("tracking record %s: %w", tracking, err)
	}
	defer rows.Close()
	var out []activities.TrackingEvent
	for rows.Next() {
		e := activities.TrackingEvent{TrackingNumber: tracking}
		if err := rows.Scan(&e.EventID, &e.Type, &e.OccurredAt, &e.Detail); err != nil {
			return nil, fmt.Errorf("scan event: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("tracking record %s: %w", tracking, err)
	}
	return out, nil
}

// TrackingRecord implements activities.Store.
func (s *Store) TrackingRecord(ctx context.Context, tracking string) ([]activities.TrackingEvent, error) {
	return trackingRecord(ctx, s.db, tracking)
}

// Routing is what AcceptCarrierEvent decided.
type Routing int

// Routings.
const (
	// Replayed: the event was already handed to its return.
	Replayed Routing = iota
	// Unrouted: no return owns the tracking number (yet); the event is
	// kept, and the carrier should retry later.
	Unrouted
	// Recorded: the event belongs to a return but changes nothing there
	// (another in-transit scan); it is kept in the tracking record.
	Recorded
	// Signal: the return's workflow must hear of it.
	Signal
)

// Route is where a carrier event goes.
type Route struct {
	Routing Routing
	RMAID   string
	Purpose string
}

// AcceptCarrierEvent stores a webhook's event and decides where it goes.
// Only the scans that move a return are signalled (the first scan, the
// delivery, exceptions, and a bounded number per return): a carrier's stream
// of in-transit scans would otherwise cost a billable signal each.
func (s *Store) AcceptCarrierEvent(ctx context.Context, ev activities.TrackingEvent) (Route, error) {
	tx, err := s.begin(ctx)
	if err != nil {
		return Route{}, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := lockTracking(ctx, tx, ev.TrackingNumber); err != nil {
		return Route{}, err
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO carrier_events (event_id, tracking_number, type, occurred_at, detail) VALUES ($1, $2, $3, $4, $5)
  ON CONFLICT (event_id) DO NOTHING`, ev.EventID, ev.TrackingNumber, ev.Type, ev.OccurredAt, ev.Detail)
	if err != nil {
		return Route{}, fmt.Errorf("store carrier event: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var routed sql.NullTime
		if err := tx.QueryRowContext(ctx, `SELECT routed_at FROM carrier_events WHERE event_id = $1`, ev.EventID).Scan(&routed); err != nil {
			return Route{}, fmt.Errorf("read carrier event: %w", err)
		}
		if routed.Valid {
			return Route{Routing: Replayed}, nil
		}
		// Stored earlier but never routed (unknown parcel then, or the
		// signal failed): try again below.
	}
	var rt Route
	err = tx.QueryRowContext(ctx, `SELECT rma_id, purpose FROM parcels WHERE tracking_number = $1`, ev.TrackingNumber).Scan(&rt.RMAID, &rt.Purpose)
	if errors.Is(err, sql.ErrNoRows) {
		rt.Routing = Unrouted
		return rt, tx.Commit()
	}
	if err != nil {
		return Route{}, fmt.Errorf("route %s: %w", ev.TrackingNumber, err)
	}
	var earlier, exceptions int
	if err := tx.QueryRowContext(ctx, `SELECT
  count(*) FILTER (WHERE tracking_number = $2 AND signalled AND (type = $3 OR ($3 IN ('picked_up', 'in_transit') AND type IN ('picked_up', 'in_transit', 'delivered')))),
  count(*) FILTER (WHERE signalled AND type = 'exception')
  FROM carrier_events WHERE rma_id = $1`, rt.RMAID, ev.TrackingNumber, ev.Type).Scan(&earlier, &exceptions); err != nil {
		return Route{}, fmt.Errorf("earlier events: %w", err)
	}
	// The first scan and the delivery move the return and are signalled
	// once each; exceptions are evidence for support, signalled up to the
	// per-return cap. The rest stays in the tracking record.
	rt.Routing = Recorded
	switch ev.Type {
	case domain.CarrierException:
		if exceptions < domain.MaxCarrierEvents {
			rt.Routing = Signal
		}
	case domain.CarrierDelivered, domain.CarrierClaimSettled:
		// The carrier's answer to a claim ends a lost parcel's wait.
		if earlier == 0 {
			rt.Routing = Signal
		}
	case domain.CarrierPickedUp, domain.CarrierInTransit:
		if earlier == 0 && rt.Purpose == activities.ParcelReturn {
			rt.Routing = Signal
		}
	}
	routedAt := "now()"
	if rt.Routing == Signal {
		routedAt = "NULL" // set once the signal is through
	}
	if _, err := tx.ExecContext(ctx, `UPDATE carrier_events SET rma_id = $2, routed_at = `+routedAt+` WHERE event_id = $1`, ev.EventID, rt.RMAID); err != nil {
		return Route{}, fmt.Errorf("route event: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return Route{}, fmt.Errorf("commit carrier event: %w", err)
	}
	return rt, nil
}

// EventSignalled records that the return's workflow has the event.
func (s *Store) EventSignalled(ctx context.Context, eventID string) error {
	if _, err := s.exec(ctx, `UPDATE carrier_events SET routed_at = now(), signalled = true WHERE event_id = $1`, eventID); err != nil {
		return fmt.Errorf("mark event %s: %w", eventID, err)
	}
	return nil
}

// RecordLateEvent applies an event for a return whose workflow has ended
// (a replacement delivered after the exchange completed): the read model is
// the only writer left, so it notes the event on the view and the audit.
func (s *Store) RecordLateEvent(ctx context.Context, rmaID string, ev activities.TrackingEvent) error {
	_, err := s.amend(ctx, rmaID, func(tx tx, r *domain.Return) (domain.TimelineEntry, error) {
		typ := "carrier_" + string(ev.Type)
		for i := range r.Lines {
			l := &r.Lines[i]
			switch {
			case l.Replacement != nil && l.Replacement.TrackingNumber == ev.TrackingNumber:
				typ = "replacement_" + string(ev.Type)
				if ev.Type == domain.CarrierDelivered {
					l.Replacement.Delivered = true
				}
			case l.OutboundTracking != "" && l.OutboundTracking == ev.TrackingNumber:
				typ = "outbound_" + string(ev.Type)
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE carrier_events SET routed_at = now() WHERE event_id = $1`, ev.EventID); err != nil {
			return domain.TimelineEntry{}, fmt.Errorf("mark event: %w", err)
		}
		return domain.TimelineEntry{At: time.Now().UTC(), Type: typ, Actor: "carrier", Detail: strings.TrimSpace(ev.TrackingNumber + " " + ev.Detail)}, nil
	})
	return err
}

// StoredEvent is a carrier event as kept.
type StoredEvent struct {
	activities.TrackingEvent
	ReceivedAt time.Time `json:"received_at"`
	RMAID      string    `json:"rma_id,omitempty"`
}

// UnroutedEvents lists events of parcels no return owns, newest first: for
// support, who decide whether a carrier mislabelled something.
func (s *Store) UnroutedEvents(ctx context.Context, limit int) ([]StoredEvent, error) {
	rows, err := s.query(ctx, `SELECT event_id, tracking_number, type, occurred_at, detail, received_at
  FROM carrier_events WHERE rma_id IS NULL ORDER BY received_at DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("unrouted events: %w", err)
	}
	defer rows.Close()
	out := []StoredEvent{}
	for rows.Next() {
		var e StoredEvent
		if err := rows.Scan(&e.EventID, &e.TrackingNumber, &e.Type, &e.OccurredAt, &e.Detail, &e.ReceivedAt); err != nil {
			return nil, fmt.Errorf("scan event: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
