/** The last chunk's check that the source did not stop early (pure). */
import { describe, expect, it } from 'vitest';
import { checkComplete } from '../../src/jobs/taskAttempt.js';

describe('checkComplete', () => {
  it('refuses a video that stops well before the duration declared for it, saying where and why', () => {
    expect(() => checkComplete(90, 30, 10_000, ['partial file'])).toThrow(
      /the media stops at 3\.0 s of the 10\.0 s it declares; ffmpeg: partial file/,
    );
  });
  it('accepts what reaches 90% of it (a declared duration a little long, a last frame short)', () => {
    expect(() => checkComplete(271, 30, 10_000, [])).not.toThrow();
    expect(() => checkComplete(300, 30, 10_000, [])).not.toThrow();
  });
});
