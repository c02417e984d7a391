-- An audit trail of what happened to each job, written in the same statement or transaction as the
-- change it records: exactly-once publication can be checked here, and /metrics counts from it.
CREATE TABLE job_events (
  id         bigserial PRIMARY KEY,
  job_id     bigint NOT NULL,
  video_id   text NOT NULL,
  attempt    integer NOT NULL,
  event      text NOT NULL CHECK (event IN ('claimed', 'reclaimed', 'published', 'retry', 'failed', 'released', 'stale')),
  worker_id  text,
  detail     text,
  at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX job_events_video ON job_events (video_id, id);
CREATE INDEX job_events_event ON job_events (event, worker_id);
