import { describe, expect, it } from 'vitest';
import { loadConfig, SETTINGS, settingsHelp } from '../src/config.js';

describe('configuration', () => {
  it('has embedded defaults', () => {
    const c = loadConfig({}, {});
    expect(c.port).toBe(8080);
    expect(c.dataDir).toMatch(/\/data$/);
    expect(c.databaseUrl).toBeUndefined();
    expect(c.roles).toEqual(['upload', 'play', 'worker']);
    expect(c.ladder).toEqual([1080, 720, 480, 240]);
    expect(c.heartbeatSeconds).toBe(c.leaseSeconds / 3);
  });

  it('a flag beats the environment, which beats the default', () => {
    expect(loadConfig({}, { PORT: '9000' }).port).toBe(9000);
    expect(loadConfig({ port: '9001' }, { PORT: '9000' }).port).toBe(9001);
    expect(loadConfig({ ladder: '480, 1080,720' }, {}).ladder).toEqual([1080, 720, 480]);
    expect(loadConfig({}, { REEL_ROLES: 'upload,play' }).roles).toEqual(['upload', 'play']);
  });

  it('refuses bad values with a message naming the setting', () => {
    expect(() => loadConfig({}, { PORT: 'eighty' })).toThrow(/PORT must be a whole number/);
    expect(() => loadConfig({ roles: 'upload,transcode' }, {})).toThrow(/--roles: unknown role "transcode"/);
    expect(() => loadConfig({}, { REEL_X264_PRESET: 'ludicrous' })).toThrow(/REEL_X264_PRESET/);
    expect(() => loadConfig({ 'lease-seconds': '3', 'heartbeat-seconds': '5' }, {})).toThrow(/heartbeat/);
  });

  it('the help lists every setting with its environment variable and default', () => {
    const help = settingsHelp();
    for (const s of SETTINGS) {
      const line = help.split('\n').find((l) => l.startsWith(`--${s.flag} `));
      expect(line, s.flag).toBeDefined();
      expect(line).toContain(s.env);
      if (s.default) expect(line).toContain(s.default);
    }
  });
  it('REEL_TRUST_PROXY is off by default and takes true or a list of addresses; REEL_PUBLIC_URL must be an http(s) URL', () => {
    expect(loadConfig({}, {}).trustProxy).toBe(false);
    expect(loadConfig({}, { REEL_TRUST_PROXY: 'true' }).trustProxy).toBe(true);
    expect(loadConfig({}, { REEL_TRUST_PROXY: '10.0.0.5, 10.1.0.0/16,::1,loopback' }).trustProxy).toEqual([
      '10.0.0.5',
      '10.1.0.0/16',
      '::1',
      'loopback',
    ]);
    expect(() => loadConfig({}, { REEL_TRUST_PROXY: 'proxy.example' })).toThrow(
      /REEL_TRUST_PROXY: "proxy.example"/,
    );
    expect(() => loadConfig({}, { REEL_TRUST_PROXY: '10.0.0.0/33' })).toThrow(/REEL_TRUST_PROXY/);
    expect(loadConfig({}, { REEL_PUBLIC_URL: 'https://v.example/reel/' }).publicUrl).toBe(
      'https://v.example/reel',
    );
    expect(() => loadConfig({}, { REEL_PUBLIC_URL: 'v.example' })).toThrow(
      /REEL_PUBLIC_URL must be an absolute URL/,
    );
    expect(() => loadConfig({}, { REEL_PUBLIC_URL: 'javascript:alert(1)' })).toThrow(/REEL_PUBLIC_URL/);
  });
});
