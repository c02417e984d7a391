-- A poster chosen after upload (issue 14): the frame at poster_time seconds, rendered from the published
-- segments into its own object (poster_key, under the video's prefix) that poster.jpg then serves. NULL:
-- the poster the transcode made.
ALTER TABLE videos ADD COLUMN poster_key text;
ALTER TABLE videos ADD COLUMN poster_time double precision;
