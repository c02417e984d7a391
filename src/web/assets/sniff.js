// @ts-check
// Pure: what a file is, from its first bytes (container signatures), so the upload page refuses a file Reel
// cannot read before a single byte is sent. The containers accepted are those of src/media/formats.ts (the
// ffmpeg demuxers the server allows; a unit test keeps the two lists equal); anything else is refused with
// what it looks like ("a text file", "an audio file (MP3)"). No DOM: it runs in Node for its tests too.

/** How many bytes of the file to read: enough for MPEG-TS packets and Ogg's first pages. */
export const SNIFF_BYTES = 64 * 1024;

/** The containers the server accepts, as src/media/formats.ts names them (ACCEPTED_LABELS). */
export const ACCEPTED = ['MP4/MOV', 'MKV/WebM', 'AVI', 'WMV', 'MPEG-TS', 'MPEG-PS', 'FLV', 'Ogg'];

/**
 * @typedef {{ok: true, container: string} | {ok: false, what: string}} Sniffed
 * `container`: one of ACCEPTED; `what`: what the file looks like, to finish "its first bytes are those of …".
 */

/**
 * @param {Uint8Array} b
 * @param {number} at
 * @param {string} text ASCII
 */
function has(b, at, text) {
  if (b.length < at + text.length) return false;
  for (let i = 0; i < text.length; i++) if (b[at + i] !== text.charCodeAt(i)) return false;
  return true;
}

/**
 * @param {Uint8Array} b
 * @param {number} at
 * @param {number[]} bytes
 */
function hasBytes(b, at, bytes) {
  if (b.length < at + bytes.length) return false;
  return bytes.every((x, i) => b[at + i] === x);
}

/** @param {Uint8Array} b @param {number} at @param {number} n */
const ascii = (b, at, n) => String.fromCharCode(...b.subarray(at, at + n));

/** ISO BMFF / QuickTime top-level boxes a file may start with. */
const MOV_BOXES = new Set(['ftyp', 'moov', 'mdat', 'free', 'skip', 'wide', 'pnot', 'uuid']);
const AUDIO_BRANDS = new Set(['M4A ', 'M4B ', 'M4P ', 'F4A ', 'F4B ']);
const IMAGE_BRANDS = new Set(['heic', 'heix', 'hevc', 'mif1', 'msf1', 'avif', 'avis', 'heim', 'heis']);

/**
 * MPEG transport stream: the sync byte 0x47 every 188 bytes (192 for Blu-ray/AVCHD .m2ts, 204 with FEC),
 * at least three packets in a row, starting anywhere in the first packet.
 * @param {Uint8Array} b
 */
function isTransportStream(b) {
  for (const size of [188, 192, 204]) {
    for (let start = 0; start < size && start < b.length; start++) {
      if (b[start] !== 0x47) continue;
      const available = Math.floor((b.length - start - 1) / size) + 1;
      const need = Math.min(5, available);
      if (need < 3) continue;
      let k = 1;
      while (k < need && b[start + k * size] === 0x47) k++;
      if (k === need) return true;
    }
  }
  return false;
}

/**
 * Ogg: the first page of every stream (beginning-of-stream) comes before any data, so the codecs are all
 * named in the first pages. 'video' when one is a video codec, 'audio' when all known ones are audio,
 * 'unknown' otherwise (the server decides).
 * @param {Uint8Array} b
 * @returns {'video' | 'audio' | 'unknown'}
 */
function oggKind(b) {
  let at = 0;
  let audio = false;
  while (has(b, at, 'OggS') && b.length >= at + 27) {
    const bos = ((b[at + 5] ?? 0) & 0x02) !== 0;
    const segments = b[at + 26] ?? 0;
    let body = 0;
    for (let i = 0; i < segments; i++) body += b[at + 27 + i] ?? 0;
    const data = at + 27 + segments;
    if (!bos) break;
    const video =
      (hasBytes(b, data, [0x80]) && (has(b, data + 1, 'theora') || has(b, data + 1, 'daala'))) ||
      has(b, data, 'OVP80') ||
      has(b, data, 'BBCD');
    if (video) return 'video';
    if (
      has(b, data + 1, 'vorbis') ||
      has(b, data, 'OpusHead') ||
      has(b, data + 1, 'FLAC') ||
      has(b, data, 'Speex')
    )
      audio = true;
    at = data + body;
  }
  return audio ? 'audio' : 'unknown';
}

/**
 * Printable UTF-8 (or UTF-16 with its byte-order mark): a text file.
 * @param {Uint8Array} b
 */
function isText(b) {
  if (hasBytes(b, 0, [0xff, 0xfe]) || hasBytes(b, 0, [0xfe, 0xff])) return true;
  const head = b.subarray(0, 4096);
  for (const c of head) {
    // Control characters other than tab, line feed, form feed and carriage return.
    if (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0c && c !== 0x0d) return false;
    if (c === 0x7f) return false;
  }
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(head, { stream: true });
    return true;
  } catch {
    return false;
  }
}

/**
 * What the first bytes of a file are.
 * @param {Uint8Array} b the first SNIFF_BYTES of the file (or all of it when shorter)
 * @returns {Sniffed}
 */
