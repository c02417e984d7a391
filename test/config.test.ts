import { describe, expect, expectTypeOf, it } from 'vitest';
import { httpProcesses } from '../src/cluster.js';
import {
  type AccessConfig,
  type CliConfig,
  type Config,
  type ConfigSection,
  type HttpConfig,
  loadCliConfig,
  loadConfig,
  type QueueConfig,
  type Role,
  SECTIONS,
  SETTINGS,
  settingsHelp,
} from '../src/config.js';

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

  it('the help lists every setting with its environment variable and default, under its section heading', () => {
    const help = settingsHelp();
    const blocks = help.split('\n\n').map((b) => b.split('\n'));
    expect(blocks.map((b) => b[0])).toEqual(Object.values(SECTIONS));
    for (const s of SETTINGS) {
      const block = blocks.find((b) => b[0] === SECTIONS[s.section])!;
      const line = block.find((l) =>
        s.flag === undefined ? l.trim().startsWith(`${s.env} `) : l.trim().startsWith(`--${s.flag} `),
      );
      expect(line, s.env).toBeDefined();
      expect(line).toContain(s.env);
      if (s.default) expect(line).toContain(s.default);
    }
    expect(help).toMatch(/^queue: .*\n {2}--lease-seconds +REEL_LEASE_SECONDS +30 /m);
    expect(help).toMatch(/^cli: .*\n {2}--server +REEL_URL +http:\/\/localhost:8080 /m);
  });

  it('Config is computed from the table: each field typed by its parse, one type per section', () => {
    expectTypeOf<Config['port']>().toEqualTypeOf<number>();
    expectTypeOf<Config['publicUrl']>().toEqualTypeOf<string | undefined>();
    expectTypeOf<Config['trustProxy']>().toEqualTypeOf<boolean | string[]>();
    expectTypeOf<Config['roles']>().toEqualTypeOf<Role[]>();
    expectTypeOf<Config['playbackDelivery']>().toEqualTypeOf<'proxy' | 'redirect'>();
    expectTypeOf<Config['metricsPort']>().toEqualTypeOf<number | undefined>();
    expectTypeOf<Config['ladder']>().toEqualTypeOf<number[]>();
    expectTypeOf<keyof QueueConfig>().toEqualTypeOf<
      | 'leaseSeconds'
      | 'heartbeatSeconds'
      | 'maxAttempts'
      | 'retryBaseSeconds'
      | 'concurrency'
      | 'pollMs'
      | 'noSpaceRetrySeconds'
    >();
    expectTypeOf<keyof AccessConfig>().toEqualTypeOf<
      'apiKey' | 'tokenTtlSeconds' | 'sessionAllowanceSeconds' | 'signingKeyRefreshSeconds'
    >();
    expectTypeOf<HttpConfig>().toEqualTypeOf<ConfigSection<'http'>>();
    expectTypeOf<CliConfig>().toEqualTypeOf<{
      server: string;
      apiKey: string | undefined;
      stateFile: string | undefined;
    }>();
    // Config is every section but the client's, flat; each section is a part of it.
    expectTypeOf<Config>().toMatchTypeOf<QueueConfig & HttpConfig & AccessConfig>();
    expectTypeOf<Config>().not.toHaveProperty('server');
    // At run time: one field per server setting, each in exactly one section.
    const config = loadConfig({}, {});
    const serverKeys = SETTINGS.filter((s) => s.section !== 'cli').map((s) => s.key);
    expect(Object.keys(config).sort()).toEqual([...serverKeys].sort());
    expect(new Set(serverKeys).size).toBe(serverKeys.length);
  });

  it('the cli section holds what reel upload reads, with its flags and environment variables', () => {
    expect(loadCliConfig({}, {})).toEqual({
      server: 'http://localhost:8080',
      apiKey: undefined,
      stateFile: undefined,
    });
    expect(
      loadCliConfig(
        { 'api-key': 'reel_flag' },
        { REEL_URL: 'https://v.example', REEL_API_KEY: 'reel_env', REEL_UPLOAD_STATE: '/tmp/s.json' },
      ),
    ).toEqual({ server: 'https://v.example', apiKey: 'reel_flag', stateFile: '/tmp/s.json' });
    expect(loadCliConfig({ server: 'http://a:1' }, { REEL_URL: 'http://b:2' }).server).toBe('http://a:1');
    // The client does not read (or refuse) the server's settings, nor the server the client's.
    expect(() => loadCliConfig({}, { PORT: 'eighty' })).not.toThrow();
    expect(() => loadConfig({}, { REEL_URL: 'whatever' })).not.toThrow();
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
  it('REEL_PROCESSES is auto or a whole number ≥ 1; httpProcesses resolves it (embedded: one, more refused)', () => {
    expect(loadConfig({}, {}).processes).toBe('auto');
    expect(loadConfig({}, { REEL_PROCESSES: '3' }).processes).toBe(3);
    expect(loadConfig({ processes: 'auto' }, { REEL_PROCESSES: '3' }).processes).toBe('auto');
    expect(() => loadConfig({ processes: '0' }, {})).toThrow(/--processes must be a whole number from 1/);
    expect(() => loadConfig({}, { REEL_PROCESSES: 'x' })).toThrow(/REEL_PROCESSES must be a whole number/);
    expect(() => loadConfig({}, { REEL_PROCESSES: '2.5' })).toThrow(/REEL_PROCESSES/);

    const pg = 'postgres://db/reel';
    const cfg = (env: Record<string, string>) => loadConfig({}, env);
    expect(httpProcesses(cfg({ DATABASE_URL: pg }), 6)).toBe(6);
    expect(httpProcesses(cfg({ DATABASE_URL: pg }), 64)).toBe(8); // auto: at most 8 (connections)
    expect(httpProcesses(cfg({ DATABASE_URL: pg, REEL_PROCESSES: '12' }), 64)).toBe(12);
    expect(httpProcesses(cfg({ DATABASE_URL: pg, REEL_PROCESSES: '3' }), 6)).toBe(3);
    expect(httpProcesses(cfg({}), 6)).toBe(1);
    expect(httpProcesses(cfg({ REEL_PROCESSES: '1' }), 6)).toBe(1);
    expect(() => httpProcesses(cfg({ REEL_PROCESSES: '4' }), 6)).toThrow(
      /embedded mode runs one process.*Set DATABASE_URL/,
    );
    // No HTTP role (reel worker): one process whatever the setting.
    expect(httpProcesses(cfg({ REEL_ROLES: 'worker', REEL_PROCESSES: '4' }), 6)).toBe(1);
    expect(httpProcesses(cfg({ DATABASE_URL: pg, REEL_ROLES: 'worker' }), 6)).toBe(1);
  });
});
