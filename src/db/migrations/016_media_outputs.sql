-- Media outputs (issue 13): downloads, several audio tracks, captions, I-frame playlists, and a task that
-- runs after every chunk and audio task of a video is done (MP4 downloads, captions from the source).

-- `mp4: true`: the video gets download/{rung}.mp4 and download/audio.m4a.
ALTER TABLE videos ADD COLUMN mp4 boolean NOT NULL DEFAULT false;
-- The published downloads: [{name, width, height, size}] (null: none).
ALTER TABLE videos ADD COLUMN downloads jsonb;
-- Every audio rendition of a chunked video (the first is `audio`, the default): [{name, language, label,
-- channels, default}]; null for videos planned before several tracks (their `audio` is the only one).
ALTER TABLE videos ADD COLUMN audio_tracks jsonb;

-- A segment's keyframes, as byte ranges of its file: [{offset, length, duration}] (I-frame playlists).
ALTER TABLE outputs ADD COLUMN iframes jsonb;

-- 'finish': claimed only once every other task of its video is done.
ALTER TABLE tasks DROP CONSTRAINT IF EXISTS tasks_kind_check;
ALTER TABLE tasks ADD CONSTRAINT tasks_kind_check CHECK (kind IN ('video', 'audio', 'finish'));

-- Subtitle tracks: uploaded (WebVTT or SRT, stored as WebVTT) or extracted from the source.
CREATE TABLE captions (
  id              text PRIMARY KEY,
  video_id        text NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
  -- BCP 47
  language        text NOT NULL,
  name            text NOT NULL,
  closed_captions boolean NOT NULL DEFAULT false,
  -- 'upload' or 'source' (extracted from a text subtitle stream of the source)
  origin          text NOT NULL CHECK (origin IN ('upload', 'source')),
  -- the source's subtitle stream (s:N) it was extracted from; null for uploads
  source_stream   integer,
  -- the WebVTT object in the store
  key             text NOT NULL,
  bytes           bigint NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (video_id, source_stream)
);
CREATE INDEX captions_video ON captions (video_id, created_at);

-- When a collector took an orphan prefix (its objects are being deleted), and when it had deleted them: an
-- attempt that still tries to publish it (its lease lapsed unseen) publishes nothing, before or after. A
-- collector that died is taken over later; collected prefixes are forgotten after a day.
ALTER TABLE orphan_prefixes ADD COLUMN collecting_at timestamptz;
ALTER TABLE orphan_prefixes ADD COLUMN collected_at timestamptz;
