-- Reel schema, version 1.
CREATE TABLE videos (
  id               text PRIMARY KEY,
  title            text NOT NULL DEFAULT '',
  filename         text NOT NULL DEFAULT '',
  status           text NOT NULL CHECK (status IN ('uploading', 'queued', 'processing', 'ready', 'failed')),
  progress         double precision NOT NULL DEFAULT 0,
  error            text,
  error_code       text,
  playback_policy  text NOT NULL CHECK (playback_policy IN ('public', 'signed')),
  source_key       text,
  source_size      bigint,
  duration_ms      integer,
  width            integer,
  height           integer,
  output_prefix    text,
  renditions       jsonb NOT NULL DEFAULT '[]'::jsonb,
  api_key_id       text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  ready_at         timestamptz
);
CREATE INDEX videos_created_at ON videos (created_at DESC);

CREATE TABLE jobs (
  id               bigserial PRIMARY KEY,
  video_id         text NOT NULL UNIQUE REFERENCES videos (id) ON DELETE CASCADE,
  state            text NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
  attempt          integer NOT NULL DEFAULT 0,
  max_attempts     integer NOT NULL,
  run_after        timestamptz NOT NULL DEFAULT now(),
  lease_expires_at timestamptz,
  worker_id        text,
  last_error       text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX jobs_claimable ON jobs (state, run_after);

-- Prefixes of attempts that never published: collected by the garbage collector.
CREATE TABLE orphan_prefixes (
  prefix     text PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
  id          text PRIMARY KEY,
  name        text NOT NULL DEFAULT '',
  hash        text NOT NULL UNIQUE,
  created_at  timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz,
  revoked_at  timestamptz
);

CREATE TABLE signing_keys (
  kid         text PRIMARY KEY,
  secret      text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  retired_at  timestamptz
);
