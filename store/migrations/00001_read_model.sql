-- +goose Up
-- One row per return; seq is the workflow's transition number, so an older
-- projection can never overwrite a newer one. doc is the full API view,
-- served after Temporal's retention has dropped the workflow.
CREATE TABLE returns (
    rma_id                      text PRIMARY KEY,
    seq                         bigint      NOT NULL,
    order_id                    text        NOT NULL,
    customer_id                 text        NOT NULL,
    kind                        text        NOT NULL,
    status                      text        NOT NULL,
    channel                     text        NOT NULL,
    tier                        text        NOT NULL,
    currency                    text        NOT NULL,
    total_value                 bigint      NOT NULL,
    refund_total                bigint      NOT NULL DEFAULT 0,
    fees_total                  bigint      NOT NULL DEFAULT 0,
    waiting_on                  text,
    deadline_kind               text,
    deadline_at                 timestamptz,
    tracking_number             text,
    replacement_tracking_number text,
    sla_breaches                text[]      NOT NULL DEFAULT '{}',
    survey_score                int,
    survey_comment              text,
    survey_at                   timestamptz,
    created_at                  timestamptz NOT NULL,
    updated_at                  timestamptz NOT NULL,
    requested_at                timestamptz,
    review_requested_at         timestamptz,
    approved_at                 timestamptz,
    label_at                    timestamptz,
    picked_up_at                timestamptz,
    delivered_at                timestamptz,
    received_at                 timestamptz,
    inspected_at                timestamptz,
    refunded_at                 timestamptz,
    replacement_shipped_at      timestamptz,
    resolved_at                 timestamptz,
    closed_at                   timestamptz,
    doc                         jsonb       NOT NULL
);
-- Lists newest first, optionally by status; KPIs by creation time.
CREATE INDEX returns_created_idx  ON returns (created_at DESC, rma_id DESC);
CREATE INDEX returns_status_idx   ON returns (status, created_at DESC);
CREATE INDEX returns_order_idx    ON returns (order_id);
-- Abuse limits: a customer's returns within a period.
CREATE INDEX returns_customer_idx ON returns (customer_id, created_at DESC);
CREATE INDEX returns_deadline_idx ON returns (deadline_at) WHERE deadline_at IS NOT NULL;

CREATE TABLE return_lines (
    rma_id            text    NOT NULL REFERENCES returns ON DELETE CASCADE,
    line_id           text    NOT NULL,
    sku               text    NOT NULL,
    batch             text    NOT NULL DEFAULT '',
    category          text    NOT NULL DEFAULT '',
    supplier          text    NOT NULL DEFAULT '',
    quantity          int     NOT NULL,
    unit_price        bigint  NOT NULL,
    reason            text    NOT NULL,
    claimed_reason    text    NOT NULL,
    resolution        text    NOT NULL,
    eligible          boolean NOT NULL,
    inspection_result text,
    disposition       text,
    inspected_at      timestamptz,
    refund_gross      bigint,
    refund_fees       bigint,
    refund_net        bigint,
    PRIMARY KEY (rma_id, line_id)
);
-- Reasons by SKU / batch and the batch anomaly check.
CREATE INDEX return_lines_sku_batch_idx ON return_lines (sku, batch);
CREATE INDEX return_lines_reason_idx    ON return_lines (reason);

CREATE TABLE money_movements (
    key     text PRIMARY KEY,
    rma_id  text        NOT NULL REFERENCES returns ON DELETE CASCADE,
    kind    text        NOT NULL,
    line_id text        NOT NULL DEFAULT '',
    amount  bigint      NOT NULL,
    currency text       NOT NULL,
    at      timestamptz NOT NULL
);
CREATE INDEX money_movements_rma_idx ON money_movements (rma_id);

-- Who did what: the workflow's timeline, append-only. entry_no is the
-- entry's position, so re-projecting the same timeline inserts nothing.
CREATE TABLE audit (
    rma_id   text        NOT NULL,
    entry_no int         NOT NULL,
    at       timestamptz NOT NULL,
    actor    text        NOT NULL,
    command  text        NOT NULL,
    detail   text        NOT NULL DEFAULT '',
    PRIMARY KEY (rma_id, entry_no)
);
CREATE INDEX audit_actor_idx ON audit (actor, at);

-- +goose StatementBegin
CREATE FUNCTION audit_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit is append-only';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_is_append_only();

-- Units sold per batch, imported from the merchant's sales data: the
-- denominator of a batch's return rate.
CREATE TABLE batch_sales (
    sku        text        NOT NULL,
    batch      text        NOT NULL,
    units_sold int         NOT NULL CHECK (units_sold >= 0),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sku, batch)
);

-- +goose Down
DROP TABLE batch_sales;
DROP TRIGGER audit_append_only ON audit;
DROP FUNCTION audit_is_append_only();
DROP TABLE audit;
DROP TABLE money_movements;
DROP TABLE return_lines;
DROP TABLE returns;
