-- Locks on tus uploads shared by every upload-role process (see src/http/uploadLocker.ts): one row while a
-- request works on an upload. The holder renews expires_at while it runs, so the row of a process that
-- died expires by itself; only the database clock decides expiry.
CREATE TABLE upload_locks (
  upload_id   text PRIMARY KEY,
  holder      text NOT NULL,
  expires_at  timestamptz NOT NULL
);
