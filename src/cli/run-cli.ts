import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, parseEnv, type Env } from '../config/index.js';
import { createLogger, readLoggingConfig, type RootLogger } from '../logging/index.js';
import { AuditInputError, DEFAULT_REGRESSION_TOKENS, DEFAULT_REPEATS } from '../privacy/index.js';
import {
  auditCommandReport,
  startGatewayCommand,
  startProxyServer,
  startReferenceCommand,
  type RunningServer,
} from '../serve/index.js';
import {
  NOISE_MODES,
  buildDemoSgt,
  SgtArtifactError,
  SgtDeviceUnavailableError,
  type NoiseMode,
} from '../sgt/index.js';
import { ScriptedRepliesError, readScriptedReplies } from '../reference-server/index.js';
import { USAGE } from './usage.js';

type Environment = Record<string, string | undefined>;

/** Errors a user can fix: printed as one line, no stack trace. */
class UsageError extends Error {}

export async function runCli(argv: string[], environment: Environment): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
      process.stdout.write(USAGE);
      return command === undefined ? 1 : 0;
    }
    if (command === '-v' || command === '--version') {
      process.stdout.write(`${packageVersion()}\n`);
      return 0;
    }
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(USAGE);
      return 0;
    }
    if (command === 'serve') return await serveCommand(rest, environment);
    if (command === 'reference-server') return await referenceServerCommand(rest, environment);
    if (command === 'protect') return await protectCommand(rest, environment);
    if (command === 'sgt' && rest[0] === 'build-demo') return await buildDemoCommand(rest.slice(1));
    if (command === 'sgt' && rest[0] === 'audit') return await auditCommand(rest.slice(1), environment);
    throw new UsageError(`unknown command: ${argv.join(' ')} (see sgt-proxy --help)`);
  } catch (err) {
    if (isUserFixable(err)) {
      process.stderr.write(`sgt-proxy: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}

function isUserFixable(err: unknown): err is Error {
  if (
    err instanceof UsageError ||
    err instanceof ConfigError ||
    err instanceof SgtArtifactError ||
    err instanceof AuditInputError ||
    err instanceof ScriptedRepliesError
  )
    return true;
  if (err instanceof SgtDeviceUnavailableError || isArgError(err)) return true;
  // Bind errors (port taken, privileged port) carry a message naming the address.
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL';
}

/** node:util parseArgs reports unknown or malformed options as TypeErrors with an ERR_PARSE_ARGS_* code. */
function isArgError(err: unknown): boolean {
  const code: unknown = err instanceof TypeError ? (err as TypeError & { code?: unknown }).code : undefined;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS');
}

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function setUpLogging(env: Env): RootLogger {
  return createLogger(readLoggingConfig(env.SGP_LOGGING_CONFIG_FILE));
}

// Orchestrators send SIGTERM and wait (Kubernetes: 30 s) before killing: drain within that.
export const SHUTDOWN_GRACE_MS = 20_000;

/** Runs until SIGINT/SIGTERM, then stops accepting and gives in-flight responses time to finish. */
function untilSignal(server: RunningServer, logging: RootLogger): Promise<number> {
  return new Promise((resolve) => {
    const stop = (signal: string): void => {
      // close() stops listening at once: logged after it, the line is true when a reader sees it.
      const closed = server.close(SHUTDOWN_GRACE_MS);
      logging.logger.info({ signal }, 'shutting down');
      void closed.then(() => resolve(0));
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

async function serveCommand(args: string[], environment: Environment): Promise<number> {
  parseArgs({ args, options: {}, strict: true });
  const env = parseEnv(environment);
  const logging = setUpLogging(env);
  const server = await startProxyServer(env, logging);
  return untilSignal(server, logging);
}

function intOption(name: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} expects an integer ≥ ${min}, got "${value}"`);
  return n;
}

async function referenceServerCommand(args: string[], environment: Environment): Promise<number> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '8000' },
      sgt: { type: 'string' },
      mode: { type: 'string', default: 'echo' },
      replies: { type: 'string' },
      'token-interval-ms': { type: 'string', default: '20' },
      'output-protection': { type: 'string', default: 'optional' },
    },
  });
  if (values.mode !== 'echo' && values.mode !== 'paced' && values.mode !== 'scripted')
    throw new UsageError(`--mode expects echo, paced or scripted, got "${values.mode}"`);
  if ((values.mode === 'scripted') !== (values.replies !== undefined))
    throw new UsageError('--mode scripted needs --replies FILE, and --replies needs --mode scripted');
  const protection = values['output-protection'];
  if (protection !== 'required' && protection !== 'optional' && protection !== 'off') {
    throw new UsageError(`--output-protection expects required, optional or off, got "${protection}"`);
  }
  const replies = values.replies === undefined ? undefined : await readScriptedReplies(values.replies);
  const env = parseEnv(environment);
  const logging = setUpLogging(env);
  const server = await startReferenceCommand(env, logging, {
    ...(values.sgt === undefined ? {} : { sgtDir: values.sgt }),
    ...(replies === undefined ? {} : { replies }),
    mode: values.mode,
    tokenIntervalMs: intOption('token-interval-ms', values['token-interval-ms'], 0) ?? 20,
    outputProtection: protection,
    host: values.host,
    port: intOption('port', values.port, 0) ?? 8000,
  });
  return untilSignal(server, logging);
}

