package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/lib/pq"

	"github.com/rma-dev/rma/activities"
)

// deliveriesCTE queues a delivery of each event just written (the evs
// CTE: seq, rma_id, type) for every live endpoint that takes its type; the
// publication and the opening write events with it.
const deliveriesCTE = `dels AS (
  INSERT INTO webhook_deliveries (endpoint_id, event_seq, rma_id)
  SELECT e.id, evs.seq, evs.rma_id FROM evs JOIN webhook_endpoints e ON e.deleted_at IS NULL AND (evs.type = ANY (e.events) OR '*' = ANY (e.events))
  RETURNING 1
)`

// headDelivery holds for a pending delivery d that is its return's oldest
// to its endpoint: only those may go, so a return's events arrive in order.
const headDelivery = `NOT EXISTS (SELECT 1 FROM webhook_deliveries o WHERE o.endpoint_id = d.endpoint_id AND o.rma_id = d.rma_id AND o.status = 'pending'
      AND (o.event_seq, o.id) < (d.event_seq, d.id))`

// WebhookChannel is NOTIFYed when deliveries are queued, waking the relay.
const WebhookChannel = "rma_webhooks"

// ErrNoEndpoint means no live endpoint has that ID (for that owner).
var ErrNoEndpoint = errors.New("no such webhook endpoint")

// WebhookEvents are the event types rma sends (docs/webhooks.md), by the
// timeline entry that causes each; return.status_changed comes with every
// change of status.
var webhookEventOf = map[string]string{
	"requested": "return.created", "approved": "return.approved", "declined": "return.declined",
	"label_issued": "return.label_issued", "received": "return.received", "inspected": "return.inspected",
	"refunded": "return.refunded", "replacement_shipped": "return.replacement_shipped", "completed": "return.completed",
	"cancelled": "return.cancelled", "expired": "return.expired", "needs_attention": "return.needs_attention",
	"sla_breach": "return.sla_breached",
}

// WebhookEventTypes lists every event type, for validation and the docs.
func WebhookEventTypes() []string {
	return []string{"return.created", "return.status_changed", "return.approved", "return.declined", "return.label_issued",
		"return.received", "return.inspected", "return.refunded", "return.replacement_shipped", "return.completed",
		"return.cancelled", "return.expired", "return.needs_attention", "return.sla_breached"}
}

// Endpoint is a merchant's webhook endpoint. Secret is set only in the
// answers that create or rotate it.
type Endpoint struct {
	ID          string    `json:"id"`
	URL         string    `json:"url"`
	Events      []string  `json:"events"`
	Description string    `json:"description,omitempty"`
	Owner       string    `json:"owner"`
	Paused      bool      `json:"paused"`
	CreatedAt   time.Time `json:"created_at"`
	Secret      string    `json:"secret,omitempty"`
}

