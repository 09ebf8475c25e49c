-- +goose Up
-- A publication's epoch is the workflow's history length when it was made.
-- Two publications with the same seq come from two attempts at one workflow
-- task: one was superseded (its worker lost the task to a timeout or a
-- server restart but kept running) and the other is the one the workflow
-- goes on from. The later attempt has the longer history, so the view is
-- ordered by (seq, epoch) and a superseded attempt's late write loses.
ALTER TABLE returns ADD COLUMN epoch bigint NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE returns DROP COLUMN epoch;
