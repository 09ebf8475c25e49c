-- +goose Up
-- Versioned policies (rma policy apply / history / diff): every version the
-- merchant applied, with who and when. A new return runs under the newest
-- version at its start and keeps it; source is the file as written (its
-- preset and comments), effective the policy it resolves to, as YAML.
CREATE TABLE IF NOT EXISTS policy_versions (
  version    integer PRIMARY KEY,
  source     text NOT NULL,
  effective  text NOT NULL,
  author     text NOT NULL,
  note       text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE IF EXISTS policy_versions;