func randomToken(prefix string, n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// CreateEndpoint stores an endpoint and returns it with its signing secret.
func (s *Store) CreateEndpoint(ctx context.Context, url string, events []string, description, owner string) (Endpoint, error) {
	id, err := randomToken("we_", 9)
	if err != nil {
		return Endpoint{}, err
	}
	secret, err := randomToken("whsec_", 32)
	if err != nil {
		return Endpoint{}, err
	}
	e := Endpoint{ID: id, URL: url, Events: events, Description: description, Owner: owner, Secret: secret}
	if err := s.db.QueryRowContext(ctx, `INSERT INTO webhook_endpoints (id, url, events, description, owner, secret) VALUES ($1, $2, $3, $4, $5, $6) RETURNING created_at`,
		e.ID, e.URL, pq.Array(e.Events), e.Description, e.Owner, e.Secret).Scan(&e.CreatedAt); err != nil {
		return Endpoint{}, fmt.Errorf("create webhook endpoint: %w", err)
	}
	return e, nil
}

// ownerClause scopes a query to an owner ("" is every owner: admin).
const ownerClause = ` AND ($2 = '' OR owner = $2)`

// ListEndpoints lists the live endpoints of an owner ("" for all).
func (s *Store) ListEndpoints(ctx context.Context, owner string) ([]Endpoint, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, url, events, description, owner, paused, created_at FROM webhook_endpoints
  WHERE deleted_at IS NULL AND ($1 = '' OR owner = $1) ORDER BY created_at`, owner)
	if err != nil {
		return nil, fmt.Errorf("list webhook endpoints: %w", err)
	}
	defer rows.Close()
	out := []Endpoint{}
	for rows.Next() {
		var e Endpoint
		if err := rows.Scan(&e.ID, &e.URL, pq.Array(&e.Events), &e.Description, &e.Owner, &e.Paused, &e.CreatedAt); err != nil {
			return nil, fmt.Errorf("list webhook endpoints: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func affected(res sql.Result, err error) error {
	if err != nil {
		return fmt.Errorf("webhook endpoint: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNoEndpoint
	}
	return nil
}

// DeleteEndpoint removes an endpoint; its pending deliveries are dropped.
func (s *Store) DeleteEndpoint(ctx context.Context, id, owner string) error {
	if err := affected(s.db.ExecContext(ctx, `UPDATE webhook_endpoints SET deleted_at = now() WHERE id = $1 AND deleted_at IS NULL`+ownerClause, id, owner)); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, `UPDATE webhook_deliveries SET status = 'cancelled' WHERE endpoint_id = $1 AND status = 'pending'`, id)
	return err
}

// RotateSecret gives an endpoint a new secret; for 24 hours deliveries are
// signed with both.
func (s *Store) RotateSecret(ctx context.Context, id, owner string, now time.Time) (Endpoint, error) {
	secret, err := randomToken("whsec_", 32)
	if err != nil {
		return Endpoint{}, err
	}
	e := Endpoint{ID: id, Secret: secret}
	err = s.db.QueryRowContext(ctx, `UPDATE webhook_endpoints SET old_secret = secret, old_secret_until = $3, secret = $4
  WHERE id = $1 AND deleted_at IS NULL`+ownerClause+` RETURNING url, events, description, owner, paused, created_at`,
		id, owner, now.Add(24*time.Hour), secret).Scan(&e.URL, pq.Array(&e.Events), &e.Description, &e.Owner, &e.Paused, &e.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return Endpoint{}, ErrNoEndpoint
	}
	if err != nil {
		return Endpoint{}, fmt.Errorf("rotate secret: %w", err)
	}
	return e, nil
}

// Replay queues again every event since a time for an endpoint (its
// types), and resumes a paused endpoint. Receivers deduplicate by the
// event's id.
func (s *Store) Replay(ctx context.Context, id, owner string, since time.Time) (int, error) {
	if err := affected(s.db.ExecContext(ctx, `UPDATE webhook_endpoints SET paused = false, failures = 0 WHERE id = $1 AND deleted_at IS NULL`+ownerClause, id, owner)); err != nil {
		return 0, err
	}
	// Deliveries that waited while the endpoint was paused get their three
	// days again.
	if _, err := s.db.ExecContext(ctx, `UPDATE webhook_deliveries SET created_at = now(), next_at = now() WHERE endpoint_id = $1 AND status = 'pending'`, id); err != nil {
		return 0, fmt.Errorf("replay: %w", err)
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO webhook_deliveries (endpoint_id, event_seq, rma_id)
  SELECT e.id, ev.seq, ev.rma_id FROM webhook_events ev JOIN webhook_endpoints e ON e.id = $1
  WHERE ev.created_at >= $2 AND (ev.type = ANY (e.events) OR '*' = ANY (e.events)) ORDER BY ev.seq`, id, since)
	if err != nil {
		return 0, fmt.Errorf("replay: %w", err)
	}
	n, _ := res.RowsAffected()
	_, _ = s.db.ExecContext(ctx, `SELECT pg_notify('`+WebhookChannel+`', '')`)
	return int(n), nil
}

// Delivery is one event's delivery to one endpoint, as the log shows it.
type Delivery struct {
	ID          int64      `json:"id"`
	EventID     string     `json:"event_id"`
	Type        string     `json:"type"`
	RMAID       string     `json:"rma_id"`
	Status      string     `json:"status"`
	Attempts    int        `json:"attempts"`
	LastStatus  *int       `json:"last_status,omitempty"`
	LastError   *string    `json:"last_error,omitempty"`
	LatencyMS   *int       `json:"latency_ms,omitempty"`
	NextAt      time.Time  `json:"next_at"`
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
}

