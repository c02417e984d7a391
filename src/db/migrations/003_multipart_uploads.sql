-- Multipart uploads into S3: tus uploads streamed part by part, and direct uploads whose parts the client
-- PUTs straight to storage. The part list lives here (S3 emulators and some S3-compatible stores cannot
-- list the parts of an unfinished upload).
CREATE TABLE multipart_uploads (
  video_id      text PRIMARY KEY,
  kind          text NOT NULL CHECK (kind IN ('tus', 'direct')),
  s3_upload_id  text NOT NULL,
  size          bigint,
  part_size     integer NOT NULL,
  tail_size     integer NOT NULL DEFAULT 0,
  metadata      jsonb NOT NULL DEFAULT '{}'::jsonb,
  api_key_id    text,
  state         text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'completed', 'aborted')),
  created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE multipart_parts (
  video_id     text NOT NULL REFERENCES multipart_uploads (video_id) ON DELETE CASCADE,
  part_number  integer NOT NULL,
  etag         text NOT NULL,
  size         bigint NOT NULL,
  PRIMARY KEY (video_id, part_number)
);
