-- Imports from a URL (issue 12): POST /v1/videos {url} creates a queued video whose source is fetched by
-- the worker that plans it. The URL it was imported from (never with credentials: they are refused), null
-- for uploads. source_key stays null until a planning attempt has stored the fetched bytes.
ALTER TABLE videos ADD COLUMN source_url text;
