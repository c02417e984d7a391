import * as tus from 'tus-js-client';
import type { TestReel } from './reel.js';

/** Uploads bytes with the real tus client; resolves with the video id. */
export function tusUpload(
  t: Pick<TestReel, 'url' | 'apiKey'>,
  data: Buffer,
  metadata: Record<string, string> = {},
  opts: Partial<tus.UploadOptions> = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const upload = new tus.Upload(data, {
      endpoint: `${t.url}/v1/uploads`,
      headers: { Authorization: `Bearer ${t.apiKey}` },
      metadata: { filename: 'clip.mp4', ...metadata },
      retryDelays: [],
      ...opts,
      onError: reject,
      onSuccess: () => resolve(upload.url!.split('/').pop()!),
    });
    upload.start();
  });
}
