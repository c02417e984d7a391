-- Customer signing keys (issue 12, POST /v1/signing-keys): RS256 key pairs made for API users, who sign
-- their own playback tokens (JWT, header kid = id). Reel keeps only the public key (SPKI PEM); the private
-- key is shown once. Not Reel's own HS256 token keys (signing_keys, "reel keys rotate-signing").
-- A deleted key keeps its row (its id is never reused) but verifies nothing.
CREATE TABLE customer_signing_keys (
  id          text PRIMARY KEY,
  public_key  text NOT NULL,
  created_by  text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  deleted_at  timestamptz
);
CREATE INDEX customer_signing_keys_live ON customer_signing_keys (created_at) WHERE deleted_at IS NULL;
