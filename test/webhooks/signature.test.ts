import { describe, expect, it } from 'vitest';
import { renderEventBody } from '../../src/webhooks/payload.js';
import { MAX_ATTEMPTS, RETRY_DELAYS_SECONDS, retryDelaySeconds } from '../../src/webhooks/schedule.js';
import { newWebhookSecret, signWebhook, webhookHeaders } from '../../src/webhooks/signature.js';
import { type Received, verifyDelivery } from '../helpers/webhookReceiver.js';

const received = (h: Record<string, string>, body: string): Received => ({
  id: h['webhook-id']!,
  timestamp: h['webhook-timestamp']!,
  signature: h['webhook-signature']!,
  headers: {},
  body,
  json: JSON.parse(body),
  at: Date.now(),
});

describe('Standard Webhooks signatures', () => {
  it("matches the spec's published example", () => {
    // The example of the Standard Webhooks reference libraries.
    expect(
      signWebhook(
        'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
        'msg_p5jXN8AQM9LWM0D4loKWxJek',
        1614265330,
        '{"test": 2432232314}',
      ),
    ).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('signs what a receiver verifies, and nothing it changed', async () => {
    const secret = newWebhookSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(secret.slice(6), 'base64')).toHaveLength(32);
    const body = JSON.stringify({
      type: 'video.ready',
      timestamp: new Date().toISOString(),
      data: { id: 'v1' },
    });
    const h = webhookHeaders(secret, 'msg_abc', body);
    expect(h['webhook-id']).toBe('msg_abc');
    expect(Math.abs(Number(h['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(2);
    await verifyDelivery(secret, received(h, body));
    await expect(verifyDelivery(secret, received(h, body.replace('v1', 'v2')))).rejects.toThrow();
    await expect(verifyDelivery(newWebhookSecret(), received(h, body))).rejects.toThrow();
    await expect(
      verifyDelivery(secret, received({ ...h, 'webhook-id': 'msg_other' }, body)),
    ).rejects.toThrow();
    // A replay of an old delivery is refused by its timestamp.
    const old = webhookHeaders(secret, 'msg_abc', body, Date.now() - 10 * 60_000);
    await expect(verifyDelivery(secret, received(old, body))).rejects.toThrow();
  });
});

describe('retry schedule', () => {
  it('waits 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, then gives up after about 27 hours', () => {
    expect(MAX_ATTEMPTS).toBe(8);
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => retryDelaySeconds(n))).toEqual([
      5, 300, 1800, 7200, 18_000, 36_000, 36_000,
    ]);
    expect(retryDelaySeconds(8)).toBeNull();
    const total = RETRY_DELAYS_SECONDS.reduce((a, b) => a + b, 0) / 3600;
    expect(total).toBeGreaterThan(26);
    expect(total).toBeLessThan(28);
    expect(retryDelaySeconds(2, 0.001)).toBeCloseTo(0.3);
  });
});

describe('event body', () => {
  it('is the video as the API shows it, rendered identically every time', () => {
    const snapshot = {
      id: 'vid1',
      title: 'Clip',
      filename: 'clip.mp4',
      status: 'ready',
      progress: 1,
      error: null,
      error_code: null,
      playback_policy: 'signed',
      source_key: 'sources/vid1/original',
      source_size: 1234,
      duration_ms: 2000,
      width: 426,
      height: 240,
      output_prefix: 'videos/vid1/a1',
      renditions: [
        {
          name: '240p',
          width: 426,
          height: 240,
          bandwidth: 1,
          averageBandwidth: 1,
          codecs: 'x',
          frameRate: 30,
        },
      ],
      api_key_id: 'key_1',
      created_at: '2026-12-02T03:25:40.123456+00:00',
      ready_at: '2026-12-02T03:25:44.5+00:00',
      playable_at: '2026-12-02T03:25:43+00:00',
      audio: null,
    };
    const ev = { type: 'video.ready', data: snapshot, createdAt: '2026-12-02T03:25:44.5+00:00' };
    const body = renderEventBody(ev);
    expect(renderEventBody(JSON.parse(JSON.stringify(ev)))).toBe(body);
    const parsed = JSON.parse(body);
    expect(parsed).toMatchObject({
      type: 'video.ready',
      timestamp: '2026-12-02T03:25:44.500Z',
      data: {
        id: 'vid1',
        status: 'ready',
        createdAt: '2026-12-02T03:25:40.123Z',
        readyAt: '2026-12-02T03:25:44.500Z',
        playable: true,
        playableAt: '2026-12-02T03:25:43.000Z',
        renditions: [
          { name: '240p', width: 426, height: 240, bandwidth: 1, averageBandwidth: 1, codecs: 'x' },
        ],
      },
    });
    // Internal columns stay inside.
    expect(body).not.toContain('source_key');
    expect(body).not.toContain('key_1');
    expect(body).not.toContain('frameRate');
  });
});