// Deliveries is an endpoint's delivery log, newest first.
func (s *Store) Deliveries(ctx context.Context, id, owner string, limit int) ([]Delivery, error) {
	var ok bool
	if err := s.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM webhook_endpoints WHERE id = $1`+ownerClause+`)`, id, owner).Scan(&ok); err != nil {
		return nil, fmt.Errorf("deliveries: %w", err)
	}
	if !ok {
		return nil, ErrNoEndpoint
	}
	rows, err := s.db.QueryContext(ctx, `SELECT d.id, ev.event_id, ev.type, d.rma_id, d.status, d.attempts, d.last_status, d.last_error, d.latency_ms, d.next_at, d.delivered_at
  FROM webhook_deliveries d JOIN webhook_events ev ON ev.seq = d.event_seq WHERE d.endpoint_id = $1 ORDER BY d.id DESC LIMIT $2`, id, limit)
	if err != nil {
		return nil, fmt.Errorf("deliveries: %w", err)
	}
	defer rows.Close()
	out := []Delivery{}
	for rows.Next() {
		var d Delivery
		if err := rows.Scan(&d.ID, &d.EventID, &d.Type, &d.RMAID, &d.Status, &d.Attempts, &d.LastStatus, &d.LastError, &d.LatencyMS, &d.NextAt, &d.DeliveredAt); err != nil {
			return nil, fmt.Errorf("deliveries: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// DeliveryJob is a leased delivery with what sending it needs.
type DeliveryJob struct {
	ID         int64
	EndpointID string
	URL        string
	Secrets    [][]byte // the current secret, and the old one for a day after a rotation
	Attempts   int
	Event      WebhookEvent
	// Queued is when the delivery was queued (or resumed by a replay):
	// it is retried for three days from then.
	Queued time.Time
	// Leased is when the relay leased it.
	Leased time.Time
}

// WebhookEvent is what a delivery POSTs.
type WebhookEvent struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	CreatedAt time.Time       `json:"created_at"`
	RMAID     string          `json:"rma_id"`
	Data      json.RawMessage `json:"data"`
}

// ClaimDeliveries leases up to n deliveries that are due, each the oldest
// pending one of its endpoint and return (so a return's events arrive in
// order), from live, unpaused endpoints. Two relays never lease the same.
func (s *Store) ClaimDeliveries(ctx context.Context, n int, lease time.Duration) ([]DeliveryJob, error) {
	rows, err := s.db.QueryContext(ctx, `WITH c AS (
  SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
  WHERE d.status = 'pending' AND d.next_at <= now() AND (d.lease_until IS NULL OR d.lease_until < now())
    AND NOT e.paused AND e.deleted_at IS NULL
    AND `+headDelivery+`
  ORDER BY d.event_seq, d.id LIMIT $1 FOR UPDATE OF d SKIP LOCKED
), leased AS (
  UPDATE webhook_deliveries d SET lease_until = now() + $2::interval FROM c WHERE d.id = c.id
  RETURNING d.id, d.endpoint_id, d.event_seq, d.attempts, d.created_at
)
SELECT l.id, l.endpoint_id, e.url, e.secret, CASE WHEN e.old_secret_until > now() THEN e.old_secret END, l.attempts,
  ev.event_id, ev.type, ev.created_at, ev.rma_id, ev.data, l.created_at
FROM leased l JOIN webhook_endpoints e ON e.id = l.endpoint_id JOIN webhook_events ev ON ev.seq = l.event_seq ORDER BY ev.seq`,
		n, fmt.Sprintf("%d milliseconds", lease.Milliseconds()))
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	defer rows.Close()
	var out []DeliveryJob
	for rows.Next() {
		var j DeliveryJob
		var secret string
		var old sql.NullString
		var data []byte
		if err := rows.Scan(&j.ID, &j.EndpointID, &j.URL, &secret, &old, &j.Attempts, &j.Event.ID, &j.Event.Type, &j.Event.CreatedAt, &j.Event.RMAID, &data, &j.Queued); err != nil {
			return nil, fmt.Errorf("claim deliveries: %w", err)
		}
		j.Secrets = [][]byte{[]byte(secret)}
		if old.Valid {
			j.Secrets = append(j.Secrets, []byte(old.String))
		}
		j.Event.Data = data
		j.Leased = time.Now()
		out = append(out, j)
	}
	return out, rows.Err()
}

// DeliveryDone records a delivered event.
func (s *Store) DeliveryDone(ctx context.Context, j DeliveryJob, status int, latency time.Duration) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + 1, last_status = $2, last_error = NULL,
  latency_ms = $3, delivered_at = now(), lease_until = NULL WHERE id = $1 AND status = 'pending'`, j.ID, status, latency.Milliseconds()); err != nil {
		return fmt.Errorf("delivery %d: %w", j.ID, err)
	}
	_, err := s.db.ExecContext(ctx, `UPDATE webhook_endpoints SET failures = 0 WHERE id = $1 AND failures > 0`, j.EndpointID)
	return err
}