async function protectCommand(args: string[], environment: Environment): Promise<number> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      upstream: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '8001' },
      'output-protection': { type: 'string', default: 'required' },
    },
  });
  const mode = values['output-protection'];
  if (mode !== 'required' && mode !== 'optional')
    throw new UsageError(`--output-protection expects required or optional, got "${mode}"`);
  if (values.upstream === undefined || !/^https?:\/\/[^/]+/.test(values.upstream)) {
    throw new UsageError('protect needs --upstream URL (the vLLM server, e.g. http://127.0.0.1:8000)');
  }
  const env = parseEnv(environment);
  const logging = setUpLogging(env);
  const server = await startGatewayCommand(env, logging, {
    upstream: values.upstream.replace(/\/+$/, ''),
    mode,
    host: values.host,
    port: intOption('port', values.port, 0) ?? 8001,
  });
  return untilSignal(server, logging);
}

/** The builder validates its options with RangeErrors: for the CLI those are the user's to fix. */
async function asUsageError<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (err instanceof RangeError) throw new UsageError(err.message);
    throw err;
  }
}

async function buildDemoCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      out: { type: 'string' },
      hidden: { type: 'string' },
      vocab: { type: 'string' },
      'noise-scale': { type: 'string' },
      seed: { type: 'string' },
    },
  });
  if (values.out === undefined) throw new UsageError('sgt build-demo needs --out DIR');
  const noiseScale = values['noise-scale'] === undefined ? undefined : Number(values['noise-scale']);
  if (noiseScale !== undefined && !(Number.isFinite(noiseScale) && noiseScale >= 0)) {
    throw new UsageError(`--noise-scale expects a number ≥ 0, got "${values['noise-scale']}"`);
  }
  const started = performance.now();
  await asUsageError(
    buildDemoSgt({
      out: values.out,
      hidden: intOption('hidden', values.hidden, 1),
      vocab: intOption('vocab', values.vocab, 1),
      noiseScale,
      seed: intOption('seed', values.seed, 0),
      onProgress: (line) => process.stderr.write(`${line}\n`),
    }),
  );
  process.stderr.write(`demo SGT written to ${values.out} in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  return 0;
}

function listOption<T>(
  name: string,
  value: string | undefined,
  parse: (item: string) => T | undefined,
): T[] | undefined {
  if (value === undefined) return undefined;
  const items = value.split(',').map((item) => item.trim());
  const parsed = items.map(parse);
  const bad = items.find((_, i) => parsed[i] === undefined);
  if (bad !== undefined || items.length === 0) throw new UsageError(`--${name}: "${bad ?? value}" is not valid here`);
  return parsed as T[]; // every item parsed: checked just above
}

/** `sgt audit`: the attack suite against an artifact (serve/commands.ts). */
async function auditCommand(args: string[], environment: Environment): Promise<number> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      sgt: { type: 'string' },
      prompts: { type: 'string' },
      json: { type: 'boolean', default: false },
      modes: { type: 'string' },
      repeats: { type: 'string' },
      'regression-tokens': { type: 'string' },
    },
  });
  const modes = listOption('modes', values.modes, (m) =>
    NOISE_MODES.includes(m as NoiseMode) ? (m as NoiseMode) : undefined,
  );
  const repeats = listOption('repeats', values.repeats, (n) =>
    /^\d+$/.test(n) && Number(n) >= 1 ? Number(n) : undefined,
  ) ?? [...DEFAULT_REPEATS];
  const regressionTokens = intOption('regression-tokens', values['regression-tokens'], 1) ?? DEFAULT_REGRESSION_TOKENS;
  const env = parseEnv(environment);
  process.stdout.write(
    await auditCommandReport(env, {
      ...(values.sgt === undefined ? {} : { sgtDir: values.sgt }),
      ...(values.prompts === undefined ? {} : { promptsFile: values.prompts }),
      ...(modes === undefined ? {} : { modes }),
      repeats,
      regressionTokens,
      json: values.json,
    }),
  );
  return 0;
}
