-- +goose Up
-- The create call writes a return's opening (seq 1) and answers; a launcher
-- starts its workflow (LISTEN rma_opened). started stays false until the
-- start succeeded, and the return's notices are held until then. The
-- idempotency key lives here as long as the return does, so the same key
-- never opens a second return, whatever Temporal's retention.
ALTER TABLE returns ADD COLUMN started boolean NOT NULL DEFAULT true;
ALTER TABLE returns ADD COLUMN start_attempts int NOT NULL DEFAULT 0;
ALTER TABLE returns ADD COLUMN start_next_at timestamptz;
ALTER TABLE returns ADD COLUMN idempotency_key text UNIQUE;
ALTER TABLE returns ADD COLUMN request_hash text;
-- The workflow's start input, so the launcher starts exactly the run the
-- opening was computed for.
ALTER TABLE returns ADD COLUMN start_input jsonb;
-- The launcher's queue: openings whose workflow has not started.
CREATE INDEX returns_unstarted_idx ON returns (start_next_at) WHERE NOT started;

-- Notices to send, written in the same transaction as the state change that
-- caused them; the relay delivers them with their keys (LISTEN rma_outbox).
-- held: the return's workflow has not started yet.
CREATE TABLE outbox (
    id              bigserial   PRIMARY KEY,
    key             text        NOT NULL UNIQUE,
    rma_id          text        NOT NULL DEFAULT '',
    notice          jsonb       NOT NULL,
    held            boolean     NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        int         NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    failed_at       timestamptz,
    last_error      text
);
-- The relay's next batch: undelivered, released notices, oldest first.
CREATE INDEX outbox_due_idx ON outbox (next_attempt_at, id) WHERE delivered_at IS NULL AND failed_at IS NULL AND NOT held;
CREATE INDEX outbox_rma_idx ON outbox (rma_id);

-- Which return a tracking number belongs to: written by the activity that
-- books the label (or ships a parcel), in the same step. Carrier webhooks
-- route through it.
CREATE TABLE parcels (
    tracking_number text        PRIMARY KEY,
    rma_id          text        NOT NULL,
    purpose         text        NOT NULL,
    line_id         text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX parcels_rma_idx ON parcels (rma_id);

-- Every carrier event received, routed or not: the tracking record (claim
-- evidence), replay protection across API replicas, and the events of
-- unknown parcels kept for support.
CREATE TABLE carrier_events (
    event_id        text        PRIMARY KEY,
    arrival         bigserial,
    tracking_number text        NOT NULL,
    type            text        NOT NULL,
    occurred_at     timestamptz NOT NULL,
    detail          text        NOT NULL DEFAULT '',
    received_at     timestamptz NOT NULL DEFAULT now(),
    rma_id          text,
    routed_at       timestamptz,
    signalled       boolean     NOT NULL DEFAULT false
);
-- A parcel's tracking record in arrival order.
CREATE INDEX carrier_events_tracking_idx ON carrier_events (tracking_number, arrival);
-- Events of parcels nobody knows, for support.
CREATE INDEX carrier_events_unrouted_idx ON carrier_events (received_at) WHERE rma_id IS NULL;

-- Support's tasks: a return in needs_attention, a notice that could not be
-- delivered. Nothing that retries cannot fix ends as a log line only.
CREATE TABLE tasks (
    id        bigserial   PRIMARY KEY,
    key       text        NOT NULL UNIQUE,
    rma_id    text        NOT NULL DEFAULT '',
    kind      text        NOT NULL,
    detail    text        NOT NULL,
    opened_at timestamptz NOT NULL DEFAULT now(),
    closed_at timestamptz
);
CREATE INDEX tasks_open_idx ON tasks (opened_at) WHERE closed_at IS NULL;
CREATE INDEX tasks_rma_idx ON tasks (rma_id);

-- +goose Down
DROP TABLE tasks;
DROP TABLE carrier_events;
DROP TABLE parcels;
DROP TABLE outbox;
DROP INDEX returns_unstarted_idx;
ALTER TABLE returns DROP COLUMN start_input;
ALTER TABLE returns DROP COLUMN start_next_at;
ALTER TABLE returns DROP COLUMN start_attempts;
ALTER TABLE returns DROP COLUMN request_hash;
ALTER TABLE returns DROP COLUMN idempotency_key;
ALTER TABLE returns DROP COLUMN started;
