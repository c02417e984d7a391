-- Chunked transcoding (issue 11). A video's job is now its planning step (probe, plan, split into tasks);
-- the work itself is tasks, each leased, heartbeated and fenced like a job: one per video chunk (every rung
-- from one decode of that span) and one for the audio. What a task publishes is recorded in `outputs`,
-- one row per file under a location that never changes, so playlists are written from what is published.
ALTER TABLE jobs DROP CONSTRAINT IF EXISTS jobs_state_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_state_check
  CHECK (state IN ('queued', 'running', 'planned', 'done', 'failed'));

-- When the first chunk of every rung and the first audio segments were published (null until then).
ALTER TABLE videos ADD COLUMN playable_at timestamptz;
-- The planned renditions' audio: null when the source has none (video-only renditions).
ALTER TABLE videos ADD COLUMN audio jsonb;
UPDATE videos SET playable_at = ready_at WHERE status = 'ready';

CREATE TABLE tasks (
  id               bigserial PRIMARY KEY,
  video_id         text NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
  kind             text NOT NULL CHECK (kind IN ('video', 'audio')),
  -- video: the chunk's index (0 is the short first chunk); audio: 0
  chunk            integer NOT NULL,
  -- what to encode, from the pure chunk plan (media/chunkPlan.ts)
  spec             jsonb NOT NULL,
  -- claim order: 0 = needed before the video can play (first chunk, audio), 1 = the rest
  rank             integer NOT NULL,
  state            text NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
  attempt          integer NOT NULL DEFAULT 0,
  max_attempts     integer NOT NULL,
  run_after        timestamptz NOT NULL DEFAULT now(),
  lease_expires_at timestamptz,
  worker_id        text,
  last_error       text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  UNIQUE (video_id, kind, chunk)
);
CREATE INDEX tasks_claimable ON tasks (state, rank, run_after, id);

-- Every published file of a chunked video: the path a player asks for and the object that answers it.
CREATE TABLE outputs (
  video_id  text NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
  -- as played, under /play/{video}/{access}/: 720p/seg_00003.m4s, 720p/init.mp4, poster.jpg
  path      text NOT NULL,
  -- the object in the store
  key       text NOT NULL,
  -- segments and init segments: their rendition (video rung name, or "audio")
  rendition text,
  -- segments: the media sequence number (from 0, in the rendition's timeline); null otherwise
  seq       integer,
  -- segments: seconds
  duration  double precision,
  bytes     bigint NOT NULL,
  task_id   bigint,
  PRIMARY KEY (video_id, path)
);
CREATE INDEX outputs_segments ON outputs (video_id, rendition, seq);

-- The audit trail names the task an event is about (null: the job's own planning step).
ALTER TABLE job_events ADD COLUMN task_id bigint;
ALTER TABLE job_events DROP CONSTRAINT IF EXISTS job_events_event_check;
ALTER TABLE job_events ADD CONSTRAINT job_events_event_check
  CHECK (event IN ('claimed', 'reclaimed', 'planned', 'published', 'ready', 'retry', 'failed', 'released', 'stale', 'cancelled'));