// DeliveryFailed records a failed attempt: retried at next, or, when
// giveUp, failed for good with the endpoint paused and support told (a
// task). An endpoint whose attempts have failed pauseAfter times in a row
// is paused too.
func (s *Store) DeliveryFailed(ctx context.Context, j DeliveryJob, status int, cause string, latency time.Duration, next time.Time, giveUp bool, pauseAfter int) error {
	t, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = t.Rollback() }()
	st := "pending"
	if giveUp {
		st = "failed"
	}
	var httpStatus any
	if status > 0 {
		httpStatus = status
	}
	if _, err := t.ExecContext(ctx, `UPDATE webhook_deliveries SET status = $2, attempts = attempts + 1, last_status = $3, last_error = $4, latency_ms = $5,
  next_at = $6, lease_until = NULL WHERE id = $1 AND status = 'pending'`, j.ID, st, httpStatus, cause, latency.Milliseconds(), next); err != nil {
		return fmt.Errorf("delivery %d: %w", j.ID, err)
	}
	var failures int
	if err := t.QueryRowContext(ctx, `UPDATE webhook_endpoints SET failures = failures + 1, paused = paused OR $2 OR failures + 1 >= $3 WHERE id = $1 RETURNING failures`,
		j.EndpointID, giveUp, pauseAfter).Scan(&failures); err != nil {
		return fmt.Errorf("endpoint %s: %w", j.EndpointID, err)
	}
	if giveUp || failures >= pauseAfter {
		detail := fmt.Sprintf("webhook endpoint %s (%s) paused after %d failed attempts in a row: %s; fix it, then replay", j.EndpointID, redacted(j.URL), failures, cause)
		if err := openTask(ctx, t, "webhook/"+j.EndpointID+"/"+time.Now().UTC().Format("2006-01-02"), j.Event.RMAID, TaskWebhookPaused, detail); err != nil {
			return err
		}
	}
	return t.Commit()
}

// NextDeliveryAt is when the earliest pending delivery is due.
func (s *Store) NextDeliveryAt(ctx context.Context) (time.Time, bool, error) {
	var at sql.NullTime
	// Only each return's oldest pending delivery can go (the rest wait for
	// it), so only those count: a later event that is already due must
	// not wake the relay in a loop.
	if err := s.db.QueryRowContext(ctx, `SELECT min(greatest(d.next_at, coalesce(d.lease_until, d.next_at))) FROM webhook_deliveries d
  JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE d.status = 'pending' AND NOT e.paused AND e.deleted_at IS NULL
    AND `+headDelivery).Scan(&at); err != nil {
		return time.Time{}, false, fmt.Errorf("next delivery: %w", err)
	}
	return at.Time, at.Valid, nil
}

// webhookEventRow is an event a publication writes.
type webhookEventRow struct {
	EventID string `json:"event_id"`
	Type    string `json:"type"`
}

// webhookEvents are the events a publication's new audit entries cause.
// Their ids derive from the return and the entry, so a retried
// publication writes none twice.
func webhookEvents(p activities.Publication) []webhookEventRow {
	out := []webhookEventRow{}
	for i, e := range p.Audit {
		if typ, ok := webhookEventOf[e.Type]; ok {
			sum := sha256.Sum256([]byte(fmt.Sprintf("%s/%d/%s", p.Return.ID, p.AuditFrom+i, typ)))
			out = append(out, webhookEventRow{EventID: "evt_" + hex.EncodeToString(sum[:12]), Type: typ})
		}
	}
	return out
}

// redacted is a URL without its password, for logs and tasks.
func redacted(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
