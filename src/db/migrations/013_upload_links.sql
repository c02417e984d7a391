-- Upload links (issue 12): a URL that lets whoever holds it upload one file, with no API key, into the video
-- made with the link. Only a SHA-256 of the link's secret is stored. upload_created_at marks the one upload
-- the link took (set when its tus upload was created).
CREATE TABLE upload_links (
  video_id          text PRIMARY KEY REFERENCES videos (id) ON DELETE CASCADE,
  token_hash        text NOT NULL UNIQUE,
  max_bytes         bigint NOT NULL CHECK (max_bytes > 0),
  expires_at        timestamptz NOT NULL,
  cors_origin       text,
  created_at        timestamptz NOT NULL DEFAULT now(),
  upload_created_at timestamptz
);
