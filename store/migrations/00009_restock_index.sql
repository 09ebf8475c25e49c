-- +goose NO TRANSACTION
-- +goose Up
-- The inventory webhook finds the returns waiting for a restocked SKU by
-- doc->'awaiting_restock' ? sku (store.AwaitingRestock). Built
-- concurrently: publications keep writing returns meanwhile.
CREATE INDEX CONCURRENTLY IF NOT EXISTS returns_awaiting_restock_idx ON returns USING gin ((doc->'awaiting_restock'))
  WHERE doc ? 'awaiting_restock';

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS returns_awaiting_restock_idx;
