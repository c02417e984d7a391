/** The `reel` command line: serve, worker, upload, keys. */
import { parseArgs } from 'node:util';
import v8 from 'node:v8';
import { httpProcesses, isClusterChild, startCluster, startHttpChild } from '../cluster.js';
import { loadCliConfig, loadConfig, SETTINGS, settingsHelp } from '../config.js';
import { createLogger } from '../log.js';
import { startReel } from '../server.js';
import { keysCommand } from './keys.js';
import { uploadDirect, uploadFile } from './upload.js';

const USAGE = `Usage: reel <command> [options]

Commands:
  serve                 run Reel (all roles in one process by default)
  worker                run only the processing role (same as: serve --roles worker)
  upload FILE           upload a video with tus; prints its id
        --title T       title (default: the file name)
        --public        playable without a token (default: signed)
        --direct        send the bytes straight to S3 storage, several parts at once
        --server URL    Reel's URL (REEL_URL, default http://localhost:8080)
        --api-key KEY   API key (REEL_API_KEY)
                        an interrupted upload of the same file resumes; REEL_UPLOAD_STATE
                        names the file that remembers it (default ~/.config/reel/uploads.json)
  keys create [--name N] [--scopes read,write] | list | revoke ID
                        manage API keys (stop "reel serve" first in embedded mode); scopes:
                        admin (everything, the default) ⊇ write (upload, change, delete) ⊇ read
  keys rotate-signing | list-signing | retire-signing KID [--force]
                        the keys that sign playback tokens: a new one signs from now on, the
                        previous one verifies its tokens until they expire, then retires by itself;
                        --force retires a key at once (a leaked secret)

Run "reel serve --help" for every setting.`;

export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  const settingFlags = Object.fromEntries(
    SETTINGS.flatMap((s) => (s.flag === undefined ? [] : [[s.flag, { type: 'string' as const }]])),
  );
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    strict: true,
    options: {
      ...settingFlags,
      help: { type: 'boolean', short: 'h' },
      title: { type: 'string' },
      public: { type: 'boolean' },
      direct: { type: 'boolean' },
      name: { type: 'string' },
      scopes: { type: 'string' },
      force: { type: 'boolean' },
    },
  });
  const flags = values as Record<string, string | undefined>;

  switch (command) {
    case 'serve':
    case 'worker': {
      if (values.help) {
        console.log(
          `Usage: reel ${command} [options]\n\nEvery option is also an environment variable:\n\n${settingsHelp()}`,
        );
        return;
      }
      const config = loadConfig(command === 'worker' ? { ...flags, roles: 'worker' } : flags);
      await serve(config);
      return;
    }
    case 'upload': {
      const file = positionals[0];
      if (!file || values.help) {
        console.log(USAGE);
        if (!file) process.exitCode = 2;
        return;
      }
      const { server, apiKey, stateFile } = loadCliConfig(flags);
      if (!apiKey) throw new Error('an API key is needed: pass --api-key or set REEL_API_KEY');
      const id = await (values.direct ? uploadDirect : uploadFile)({
        file,
        server,
        apiKey,
        title: values.title,
        public: values.public ?? false,
        stateFile,
      });
      console.log(id);
      return;
    }
    case 'keys':
      console.log(
        await keysCommand(loadConfig(flags), positionals, {
          name: values.name,
          scopes: values.scopes,
          force: values.force,
        }),
      );
      return;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return;
    default:
      console.error(`unknown command "${command}"\n\n${USAGE}`);
      process.exitCode = 2;
  }
}

/**
 * Embedded `reel serve`: WebAssembly (PGlite's Postgres) runs on V8's baseline compiler only. Optimising
 * PGlite's 9 MB module kept about 50 MB resident (idle 246 → 195 MB, `npm run bench:memory`); queries are
 * slower for it (a PGlite-heavy test file: 37.8 → 43.9 s), and playback does not query (http/playCache.ts).
 * Process-wide, so only here, before the first module is compiled: never in tests, never on Postgres.
 */
function baselineWasmOnly(config: ReturnType<typeof loadConfig>): void {
  if (!config.databaseUrl) v8.setFlagsFromString('--liftoff-only');
}

async function serve(config: ReturnType<typeof loadConfig>): Promise<void> {
  baselineWasmOnly(config);
  const log = createLogger(config.logLevel);
  if (isClusterChild()) {
    // The primary stops its children (with SIGTERM): Ctrl-C, which reaches the whole process group, is
    // left to it, so that no child is seen to die before the primary knows it is stopping.
    process.on('SIGINT', () => undefined);
    stopOnSignals(await startHttpChild(config, log), config, log, ['SIGTERM']);
    return;
  }
  const processes = httpProcesses(config);
  const reel = processes > 1 ? await startCluster(config, log, processes) : await startReel(config, log);
  const lines = [`Reel is running: roles ${config.roles.join(', ')}`];
  if (reel.url) lines.push(`  URL:      ${reel.url}`);
  if (processes > 1) lines.push(`  serving:  ${processes} HTTP processes share this URL`);
  if (reel.metricsUrl && reel.metricsUrl !== reel.url) lines.push(`  metrics:  ${reel.metricsUrl}/metrics`);
  if (!config.databaseUrl) lines.push(`  data:     ${config.dataDir}`);
  if (reel.createdApiKey) {
    lines.push(
      `  API key:  ${reel.createdApiKey}`,
      '            (shown once: store it; more with "reel keys create")',
    );
  } else if (!config.apiKey && reel.url) {
    lines.push('  API key:  use the key printed on first start, or REEL_API_KEY');
  }
  process.stderr.write(`${lines.join('\n')}\n`);
  stopOnSignals(reel, config, log);
}

function stopOnSignals(
  reel: { close(graceMs: number): Promise<void> },
  config: ReturnType<typeof loadConfig>,
  log: ReturnType<typeof createLogger>,
  signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'],
): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    // SIGTERM (an orchestrator stopping the process): running jobs may finish within the grace period,
    // then are handed back at once. SIGINT (Ctrl-C): hand back at once.
    const grace = signal === 'SIGTERM' ? config.shutdownGraceSeconds * 1000 : 0;
    reel
      .close(grace)
      .then(() => process.exit(0))
      .catch((err) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      });
  };
  for (const signal of signals) process.on(signal, () => stop(signal));
}
