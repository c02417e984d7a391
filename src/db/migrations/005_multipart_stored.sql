-- A tus upload whose bytes are all stored as parts but not yet joined into the source object: the final
-- PATCH is answered at that point and the worker joins the parts (CompleteMultipartUpload) first thing.
ALTER TABLE multipart_uploads DROP CONSTRAINT multipart_uploads_state_check;
ALTER TABLE multipart_uploads ADD CONSTRAINT multipart_uploads_state_check
  CHECK (state IN ('open', 'stored', 'completed', 'aborted'));
