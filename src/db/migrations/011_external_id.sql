-- externalId (issue 12): the caller's own id for a video (its CMS or database row), set at upload (tus
-- metadata `external_id`, the direct upload's `externalId`) or by PATCH /v1/videos/{id}; not unique.
ALTER TABLE videos ADD COLUMN external_id text;
-- GET /v1/videos?externalId= lists newest first: the filter and the page order in one index range.
CREATE INDEX videos_external_id ON videos (external_id, created_at, id) WHERE external_id IS NOT NULL;