export function sniff(b) {
  if (b.length === 0) return { ok: false, what: 'an empty file' };

  // Accepted containers.
  if (hasBytes(b, 0, [0x1a, 0x45, 0xdf, 0xa3])) return { ok: true, container: 'MKV/WebM' };
  if (b.length >= 8 && MOV_BOXES.has(ascii(b, 4, 4))) {
    if (has(b, 4, 'ftyp')) {
      const brand = ascii(b, 8, 4);
      if (AUDIO_BRANDS.has(brand)) return { ok: false, what: `an audio file (${brand.trim()})` };
      if (IMAGE_BRANDS.has(brand)) return { ok: false, what: `a still image (${brand.trim()})` };
    }
    return { ok: true, container: 'MP4/MOV' };
  }
  if (has(b, 0, 'RIFF')) {
    const form = ascii(b, 8, 4);
    if (form === 'AVI ' || form === 'AVIX') return { ok: true, container: 'AVI' };
    if (form === 'WAVE') return { ok: false, what: 'an audio file (WAV)' };
    if (form === 'WEBP') return { ok: false, what: 'a still image (WebP)' };
    return { ok: false, what: `a RIFF file (${form.trim() || 'unknown'}), not a video` };
  }
  if (hasBytes(b, 0, [0x30, 0x26, 0xb2, 0x75, 0x8e, 0x66, 0xcf, 0x11])) return { ok: true, container: 'WMV' };
  if (has(b, 0, 'FLV') && b[3] === 0x01) return { ok: true, container: 'FLV' };
  if (has(b, 0, 'OggS')) {
    return oggKind(b) === 'audio'
      ? { ok: false, what: 'an audio file (Ogg)' }
      : { ok: true, container: 'Ogg' };
  }
  if (hasBytes(b, 0, [0x00, 0x00, 0x01]) && b.length > 3) {
    const code = /** @type {number} */ (b[3]);
    // A pack header or system header, or a video stream's packet.
    if (code === 0xba || code === 0xbb || (code >= 0xe0 && code <= 0xef))
      return { ok: true, container: 'MPEG-PS' };
    if (code === 0xb3) return { ok: false, what: 'a bare MPEG video stream (no container)' };
  }

  // What it is instead, in words.
  if (has(b, 0, '#EXTM3U')) return { ok: false, what: 'an HLS playlist (.m3u8)' };
  if (has(b, 0, 'ffconcat')) return { ok: false, what: 'an ffmpeg concat list' };
  if (has(b, 0, 'YUV4MPEG2')) return { ok: false, what: 'a raw Y4M video, a format Reel does not accept' };
  if (hasBytes(b, 0, [0x06, 0x0e, 0x2b, 0x34]))
    return { ok: false, what: 'an MXF file, a format Reel does not accept' };
  if (hasBytes(b, 0, [0x00, 0x00, 0x00, 0x01]))
    return { ok: false, what: 'a bare H.264/HEVC stream (no container)' };
  if (hasBytes(b, 0, [0x89, 0x50, 0x4e, 0x47])) return { ok: false, what: 'a still image (PNG)' };
  if (hasBytes(b, 0, [0xff, 0xd8, 0xff])) return { ok: false, what: 'a still image (JPEG)' };
  if (has(b, 0, 'GIF8')) return { ok: false, what: 'an image (GIF)' };
  if (has(b, 0, '%PDF')) return { ok: false, what: 'a PDF document' };
  if (hasBytes(b, 0, [0x50, 0x4b, 0x03, 0x04]))
    return { ok: false, what: 'a ZIP archive (or an Office document)' };
  if (has(b, 0, 'ID3')) return { ok: false, what: 'an audio file (MP3)' };
  if (has(b, 0, 'fLaC')) return { ok: false, what: 'an audio file (FLAC)' };
  if (has(b, 0, '#!AMR')) return { ok: false, what: 'an audio file (AMR)' };
  if (b[0] === 0xff && ((b[1] ?? 0) & 0xe0) === 0xe0)
    return { ok: false, what: 'an audio file (MP3 or AAC)' };
  if (isText(b)) {
    const start = new TextDecoder().decode(b.subarray(0, 512)).trimStart();
    if (/^WEBVTT/.test(start) || /^\d+\r?\n\d\d:\d\d:\d\d,\d{3} --> /.test(start))
      return { ok: false, what: 'a subtitle file' };
    if (/^<!doctype html|^<html/i.test(start)) return { ok: false, what: 'a web page (HTML)' };
    if (/^<\?xml[\s\S]*<MPD/.test(start)) return { ok: false, what: 'a DASH manifest (.mpd)' };
    return { ok: false, what: 'a text file' };
  }
  if (isTransportStream(b)) return { ok: true, container: 'MPEG-TS' };
  return { ok: false, what: 'a file in no video format Reel accepts' };
}

/**
 * The sentence the upload page shows for a refused file.
 * @param {string} name the file's name
 * @param {string} what Sniffed.what
 */
export function sniffRefusal(name, what) {
  return (
    `“${name}” is not a video Reel can read: its first bytes are those of ${what}. ` +
    `Reel accepts ${ACCEPTED.slice(0, -1).join(', ')} and ${ACCEPTED.at(-1)} files.`
  );
}

/**
 * Reads the first bytes of a browser File (or Blob) and sniffs them.
 * @param {Blob} file
 * @returns {Promise<Sniffed>}
 */
export async function sniffFile(file) {
  return sniff(new Uint8Array(await file.slice(0, SNIFF_BYTES).arrayBuffer()));
}
