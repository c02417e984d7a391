-- GET /v1/videos pages newest first by (created_at, id): one index in that order, so that a page after a
-- cursor is an index range however many videos share a timestamp. It also serves every query that the
-- index on created_at alone served.
CREATE INDEX videos_created_at_id ON videos (created_at, id);
DROP INDEX videos_created_at;
