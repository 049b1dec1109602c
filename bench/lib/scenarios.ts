import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  ARTIFACTS,
  CLI,
  FLOOR_RELAY,
  LOGS,
  PEER_ENTRY,
  PEER_SHIM,
  PROFILES,
  ROOT,
  childEnv,
  log,
  loggingConfig,
  startChildLogged,
} from './harness.js';
import type { Options } from './options.js';
import { ChildStartError, freePort, type ManagedChild } from './processes.js';
import type { ScenarioName, ScenarioResult } from './report.js';
import { LOOPBACK_HOST, streamChat, type ChatTarget } from './sse-request.js';
import { UpstreamLog } from './upstream-log.js';

/**
 * The scenarios, one table entry each: what the client talks to (`path`), which workloads it runs,
 * and how its processes start (`start`, beside the shared paced reference server). Every scenario
 * is measured against `direct` in the same run.
 */

export interface Upstream {
  child: ManagedChild;
  port: number;
  log: UpstreamLog;
  /** The model it serves (its artifact's base_model): what requests through it name. */
  model: string;
}

/** ladder: the concurrency ladder and the open-loop rates; prompts: the prompt-length sweep. */
export type Workload = 'ladder' | 'prompts';

interface StartContext {
  options: Options;
  /** The shared paced reference server. */
  reference: Upstream;
  /** Starts another paced reference server (stopped, and its memory sampled, with the rest). */
  startReference(name: string, args: string[]): Promise<Upstream>;
}

interface Started {
  target: ChatTarget;
  gateway: ManagedChild | null;
  upstream: Upstream;
  config: Record<string, unknown>;
}

export interface ScenarioSpec {
  name: ScenarioName;
  color: string;
  workloads: readonly Workload[];
  /** In words; `ref` names the shared reference server. */
  path(ref: string): string;
  start(ctx: StartContext): Promise<Started>;
}

/** Thrown by `start` when the scenario cannot run here for a stated reason (reported as skipped). */
class ScenarioSkip extends Error {}

export interface Live {
  spec: ScenarioSpec;
  result: ScenarioResult;
  target: ChatTarget;
  gateway: ManagedChild | null;
  upstream: Upstream;
}

const CHAT = '/v1/chat/completions';
const DEMO_SGT = 'demo SGT (hidden 64, Qwen3 tokenizer)';
const REAL_SIZE = { hidden: 4096, vocab: 32_000 };

