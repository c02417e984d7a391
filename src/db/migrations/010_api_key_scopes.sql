-- Scoped API keys (issue 12): admin (everything), write (upload, links, import, update, delete, playback),
-- read (list, get, playback URLs). Keys made before scopes keep the power they had: admin.
ALTER TABLE api_keys ADD COLUMN scopes text[] NOT NULL DEFAULT '{admin}';
