/** The media module: probe, ladder planning, ffmpeg arguments and runs, playlists, the whole pipeline. */
export { buildTranscodeArgs } from './ffmpegArgs.js';
export { ceilingKbps, type MediaPlan, outputFps, planLadder, planTranscode } from './ladder.js';
export { type TranscodeResult, transcodeToHls } from './pipeline.js';
export { buildMasterPlaylist, parseMediaPlaylist, writeMasterPlaylist } from './playlist.js';
export { probe } from './probe.js';
export { runTranscode } from './transcode.js';