export const SCENARIOS: readonly ScenarioSpec[] = [
  {
    name: 'direct',
    color: '#333333',
    workloads: ['ladder', 'prompts'],
    path: (ref) => `client → ${ref} (plain-text /v1/chat/completions)`,
    start: async ({ reference }) => ({
      target: { port: reference.port, path: CHAT, headers: {} },
      gateway: null,
      upstream: reference,
      config: {},
    }),
  },
  {
    name: 'floor',
    color: '#7f7f7f',
    workloads: ['ladder'],
    path: (ref) =>
      `client → bench/floor/relay.ts (node:http, answer bytes piped as they arrive: no parsing) → ${ref} (plain-text /v1/chat/completions)`,
    start: async ({ reference, options }) => {
      const port = await freePort();
      const gateway = await startChildLogged('floor', {
        nodeArgs: [...profileArgs('floor', options), FLOOR_RELAY],
        env: childEnv({
          BENCH_HOST: LOOPBACK_HOST,
          BENCH_PORT: String(port),
          BENCH_UPSTREAM: `${LOOPBACK_HOST}:${reference.port}`,
        }),
        readyUrl: `http://${LOOPBACK_HOST}:${port}/health`,
      });
      return {
        target: { port, path: CHAT, headers: {} },
        gateway,
        upstream: reference,
        config: { relay: 'bench/floor/relay.ts', purpose: "the lower bound of a Node relay's CPU per token" },
      };
    },
  },
  {
    name: 'proxy',
    color: '#d62728',
    workloads: ['ladder'],
    path: () =>
      'client → sgt-proxy (demo SGT, SGP_OUTPUT_DECRYPTION=true: decrypts) → reference server --output-protection required',
    start: async (ctx) => {
      let upstream: Upstream;
      try {
        upstream = await ctx.startReference('reference-protected', ['--output-protection', 'required']);
      } catch (err) {
        if (err instanceof ChildStartError && /output-protection/i.test(err.output))
          throw new ScenarioSkip(
            `output protection not available (the reference server rejects --output-protection: "${firstLine(err.output, /output-protection/i)}")`,
          );
        throw err;
      }
      const proxy = await startProxy('proxy', upstream, { SGP_OUTPUT_DECRYPTION: 'true' }, ctx.options);
      return {
        ...proxy,
        upstream,
        config: { SGP_OUTPUT_DECRYPTION: true, upstream: '--output-protection required', sgt: DEMO_SGT },
      };
    },
  },
  {
    name: 'proxy-plain',
    color: '#1f77b4',
    workloads: ['ladder', 'prompts'],
    path: (ref) =>
      `client → sgt-proxy (demo SGT, SGP_OUTPUT_DECRYPTION=false) → ${ref} /v1/completions (prompt_embeds)`,
    start: async ({ reference, options }) => ({
      ...(await startProxy('proxy-plain', reference, { SGP_OUTPUT_DECRYPTION: 'false' }, options)),
      upstream: reference,
      config: { SGP_OUTPUT_DECRYPTION: false, sgt: DEMO_SGT },
    }),
  },
  {
    name: 'peer',
    color: '#2ca02c',
    workloads: ['ladder'],
    path: (ref) =>
      `client → @portkey-ai/gateway (provider openai, custom host ${ref}/v1) → plain-text /v1/chat/completions`,
    start: startPeer,
  },
  {
    name: 'proxy-h4096',
    color: '#9467bd',
    workloads: ['prompts'],
    path: () =>
      `client → sgt-proxy (demo SGT at real size: H ${REAL_SIZE.hidden} × V ${REAL_SIZE.vocab}, SGP_OUTPUT_DECRYPTION=false) → reference server --sgt (the same artifact) /v1/completions (prompt_embeds)`,
    start: async (ctx) => {
      const dir = await realSizeArtifact();
      const upstream = await ctx.startReference('reference-h4096', ['--sgt', dir]);
      const proxy = await startProxy(
        'proxy-h4096',
        upstream,
        { SGP_OUTPUT_DECRYPTION: 'false', SGP_SGT_PATH: dir },
        ctx.options,
      );
      return {
        ...proxy,
        upstream,
        config: {
          SGP_OUTPUT_DECRYPTION: false,
          sgt: `sgt build-demo --hidden ${REAL_SIZE.hidden} --vocab ${REAL_SIZE.vocab}`,
          artifact: dir.slice(ROOT.length + 1),
        },
      };
    },
  },
];

export function colors(): Record<string, string> {
  return Object.fromEntries(SCENARIOS.map((s) => [s.name, s.color]));
}

function profileArgs(name: string, options: Options): string[] {
  return options.profile ? ['--cpu-prof', `--cpu-prof-dir=${PROFILES}`, `--cpu-prof-name=${name}.cpuprofile`] : [];
}

async function startReference(name: string, extraArgs: string[], options: Options): Promise<Upstream> {
  const port = await freePort();
  const logging = loggingConfig(name);
  const child = await startChildLogged(name, {
    nodeArgs: [
      CLI,
      'reference-server',
      '--host',
      LOOPBACK_HOST,
      '--port',
      String(port),
      '--mode',
      'paced',
      '--token-interval-ms',
      String(options.intervalMs),
      ...extraArgs,
    ],
    env: childEnv({ SGP_LOGGING_CONFIG_FILE: logging.file }),
    readyUrl: `http://${LOOPBACK_HOST}:${port}/health`,
  });
  const models = (await (await fetch(`http://${LOOPBACK_HOST}:${port}/v1/models`)).json()) as {
    data: Array<{ id: string }>;
  };
  const model = models.data[0]?.id;
  if (model === undefined) throw new Error(`${name} lists no model`);
  return { child, port, log: new UpstreamLog(logging.requests), model };
}

