import { describe, expect, it } from 'vitest';
import { assertId, assertSafeKey, keys, newVideoId } from '../../src/storage/keys.js';

describe('object keys and video ids', () => {
  it('every new video id is a valid id and makes valid object keys (none starts with "-")', () => {
    // base64url starts with "-" once in 64 ids: 5000 draws would all but surely hit it.
    for (let i = 0; i < 5000; i++) {
      const id = newVideoId();
      expect(id).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{15}$/);
      expect(() => assertId(id)).not.toThrow();
      expect(() => assertSafeKey(keys.source(id))).not.toThrow();
      expect(() => assertSafeKey(keys.attemptPrefix(id, 1))).not.toThrow();
    }
  });

  it('refuses ids and keys that could leave their place', () => {
    for (const bad of ['', '../x', 'a/b', 'a b', 'x'.repeat(65), '%2e%2e'])
      expect(() => assertId(bad), bad).toThrow();
    for (const bad of ['../x', 'a/../b', '/abs', 'a//b', '-a/b', '.hidden']) {
      expect(() => assertSafeKey(bad), bad).toThrow();
    }
    expect(assertSafeKey('videos/abc/a1/720p/seg_00001.m4s')).toBe('videos/abc/a1/720p/seg_00001.m4s');
  });
});
