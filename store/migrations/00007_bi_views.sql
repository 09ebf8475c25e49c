-- +goose Up
-- The read model as a BI source: documented, stable views (docs/analytics.md)
-- that Tableau, Metabase or plain SQL read with a read-only role (rma setup
-- --bi-role). A view's columns only ever grow; a breaking change is a new
-- version (rma_returns_v2) beside the old one. Amounts are integer minor
-- units of currency; times are UTC.
CREATE OR REPLACE VIEW rma_returns_v1 AS
SELECT rma_id, order_id, customer_id, kind, status, channel, tier, currency,
       total_value, refund_total, fees_total,
       (doc->>'policy_version')::int AS policy_version,
       sla_breaches,
       cardinality(sla_breaches) > 0 AS sla_breached,
       survey_score,
       created_at, requested_at, review_requested_at, approved_at, label_at, picked_up_at,
       delivered_at, received_at, inspected_at, refunded_at, replacement_shipped_at, resolved_at, closed_at,
       extract(epoch FROM coalesce(refunded_at, replacement_shipped_at) - requested_at) AS processing_seconds,
       status IN ('completed', 'declined', 'cancelled', 'expired', 'ineligible') AS final
FROM returns;

CREATE OR REPLACE VIEW rma_lines_v1 AS
SELECT l.rma_id, l.line_id, l.sku, l.batch, l.category, l.supplier, l.quantity, l.unit_price,
       l.quantity * l.unit_price AS line_value, r.currency,
       l.claimed_reason, l.reason, l.reason <> l.claimed_reason AS reclassified,
       l.resolution, l.eligible, l.inspection_result, l.disposition, l.inspected_at,
       l.refund_gross, l.refund_fees, l.refund_net, r.created_at
FROM return_lines l JOIN returns r USING (rma_id);

CREATE OR REPLACE VIEW rma_money_v1 AS
SELECT m.key, m.rma_id, m.kind, nullif(m.line_id, '') AS line_id,
       CASE WHEN m.kind IN ('charge', 'capture') THEN 'in' WHEN m.kind IN ('hold', 'void_hold') THEN 'hold' ELSE 'out' END AS direction,
       m.amount, m.currency, m.at
FROM money_movements m;

CREATE OR REPLACE VIEW rma_kpi_daily_v1 AS
SELECT (created_at AT TIME ZONE 'UTC')::date AS day,
       currency,
       count(*) AS returns,
       count(*) FILTER (WHERE status = 'completed') AS completed,
       count(*) FILTER (WHERE status = 'declined') AS declined,
       count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
       count(*) FILTER (WHERE status = 'expired') AS expired,
       count(*) FILTER (WHERE status = 'ineligible') AS ineligible,
       count(*) FILTER (WHERE review_requested_at IS NOT NULL) AS reviewed,
       count(*) FILTER (WHERE cardinality(sla_breaches) > 0) AS sla_breached,
       coalesce(sum(refund_total), 0) AS refunded,
       coalesce(sum(fees_total), 0) AS fees,
       avg(survey_score)::float8 AS satisfaction_avg
FROM returns
GROUP BY 1, 2;

-- +goose Down
DROP VIEW IF EXISTS rma_kpi_daily_v1;
DROP VIEW IF EXISTS rma_money_v1;
DROP VIEW IF EXISTS rma_lines_v1;
DROP VIEW IF EXISTS rma_returns_v1;