async function startProxy(
  name: string,
  upstream: Upstream,
  env: Record<string, string>,
  options: Options,
): Promise<{ target: ChatTarget; gateway: ManagedChild }> {
  const port = await freePort();
  const logging = loggingConfig(name);
  const gateway = await startChildLogged(name, {
    nodeArgs: [...profileArgs(name, options), CLI, 'serve'],
    env: childEnv({
      SGP_HOST: LOOPBACK_HOST,
      SGP_PORT: String(port),
      SGP_INFERENCE_SERVICE_HOST: `http://${LOOPBACK_HOST}:${upstream.port}`,
      SGP_LOGGING_CONFIG_FILE: logging.file,
      ...env,
    }),
    readyUrl: `http://${LOOPBACK_HOST}:${port}/readyz`,
  });
  return { target: { port, path: CHAT, headers: {} }, gateway };
}

async function startPeer({ reference, options }: StartContext): Promise<Started> {
  if (!existsSync(PEER_ENTRY))
    throw new ScenarioSkip('@portkey-ai/gateway is not installed (npm ci installs it as a dev dependency)');
  const port = await freePort();
  const gateway = await startChildLogged('peer', {
    nodeArgs: [...profileArgs('peer', options), '--import', PEER_SHIM, PEER_ENTRY, `--port=${port}`, '--headless'],
    env: childEnv({ BENCH_LISTEN_HOST: LOOPBACK_HOST }),
    readyUrl: `http://${LOOPBACK_HOST}:${port}/`,
  });
  const routing = {
    'x-portkey-provider': 'openai',
    'x-portkey-custom-host': `http://${LOOPBACK_HOST}:${reference.port}/v1`,
    // So the upstream's log line carries our request id and the TTFT split works for the peer too.
    'x-portkey-forward-headers': 'x-request-id',
  };
  return {
    target: { port, path: CHAT, headers: { ...routing, authorization: 'Bearer bench-unused-key' } },
    gateway,
    upstream: reference,
    config: {
      package: `@portkey-ai/gateway@${peerVersion()}`,
      headers: routing,
      preload:
        'bench/peer/loopback-shim.ts (listen on 127.0.0.1; mutable copy of upstream response headers, see its comment)',
    },
  };
}

function peerVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(PEER_ENTRY, '..', '..', 'package.json'), 'utf8')) as { version: string })
      .version;
  } catch {
    return '?';
  }
}

const execFileAsync = promisify(execFile);

/**
 * The H 4096 × V 32 000 demo artifact (~350 MiB), built once with the CLI into .sgt-proxy/bench-artifacts
 * (where bench:sgt builds the same one) and rebuilt when the compiled demo builder changes.
 */
