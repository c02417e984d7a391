/**
 * /metrics (process memory, file descriptors, worker ids, queue figures): the public HTTP port answers it
 * only with an API key; the dedicated metrics port (--metrics-port, meant for an internal network) stays
 * open, in an HTTP process as in a worker alone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestReel, type TestReel } from '../helpers/reel.js';

describe('/metrics', () => {
  let t: TestReel;
  beforeAll(async () => {
    t = await startTestReel({ roles: 'upload,play', 'metrics-port': '0' });
  });
  afterAll(() => t.close());

  it('on the public HTTP port: 401 without a key, or with a wrong or revoked one; 200 with a key', async () => {
    const none = await fetch(`${t.url}/metrics`);
    expect(none.status).toBe(401);
    const body = await none.json();
    expect(body.code).toBe('REEL_MISSING_API_KEY');
    expect(JSON.stringify(body)).not.toMatch(/reel_process|reel_jobs/);
    const wrong = await fetch(`${t.url}/metrics`, { headers: { Authorization: 'Bearer reel_nope' } });
    expect(wrong.status).toBe(401);
    expect((await wrong.json()).code).toBe('REEL_BAD_API_KEY');
    // A query string or a trailing slash does not find another way in.
    for (const p of ['/metrics?x=1', '/metrics/', '/METRICS']) {
      const res = await fetch(t.url + p);
      expect(res.status, p).toBeGreaterThanOrEqual(400);
      expect(await res.text(), p).not.toMatch(/reel_process/);
    }

    const ok = await fetch(`${t.url}/metrics`, { headers: t.auth });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toContain('text/plain');
    expect(await ok.text()).toMatch(/^reel_jobs\{state="queued"\} \d+$/m);

    const { id, key } = await (
      await t.api('/v1/keys', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'scraper' }),
      })
    ).json();
    const scraper = { Authorization: `Bearer ${key}` };
    expect((await fetch(`${t.url}/metrics`, { headers: scraper })).status).toBe(200);
    expect((await t.api(`/v1/keys/${id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await fetch(`${t.url}/metrics`, { headers: scraper })).status).toBe(401);
  });

  it('on the metrics port: open, with /healthz, and nothing else of the API', async () => {
    const metricsUrl = t.reel.metricsUrl!;
    expect(metricsUrl).toBeDefined();
    expect(metricsUrl).not.toBe(t.url);
    const res = await fetch(`${metricsUrl}/metrics`);
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/^reel_process_cpu_seconds_total/m);
    expect((await fetch(`${metricsUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${metricsUrl}/v1/videos`, { headers: t.auth })).status).toBe(404);
  });
});

describe('/metrics in a worker alone', () => {
  let t: TestReel;
  beforeAll(async () => {
    t = await startTestReel({ roles: 'worker', 'metrics-port': '0' });
  });
  afterAll(() => t.close());

  it('is open on its metrics port, its only listener', async () => {
    expect(t.reel.metricsUrl).toBe(t.url);
    const res = await fetch(`${t.url}/metrics`);
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/^reel_jobs\{state="running"\} 0$/m);
  });
});
