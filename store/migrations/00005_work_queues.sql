-- +goose NO TRANSACTION
-- +goose Up
-- The work queues (GET /v1/queue): returns waiting on support or the
-- warehouse, soonest deadline first, by team and assignee (from the view).
-- Built concurrently: publications keep writing returns meanwhile.
CREATE INDEX CONCURRENTLY IF NOT EXISTS returns_queue_idx ON returns (waiting_on, deadline_at NULLS LAST)
  WHERE waiting_on IN ('support', 'warehouse');
CREATE INDEX CONCURRENTLY IF NOT EXISTS returns_assignee_idx ON returns ((doc->>'assignee')) WHERE waiting_on IN ('support', 'warehouse');

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS returns_assignee_idx;
DROP INDEX CONCURRENTLY IF EXISTS returns_queue_idx;