async function realSizeArtifact(): Promise<string> {
  const dir = join(ARTIFACTS, `h${REAL_SIZE.hidden}-v${REAL_SIZE.vocab}`);
  const stampFile = `${dir}.bench-stamp`;
  const stamp = builderStamp();
  const current =
    existsSync(join(dir, 'sgt.json')) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp;
  if (current) return dir;
  mkdirSync(ARTIFACTS, { recursive: true });
  log(
    `building the real-size demo SGT (H ${REAL_SIZE.hidden} × V ${REAL_SIZE.vocab}) into ${dir.slice(ROOT.length + 1)}`,
  );
  const started = performance.now();
  const args = [
    CLI,
    'sgt',
    'build-demo',
    '--out',
    dir,
    '--hidden',
    String(REAL_SIZE.hidden),
    '--vocab',
    String(REAL_SIZE.vocab),
  ];
  try {
    const { stderr } = await execFileAsync(process.execPath, args, {
      cwd: ROOT,
      timeout: 15 * 60_000,
      maxBuffer: 1 << 22,
    });
    writeFileSync(join(LOGS, 'build-h4096.out.log'), stderr);
  } catch (err) {
    rmSync(stampFile, { force: true });
    throw new ScenarioSkip(`sgt build-demo failed: ${String((err as { stderr?: unknown }).stderr ?? err).slice(-400)}`);
  }
  writeFileSync(stampFile, stamp);
  log(`built in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  return dir;
}

/** A hash of the compiled demo builder: a change to it means the cached artifact may be stale. */
function builderStamp(): string {
  const demo = join(ROOT, 'dist', 'sgt', 'demo');
  const hash = createHash('sha256');
  for (const file of readdirSync(demo)
    .filter((f) => f.endsWith('.js'))
    .sort())
    hash.update(file).update(readFileSync(join(demo, file)));
  hash.update(JSON.stringify(REAL_SIZE));
  return hash.digest('hex');
}

function firstLine(text: string, pattern: RegExp): string {
  return (
    text
      .split('\n')
      .find((l) => pattern.test(l))
      ?.trim() ??
    text.trim().split('\n').at(-1) ??
    ''
  );
}

function describeStartError(err: unknown): string {
  if (err instanceof ChildStartError)
    return `${err.reason}: ${err.output.trim().split('\n').slice(-3).join(' | ').slice(0, 400)}`;
  return err instanceof Error ? err.message : String(err);
}

function emptyResult(
  name: ScenarioName,
  path: string,
  status: ScenarioResult['status'],
  extra: Partial<ScenarioResult>,
): ScenarioResult {
  return {
    name,
    path,
    status,
    steps: [],
    sustainedConcurrency: null,
    gatewayPeakRssMiB: null,
    gatewayRssAfterMiB: null,
    gatewayRssBeforeMiB: null,
    ...extra,
  };
}

function notRun(name: ScenarioName, path: string, status: 'skipped' | 'failed', reason: string): ScenarioResult {
  log(`${name}: ${status}: ${reason}`);
  return emptyResult(name, path, status, { reason });
}

const PROMPT =
  'You are a careful assistant. Summarise in three sentences why a privacy proxy in front of an ' +
  'inference server must stream tokens as soon as they arrive, and what a user would notice if it did not.';

/** The ladder's request body: one short chat prompt, streamed, `maxTokens` paced tokens. */
export function requestBody(model: string, maxTokens: number, content = PROMPT): string {
  return JSON.stringify({ model, messages: [{ role: 'user', content }], max_tokens: maxTokens, stream: true });
}

/** One short request through a scenario before it is measured: it must work end to end. */
async function probe(live: Live): Promise<string | null> {
  const agent = new http.Agent({ keepAlive: false });
  try {
    const record = await streamChat({
      target: live.target,
      body: requestBody(live.upstream.model, 8),
      maxTokens: 8,
      requestId: `bench-probe-${live.result.name}`,
      timeoutMs: 30_000,
      agent,
    });
    return record.error;
  } finally {
    agent.destroy();
  }
}

export interface SetUp {
  live: Live[];
  results: ScenarioResult[];
  upstreams: Upstream[];
}

/**
 * Starts the shared reference server, then every wanted scenario of the table at once, and probes
 * each in table order. A scenario that cannot start or fails its probe is reported, not measured.
 */
export async function setUp(options: Options, wanted: readonly ScenarioName[]): Promise<SetUp> {
  mkdirSync(LOGS, { recursive: true });
  if (options.profile) {
    mkdirSync(PROFILES, { recursive: true });
    for (const f of readdirSync(PROFILES)) if (f.endsWith('.cpuprofile')) rmSync(join(PROFILES, f));
  }
  // First alone: on a fresh clone it builds the demo SGT into the bench cache the others then share.
  const reference = await startReference('reference', [], options);
  const upstreams: Upstream[] = [reference];
  const ctx: StartContext = {
    options,
    reference,
    startReference: async (name, args) => {
      const upstream = await startReference(name, args, options);
      upstreams.push(upstream);
      return upstream;
    },
  };
  const ref = `reference server :${reference.port}`;
  const specs = SCENARIOS.filter((s) => s.name === 'direct' || wanted.includes(s.name));
  const starting = specs.map(async (spec): Promise<Live | ScenarioResult> => {
    const path = spec.path(ref);
    try {
      const started = await spec.start(ctx);
      return { spec, ...started, result: emptyResult(spec.name, path, 'ran', { config: started.config }) };
    } catch (err) {
      if (err instanceof ScenarioSkip) return notRun(spec.name, path, 'skipped', err.message);
      return notRun(spec.name, path, 'failed', describeStartError(err));
    }
  });

  const live: Live[] = [];
  const results: ScenarioResult[] = [];
  for (const task of starting) {
    const outcome = await task;
    if ('status' in outcome) {
      results.push(outcome);
      continue;
    }
    const failure = await probe(outcome);
    if (failure !== null) {
      results.push(notRun(outcome.spec.name, outcome.result.path, 'failed', `probe request failed: ${failure}`));
      await outcome.gateway?.stop();
      continue;
    }
    live.push(outcome);
    results.push(outcome.result);
  }
  return { live, results, upstreams };
}
