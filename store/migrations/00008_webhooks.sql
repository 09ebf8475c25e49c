-- +goose Up
-- Outbound webhooks (docs/webhooks.md): merchant endpoints, the event log
-- written in the same statement as the publication that caused each event,
-- and one delivery per endpoint and event, which the relay in rma worker
-- sends in order per return, retried with backoff for three days.
CREATE TABLE IF NOT EXISTS webhook_endpoints (
  id               text PRIMARY KEY,
  url              text NOT NULL,
  events           text[] NOT NULL,
  description      text NOT NULL DEFAULT '',
  owner            text NOT NULL,
  secret           text NOT NULL,
  old_secret       text,
  old_secret_until timestamptz,
  paused           boolean NOT NULL DEFAULT false,
  failures         int NOT NULL DEFAULT 0,
  created_at       timestamptz NOT NULL DEFAULT now(),
  deleted_at       timestamptz
);

CREATE TABLE IF NOT EXISTS webhook_events (
  seq        bigserial PRIMARY KEY,
  event_id   text UNIQUE NOT NULL,
  rma_id     text NOT NULL,
  type       text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  data       jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_events_created_idx ON webhook_events (created_at);

CREATE TABLE IF NOT EXISTS webhook_deliveries (
  id           bigserial PRIMARY KEY,
  endpoint_id  text NOT NULL REFERENCES webhook_endpoints,
  event_seq    bigint NOT NULL REFERENCES webhook_events,
  rma_id       text NOT NULL,
  status       text NOT NULL DEFAULT 'pending',
  attempts     int NOT NULL DEFAULT 0,
  next_at      timestamptz NOT NULL DEFAULT now(),
  lease_until  timestamptz,
  last_status  int,
  last_error   text,
  latency_ms   int,
  delivered_at timestamptz,
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_pending_idx ON webhook_deliveries (endpoint_id, rma_id, event_seq) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, id DESC);

-- +goose Down
DROP TABLE IF EXISTS webhook_deliveries;
DROP TABLE IF EXISTS webhook_events;
DROP TABLE IF EXISTS webhook_endpoints;
