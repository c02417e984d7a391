-- Share links (issue 14): /s/{id} plays one video for anyone who has the link, for as long as its owner
-- chose (expires_at null: until revoked). The id is the credential, stored as it is (see src/db/shares.ts
-- for why). A revoked link keeps its row (revoked_at) so that its page can say it was revoked; the rows go
-- with their video.
CREATE TABLE share_links (
  id          text PRIMARY KEY,
  video_id    text NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
  label       text NOT NULL DEFAULT '',
  expires_at  timestamptz,
  revoked_at  timestamptz,
  views       bigint NOT NULL DEFAULT 0,
  api_key_id  text,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX share_links_video ON share_links (video_id, created_at);
