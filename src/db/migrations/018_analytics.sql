-- Viewing analytics (issue 14): what players report, with bounded growth.
--
-- view_events holds raw beacons (one row per batch a player sent, its events folded) until the rollup
-- (src/analytics/rollup.ts, on the upload role) adds them into video_views_daily and deletes them. Unique
-- viewers are counted by a hash of the day's salt, the video, the IP address and the User-Agent: the raw IP
-- is never stored, the salt lives in analytics_salts only for its own day (deleted by the rollup after it),
-- and viewer_days keeps the hashes only while their day can still receive events (today and yesterday).

CREATE TABLE view_events (
  id           bigserial PRIMARY KEY,
  video_id     text NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
  -- UTC day of the salt the viewer hash was made with (the database's clock)
  day          date NOT NULL,
  -- the batch holds the view's start (one view)
  started      boolean NOT NULL DEFAULT false,
  -- on a start only: hex of sha256(day salt, video, IP, User-Agent), cut to 128 bits
  viewer       text,
  -- on a start only: the origin of the page that embedded or linked the player
  referrer     text,
  startup_ms   integer,
  playing_ms   integer NOT NULL DEFAULT 0,
  -- Σ bit rate × seconds played at it, and the playing time whose bit rate was known
  bitrate_bits double precision NOT NULL DEFAULT 0,
  bitrate_ms   integer NOT NULL DEFAULT 0,
  rebuffers    integer NOT NULL DEFAULT 0,
  rebuffer_ms  integer NOT NULL DEFAULT 0,
  switches     integer NOT NULL DEFAULT 0,
  errors       integer NOT NULL DEFAULT 0,
  -- bit i set: this playback passed i × 5 % of the video (i = 0…20), reported once per view
  reached      integer NOT NULL DEFAULT 0,
  received_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX view_events_video ON view_events (video_id);

CREATE TABLE video_views_daily (
  video_id       text NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
  day            date NOT NULL,
  views          integer NOT NULL DEFAULT 0,
  unique_viewers integer NOT NULL DEFAULT 0,
  watch_ms       bigint NOT NULL DEFAULT 0,
  -- startup times: counts per bucket of src/analytics/stats.ts STARTUP_EDGES_MS
  startup_hist   integer[] NOT NULL DEFAULT '{}',
  rebuffers      integer NOT NULL DEFAULT 0,
  rebuffer_ms    bigint NOT NULL DEFAULT 0,
  bitrate_bits   double precision NOT NULL DEFAULT 0,
  bitrate_ms     bigint NOT NULL DEFAULT 0,
  switches       integer NOT NULL DEFAULT 0,
  errors         integer NOT NULL DEFAULT 0,
  -- views that passed each 5 % of the video (21 counts)
  retention      integer[] NOT NULL DEFAULT '{}',
  -- {origin: views}, the most frequent only
  referrers      jsonb NOT NULL DEFAULT '{}'::jsonb,
  PRIMARY KEY (video_id, day)
);
CREATE INDEX video_views_daily_day ON video_views_daily (day);

CREATE TABLE viewer_days (
  video_id  text NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
  day       date NOT NULL,
  viewer    text NOT NULL,
  PRIMARY KEY (video_id, day, viewer)
);
CREATE INDEX viewer_days_day ON viewer_days (day);

CREATE TABLE analytics_salts (
  day   date PRIMARY KEY,
  salt  text NOT NULL
);
