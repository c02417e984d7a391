-- Issue 15: the play role keeps what it needs to answer a ready video in memory (http/playCache.ts).
-- Every change that could alter an answer announces the video's id on the channel reel_play when its
-- transaction commits, whichever process or tool made it: each play process forgets that video and
-- reads it again on its next request (Postgres: LISTEN on its own connection; PGlite: in-process).
CREATE FUNCTION reel_play_video_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('reel_play', CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END);
  RETURN NULL;
END;
$$;
CREATE FUNCTION reel_play_file_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('reel_play', CASE WHEN TG_OP = 'DELETE' THEN OLD.video_id ELSE NEW.video_id END);
  RETURN NULL;
END;
$$;

-- Only ready videos are kept, so an update matters when the row was or becomes ready (progress updates
-- of a processing video stay quiet); a delete always does.
CREATE TRIGGER videos_play_update AFTER UPDATE ON videos FOR EACH ROW
  WHEN (OLD.status = 'ready' OR NEW.status = 'ready')
  EXECUTE FUNCTION reel_play_video_changed();
CREATE TRIGGER videos_play_delete AFTER DELETE ON videos FOR EACH ROW
  EXECUTE FUNCTION reel_play_video_changed();
-- A video's published files and its captions (the master lists them).
CREATE TRIGGER outputs_play AFTER INSERT OR UPDATE OR DELETE ON outputs FOR EACH ROW
  EXECUTE FUNCTION reel_play_file_changed();
CREATE TRIGGER captions_play AFTER INSERT OR UPDATE OR DELETE ON captions FOR EACH ROW
  EXECUTE FUNCTION reel_play_file_changed();
