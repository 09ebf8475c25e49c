-- +goose Up
-- The work queues (GET /v1/queue): returns waiting on support or the
-- warehouse, soonest deadline first, by team and assignee (from the view).
CREATE INDEX returns_queue_idx ON returns (waiting_on, deadline_at NULLS LAST)
  WHERE waiting_on IN ('support', 'warehouse');
CREATE INDEX returns_assignee_idx ON returns ((doc->>'assignee')) WHERE waiting_on IN ('support', 'warehouse');

-- +goose Down
DROP INDEX returns_assignee_idx;
DROP INDEX returns_queue_idx;
