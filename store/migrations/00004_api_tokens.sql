-- +goose Up
-- API tokens, stored hashed: the table never holds a usable token. hash is
-- the SHA-256 of the token (tokens are 256 random bits, so no salt or slow
-- hash is needed). A customer token acts for the one customer_id.
CREATE TABLE api_tokens (
  id          text PRIMARY KEY,
  hash        bytea NOT NULL UNIQUE,
  subject     text NOT NULL,
  roles       text[] NOT NULL,
  customer_id text,
  created_at  timestamptz NOT NULL,
  expires_at  timestamptz,
  revoked_at  timestamptz
);

-- +goose Down
DROP TABLE api_tokens;
