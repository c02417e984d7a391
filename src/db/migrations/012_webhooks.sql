-- Webhooks (issue 12): Standard Webhooks deliveries through a transactional outbox.
--
-- A trigger on `videos` writes each event (with a snapshot of the row) in the same transaction as the
-- state change, and fans it out to one delivery per subscribed active webhook, so no code path that
-- changes a video (tus, multipart, import, links, tasks, retry, delete) can forget to emit it. When no
-- webhook subscribes nothing is written. Deliveries are leased like jobs: every claim increments
-- `attempt` (the fencing token), and only the database clock decides when a lease has expired.

CREATE TABLE webhooks (
  id          text PRIMARY KEY,
  url         text NOT NULL,
  -- the event types it receives
  events      text[] NOT NULL,
  -- whsec_…: signs every delivery, so it is kept (and never shown again after creation)
  secret      text NOT NULL,
  api_key_id  text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  -- deleted webhooks keep their rows (their deliveries are cancelled) until housekeeping prunes them
  deleted_at  timestamptz
);

CREATE TABLE webhook_events (
  -- msg_…: the webhook-id header; the same for every attempt of every delivery of this event
  id          text PRIMARY KEY,
  seq         bigserial NOT NULL UNIQUE,
  type        text NOT NULL,
  video_id    text,
  -- the video row as the change left it (to_jsonb), or the test event's data
  data        jsonb NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_events_created ON webhook_events (created_at);

CREATE TABLE webhook_deliveries (
  id               bigserial PRIMARY KEY,
  webhook_id       text NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
  event_id         text NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
  state            text NOT NULL DEFAULT 'pending'
                   CHECK (state IN ('pending', 'running', 'delivered', 'failed', 'cancelled')),
  attempt          integer NOT NULL DEFAULT 0,
  run_after        timestamptz NOT NULL DEFAULT now(),
  lease_expires_at timestamptz,
  worker_id        text,
  last_status      integer,
  last_error       text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  finished_at      timestamptz
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (run_after, id) WHERE state IN ('pending', 'running');
CREATE INDEX webhook_deliveries_of ON webhook_deliveries (webhook_id, id DESC);

-- Every HTTP attempt, as the deliveries list shows it.
CREATE TABLE webhook_attempts (
  id           bigserial PRIMARY KEY,
  delivery_id  bigint NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
  attempt      integer NOT NULL,
  status_code  integer,
  duration_ms  integer NOT NULL,
  error        text,
  at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_attempts_of ON webhook_attempts (delivery_id, attempt);

-- Writes one event and its deliveries, unless no active webhook subscribes to `kind` (the common case
-- costs one indexless look-up in a table of at most a few rows).
CREATE FUNCTION reel_webhook_emit(kind text, vid text, snapshot jsonb) RETURNS void AS $$
DECLARE
  eid text;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM webhooks WHERE deleted_at IS NULL AND kind = ANY (events)) THEN
    RETURN;
  END IF;
  eid := 'msg_' || replace(gen_random_uuid()::text, '-', '');
  INSERT INTO webhook_events (id, type, video_id, data) VALUES (eid, kind, vid, snapshot);
  INSERT INTO webhook_deliveries (webhook_id, event_id)
    SELECT id, eid FROM webhooks WHERE deleted_at IS NULL AND kind = ANY (events) ORDER BY id;
  -- One payload for all: Postgres sends a transaction's identical notifications once.
  PERFORM pg_notify('reel_webhooks', '');
END
$$ LANGUAGE plpgsql;

CREATE FUNCTION reel_webhook_video_change() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM reel_webhook_emit('video.created', NEW.id, to_jsonb(NEW));
  ELSIF TG_OP = 'DELETE' THEN
    PERFORM reel_webhook_emit('video.deleted', OLD.id, to_jsonb(OLD));
  ELSE
    IF OLD.playable_at IS NULL AND NEW.playable_at IS NOT NULL AND NEW.status <> 'failed' THEN
      PERFORM reel_webhook_emit('video.playable', NEW.id, to_jsonb(NEW));
    END IF;
    IF NEW.status IS DISTINCT FROM OLD.status THEN
      IF NEW.status = 'ready' THEN
        PERFORM reel_webhook_emit('video.ready', NEW.id, to_jsonb(NEW));
      ELSIF NEW.status = 'failed' THEN
        PERFORM reel_webhook_emit('video.failed', NEW.id, to_jsonb(NEW));
      END IF;
    END IF;
  END IF;
  RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER videos_webhooks_insert AFTER INSERT ON videos
  FOR EACH ROW EXECUTE FUNCTION reel_webhook_video_change();
-- Progress updates name neither column, so they never run the function.
CREATE TRIGGER videos_webhooks_update AFTER UPDATE OF status, playable_at ON videos
  FOR EACH ROW
  WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.playable_at IS DISTINCT FROM NEW.playable_at)
  EXECUTE FUNCTION reel_webhook_video_change();
CREATE TRIGGER videos_webhooks_delete AFTER DELETE ON videos
  FOR EACH ROW EXECUTE FUNCTION reel_webhook_video_change();
