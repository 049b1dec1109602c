/**
 * sgt-proxy's benchmark harness (issue 4). One invocation measures, side by side against one paced
 * reference server:
 *   direct       client → reference server /v1/chat/completions (plain text)
 *   proxy        client → sgt-proxy (SGT, output protection on: the proxy decrypts) → reference server
 *   proxy-plain  client → sgt-proxy (SGT, no output protection) → reference server
 *   peer         client → @portkey-ai/gateway (custom OpenAI-compatible host) → reference server
 * Every process is its own child, on loopback; every load is bounded in count and time.
 *
 *   node dist/bench/run.js [--mode quick|full|soak] [--profile] [--scenarios a,b] [--ladder 1,16,64]
 *        [--step-seconds N] [--warmup-seconds N] [--tokens N] [--interval-ms N] [--open-rates r1,r2]
 *        [--soak-minutes N] [--soak-concurrency N] [--soak-scenario NAME]
 */
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runLoad, sleep, type LoadShape } from './lib/load.js';
import {
  ChildStartError,
  MemorySampler,
  freePort,
  installCleanup,
  machineBusySeconds,
  processCpuSeconds,
  startChild,
  stopAll,
  type ManagedChild,
} from './lib/processes.js';
import { renderProfile, summarizeProfile } from './lib/profile.js';
import {
  baselineFor,
  deltas,
  renderTables,
  type BenchMeta,
  type ScenarioName,
  type ScenarioResult,
} from './lib/report.js';
import { LOOPBACK_HOST, streamChat, type ChatTarget, type RequestRecord } from './lib/sse-request.js';
import { rssGrowth, summarizeStep, sustainedConcurrency, type StepShape, type StepSummary } from './lib/summarize.js';
import { renderChart, type Series } from './lib/svg.js';
import { UpstreamLog } from './lib/upstream-log.js';

const ALL_SCENARIOS: readonly ScenarioName[] = ['direct', 'proxy', 'proxy-plain', 'peer'];
const COLORS: Record<ScenarioName, string> = {
  direct: '#333333',
  proxy: '#d62728',
  'proxy-plain': '#1f77b4',
  peer: '#2ca02c',
};
const PROMPT =
  'You are a careful assistant. Summarise in three sentences why a privacy proxy in front of an ' +
  'inference server must stream tokens as soon as they arrive, and what a user would notice if it did not.';

type Mode = 'quick' | 'full' | 'soak';

interface Options {
  mode: Mode;
  profile: boolean;
  scenarios: ScenarioName[];
  ladder: number[];
  stepMs: number;
  warmupMs: number;
  maxTokens: number;
  intervalMs: number;
  openRates: number[];
  soakMinutes: number;
  soakConcurrency: number;
  soakScenario: ScenarioName | undefined;
  /** The whole run stops starting steps after this (a safety bound; the report says so). */
  budgetMs: number;
  /** Some preset was overridden: results are written as bench-custom.*, and latest.svg is left alone. */
  custom: boolean;
}

const PRESETS: Record<Mode, Pick<Options, 'ladder' | 'stepMs' | 'warmupMs' | 'openRates' | 'budgetMs'>> = {
  quick: { ladder: [1, 16, 64], stepMs: 6_000, warmupMs: 2_000, openRates: [], budgetMs: 150_000 },
  full: { ladder: [1, 16, 64, 128, 256], stepMs: 20_000, warmupMs: 5_000, openRates: [10, 40], budgetMs: 20 * 60_000 },
  soak: { ladder: [], stepMs: 0, warmupMs: 5_000, openRates: [], budgetMs: 0 },
};

function numbers(text: string | undefined, name: string): number[] | undefined {
  if (text === undefined) return undefined;
  const values = text.split(',').map((s) => Number(s.trim()));
  if (values.length === 0 || values.some((v) => !(v > 0) || !Number.isFinite(v)))
    throw new Error(`--${name} expects positive numbers separated by commas, got "${text}"`);
  return values;
}

function positive(text: string | undefined, name: string, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!(value > 0) || !Number.isFinite(value)) throw new Error(`--${name} expects a positive number, got "${text}"`);
  return value;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      mode: { type: 'string', default: 'quick' },
      profile: { type: 'boolean', default: false },
      scenarios: { type: 'string' },
      ladder: { type: 'string' },
      'step-seconds': { type: 'string' },
      'warmup-seconds': { type: 'string' },
      tokens: { type: 'string' },
      'interval-ms': { type: 'string' },
      'open-rates': { type: 'string' },
      'soak-minutes': { type: 'string' },
      'soak-concurrency': { type: 'string' },
      'soak-scenario': { type: 'string' },
    },
  });
  const mode = values.mode as Mode;
  if (!(mode in PRESETS)) throw new Error(`--mode expects quick, full or soak, got "${values.mode}"`);
  const preset = PRESETS[mode];
  const scenarios = (values.scenarios?.split(',').map((s) => s.trim()) ?? [...ALL_SCENARIOS]) as ScenarioName[];
  for (const s of scenarios)
    if (!ALL_SCENARIOS.includes(s)) throw new Error(`unknown scenario "${s}" (known: ${ALL_SCENARIOS.join(', ')})`);
  const soakScenario = values['soak-scenario'] as ScenarioName | undefined;
  if (soakScenario !== undefined && !ALL_SCENARIOS.includes(soakScenario))
    throw new Error(`unknown --soak-scenario "${soakScenario}"`);
  const ladder = numbers(values.ladder, 'ladder') ?? preset.ladder;
  if (ladder.some((c) => !Number.isInteger(c) || c > 1024)) throw new Error('--ladder expects integers up to 1024');
  return {
    mode,
    profile: values.profile ?? false,
    // The direct baseline always runs: every Δ is measured against it in the same invocation.
    scenarios: ALL_SCENARIOS.filter((s) => s === 'direct' || scenarios.includes(s)),
    ladder: [...ladder].sort((a, b) => a - b),
    stepMs: positive(values['step-seconds'], 'step-seconds', preset.stepMs / 1000) * 1000,
    warmupMs: positive(values['warmup-seconds'], 'warmup-seconds', preset.warmupMs / 1000) * 1000,
    maxTokens: positive(values.tokens, 'tokens', 64),
    intervalMs: positive(values['interval-ms'], 'interval-ms', 20),
    openRates: numbers(values['open-rates'], 'open-rates') ?? preset.openRates,
    soakMinutes: Math.min(positive(values['soak-minutes'], 'soak-minutes', 10), 60),
    soakConcurrency: Math.min(positive(values['soak-concurrency'], 'soak-concurrency', 64), 1024),
    soakScenario,
    budgetMs: preset.budgetMs,
    custom: ['scenarios', 'ladder', 'step-seconds', 'warmup-seconds', 'tokens', 'interval-ms', 'open-rates'].some(
      (k) => values[k as keyof typeof values] !== undefined,
    ),
  };
}

/** The repository root: the nearest folder up from this file with sgt-proxy's package.json. */
function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'sgt-proxy')
      return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('bench: cannot find the sgt-proxy repository root');
    dir = parent;
  }
}

const ROOT = findRoot();
const CLI = join(ROOT, 'dist', 'cli', 'main.js');
const SHIM = join(dirname(fileURLToPath(import.meta.url)), 'peer', 'loopback-shim.js');
const PEER_ENTRY = join(ROOT, 'node_modules', '@portkey-ai', 'gateway', 'build', 'start-server.js');
const RESULTS = join(ROOT, 'bench', 'results');
const LOGS = join(RESULTS, 'logs');
const PROFILES = join(RESULTS, 'profiles');
const CACHE = join(ROOT, '.sgt-proxy', 'bench-cache');

const log = (line: string): void => void process.stderr.write(`[bench] ${line}\n`);

/** The children's environment: this one without any SGP_* setting of the user's, plus the bench's. */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith('SGP_') && !k.startsWith('SG_') && !k.startsWith('NODE_OPTIONS')) env[k] = v;
  return {
    ...env,
    SGP_CACHE_DIR: CACHE,
    // Fixed, so no secret file is written; the bench's transform noise is not a secret.
    SGP_NOISE_SECRET: 'sgt-proxy-bench-noise-secret',
    ...extra,
  };
}

/** Each child logs JSON lines (info) to its own file: the upstream's are joined with client timings. */
function loggingConfig(name: string): { file: string; requests: string } {
  const requests = join(LOGS, `${name}.requests.log`);
  const file = join(LOGS, `${name}.logging.yaml`);
  writeFileSync(file, `level: info\ndestination: ${JSON.stringify(requests)}\n`);
  rmSync(requests, { force: true });
  return { file, requests };
}

interface Upstream {
  child: ManagedChild;
  port: number;
  log: UpstreamLog;
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
  return { child, port, log: new UpstreamLog(logging.requests) };
}

async function startChildLogged(
  name: string,
  spec: { nodeArgs: string[]; env: NodeJS.ProcessEnv; readyUrl: string },
): Promise<ManagedChild> {
  const started = performance.now();
  const child = await startChild({
    name,
    cwd: ROOT,
    outputFile: join(LOGS, `${name}.out.log`),
    readyTimeoutMs: 120_000,
    ...spec,
  });
  log(`${name} ready (pid ${child.pid}) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return child;
}

function profileArgs(name: string, options: Options): string[] {
  return options.profile ? ['--cpu-prof', `--cpu-prof-dir=${PROFILES}`, `--cpu-prof-name=${name}.cpuprofile`] : [];
}

async function startProxy(
  name: string,
  upstream: Upstream,
  decryption: boolean,
  options: Options,
): Promise<{ child: ManagedChild; port: number }> {
  const port = await freePort();
  const logging = loggingConfig(name);
  const child = await startChildLogged(name, {
    nodeArgs: [...profileArgs(name, options), CLI, 'serve'],
    env: childEnv({
      SGP_HOST: LOOPBACK_HOST,
      SGP_PORT: String(port),
      SGP_INFERENCE_SERVICE_HOST: `http://${LOOPBACK_HOST}:${upstream.port}`,
      SGP_OUTPUT_DECRYPTION: String(decryption),
      SGP_LOGGING_CONFIG_FILE: logging.file,
    }),
    readyUrl: `http://${LOOPBACK_HOST}:${port}/readyz`,
  });
  return { child, port };
}

interface Live {
  result: ScenarioResult;
  target: ChatTarget;
  gateway: ManagedChild | null;
  upstream: Upstream;
}

function skipped(name: ScenarioName, path: string, status: 'skipped' | 'failed', reason: string): ScenarioResult {
  log(`${name}: ${status}: ${reason}`);
  return {
    name,
    path,
    status,
    reason,
    steps: [],
    sustainedConcurrency: null,
    gatewayPeakRssMiB: null,
    gatewayRssAfterMiB: null,
    gatewayRssBeforeMiB: null,
  };
}

function newResult(name: ScenarioName, path: string, config: Record<string, unknown>): ScenarioResult {
  return {
    name,
    path,
    status: 'ran',
    config,
    steps: [],
    sustainedConcurrency: null,
    gatewayPeakRssMiB: null,
    gatewayRssAfterMiB: null,
    gatewayRssBeforeMiB: null,
  };
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

/** One short request through a scenario before it is measured: it must work end to end. */
async function probe(live: Live, model: string): Promise<string | null> {
  const agent = new http.Agent({ keepAlive: false });
  try {
    const record = await streamChat({
      target: live.target,
      body: requestBody(model, 8),
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

function requestBody(model: string, maxTokens: number): string {
  return JSON.stringify({ model, messages: [{ role: 'user', content: PROMPT }], max_tokens: maxTokens, stream: true });
}

interface SetUp {
  live: Live[];
  results: ScenarioResult[];
  upstreams: Upstream[];
}

async function setUp(options: Options, wanted: readonly ScenarioName[]): Promise<SetUp & { model: string }> {
  mkdirSync(LOGS, { recursive: true });
  if (options.profile) {
    mkdirSync(PROFILES, { recursive: true });
    for (const f of readdirSync(PROFILES)) if (f.endsWith('.cpuprofile')) rmSync(join(PROFILES, f));
  }
  // First alone: on a fresh clone it builds the demo SGT into the bench cache the others then share.
  const reference = await startReference('reference', [], options);
  const models = (await (await fetch(`http://${LOOPBACK_HOST}:${reference.port}/v1/models`)).json()) as {
    data: Array<{ id: string }>;
  };
  const model = models.data[0]?.id;
  if (model === undefined) throw new Error('the reference server lists no model');
  const upstreams: Upstream[] = [reference];
  const ref = `reference server :${reference.port}`;

  const tasks = new Map<ScenarioName, Promise<Live | ScenarioResult>>();
  const direct = async (): Promise<Live> => ({
    result: newResult('direct', `client → ${ref} (plain-text /v1/chat/completions)`, {}),
    target: { port: reference.port, path: '/v1/chat/completions', headers: {} },
    gateway: null,
    upstream: reference,
  });
  tasks.set('direct', direct());

  if (wanted.includes('proxy-plain')) {
    tasks.set(
      'proxy-plain',
      (async () => {
        const path = `client → sgt-proxy (demo SGT, SGP_OUTPUT_DECRYPTION=false) → ${ref} /v1/completions (prompt_embeds)`;
        try {
          const proxy = await startProxy('proxy-plain', reference, false, options);
          return {
            result: newResult('proxy-plain', path, {
              SGP_OUTPUT_DECRYPTION: false,
              sgt: 'demo SGT (hidden 64, Qwen3 tokenizer)',
            }),
            target: { port: proxy.port, path: '/v1/chat/completions', headers: {} },
            gateway: proxy.child,
            upstream: reference,
          };
        } catch (err) {
          return skipped('proxy-plain', path, 'failed', describeStartError(err));
        }
      })(),
    );
  }

  if (wanted.includes('proxy')) {
    tasks.set(
      'proxy',
      (async () => {
        const path =
          'client → sgt-proxy (demo SGT, SGP_OUTPUT_DECRYPTION=true: decrypts) → reference server --output-protection required';
        let protectedRef: Upstream;
        try {
          protectedRef = await startReference('reference-protected', ['--output-protection', 'required'], options);
        } catch (err) {
          if (err instanceof ChildStartError && /output-protection/i.test(err.output)) {
            return skipped(
              'proxy',
              path,
              'skipped',
              `output protection not available (the reference server rejects --output-protection: "${firstLine(err.output, /output-protection/i)}")`,
            );
          }
          return skipped('proxy', path, 'failed', describeStartError(err));
        }
        upstreams.push(protectedRef);
        try {
          const proxy = await startProxy('proxy', protectedRef, true, options);
          return {
            result: newResult('proxy', path, {
              SGP_OUTPUT_DECRYPTION: true,
              upstream: '--output-protection required',
              sgt: 'demo SGT (hidden 64, Qwen3 tokenizer)',
            }),
            target: { port: proxy.port, path: '/v1/chat/completions', headers: {} },
            gateway: proxy.child,
            upstream: protectedRef,
          };
        } catch (err) {
          return skipped('proxy', path, 'failed', describeStartError(err));
        }
      })(),
    );
  }

  if (wanted.includes('peer')) {
    tasks.set(
      'peer',
      (async () => {
        const path = `client → @portkey-ai/gateway (provider openai, custom host ${ref}/v1) → plain-text /v1/chat/completions`;
        if (!existsSync(PEER_ENTRY))
          return skipped(
            'peer',
            path,
            'skipped',
            '@portkey-ai/gateway is not installed (npm ci installs it as a dev dependency)',
          );
        try {
          const port = await freePort();
          const child = await startChildLogged('peer', {
            nodeArgs: [...profileArgs('peer', options), '--import', SHIM, PEER_ENTRY, `--port=${port}`, '--headless'],
            env: childEnv({ BENCH_LISTEN_HOST: LOOPBACK_HOST }),
            readyUrl: `http://${LOOPBACK_HOST}:${port}/`,
          });
          return {
            result: newResult('peer', path, {
              package: `@portkey-ai/gateway@${peerVersion()}`,
              headers: {
                'x-portkey-provider': 'openai',
                'x-portkey-custom-host': `http://${LOOPBACK_HOST}:${reference.port}/v1`,
                'x-portkey-forward-headers': 'x-request-id',
              },
              preload:
                'bench/peer/loopback-shim.ts (listen on 127.0.0.1; mutable copy of upstream response headers, see its comment)',
            }),
            target: {
              port,
              path: '/v1/chat/completions',
              headers: {
                'x-portkey-provider': 'openai',
                'x-portkey-custom-host': `http://${LOOPBACK_HOST}:${reference.port}/v1`,
                // So the upstream's log line carries our request id and the TTFT split works for the peer too.
                'x-portkey-forward-headers': 'x-request-id',
                authorization: 'Bearer bench-unused-key',
              },
            },
            gateway: child,
            upstream: reference,
          };
        } catch (err) {
          return skipped('peer', path, 'failed', describeStartError(err));
        }
      })(),
    );
  }

  const live: Live[] = [];
  const results: ScenarioResult[] = [];
  for (const name of ALL_SCENARIOS) {
    const task = tasks.get(name);
    if (!task) continue;
    const outcome = await task;
    if ('status' in outcome) {
      results.push(outcome);
      continue;
    }
    const failure = await probe(outcome, model);
    if (failure !== null) {
      results.push(skipped(name, outcome.result.path, 'failed', `probe request failed: ${failure}`));
      await outcome.gateway?.stop();
      continue;
    }
    live.push(outcome);
    results.push(outcome.result);
  }
  return { live, results, upstreams, model };
}

function describeStartError(err: unknown): string {
  if (err instanceof ChildStartError)
    return `${err.reason}: ${err.output.trim().split('\n').slice(-3).join(' | ').slice(0, 400)}`;
  return err instanceof Error ? err.message : String(err);
}

function peerVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(dirname(dirname(PEER_ENTRY)), 'package.json'), 'utf8')) as { version: string })
      .version;
  } catch {
    return '?';
  }
}

interface StepContext {
  options: Options;
  model: string;
  sampler: MemorySampler;
}

async function runStep(live: Live, shape: LoadShape, ctx: StepContext, label: string): Promise<StepSummary> {
  const expectedMs = ctx.options.maxTokens * ctx.options.intervalMs;
  const startedAt = performance.now();
  const prefix = `b-${live.result.name}-${label}-${Math.round(startedAt)}`;
  const load = await runLoad(shape, {
    target: live.target,
    body: requestBody(ctx.model, ctx.options.maxTokens),
    maxTokens: ctx.options.maxTokens,
    timeoutMs: expectedMs * 5 + 10_000,
    requestId: (n) => `${prefix}-${n}`,
  });
  const endedAt = performance.now();
  ctx.sampler.sample();
  const ids = load.records.filter((r) => r.ttftMs !== null).map((r) => r.requestId);
  await live.upstream.log.waitFor(ids, 3_000);
  const stepShape: StepShape =
    shape.kind === 'closed'
      ? { kind: 'closed', concurrency: shape.concurrency }
      : { kind: 'open', ratePerSecond: shape.ratePerSecond };
  const summary = summarizeStep({
    scenario: live.result.name,
    shape: stepShape,
    records: load.records,
    wallMs: load.wallMs,
    dropped: load.dropped,
    pacingMs: ctx.options.intervalMs,
    timings: live.upstream.log.timings,
    gatewayRssPeakKiB: live.gateway ? ctx.sampler.peakRss(live.gateway.name, startedAt, endedAt) : null,
    upstreamRssPeakKiB: ctx.sampler.peakRss(live.upstream.child.name, startedAt, endedAt),
  });
  live.upstream.log.forget(ids);
  const f = (v: number | null): string => (v === null ? '—' : v.toFixed(1));
  log(
    `${live.result.name.padEnd(11)} ${label.padStart(6)}: ${summary.ok}/${summary.requests} ok, ${summary.requestsPerSecond.toFixed(1)} req/s, ` +
      `TTFT p50 ${f(summary.ttft.p50)} p99 ${f(summary.ttft.p99)}, ITL p99 ${f(summary.itl.p99)}, lost ${summary.lostTokens}, stalls ${summary.stalls}`,
  );
  return summary;
}

/**
 * How much CPU went to processes outside the benchmark while it ran: the machine's busy time minus
 * this process's and its children's (a child that exits before the end is counted up to its last
 * reading).
 */
class CpuAccount {
  private readonly machine0 = machineBusySeconds();
  private readonly wall0 = performance.now();
  private readonly self0 = process.cpuUsage();
  private readonly children0 = new Map<number, number>();

  constructor(private readonly children: () => ManagedChild[]) {
    for (const c of children()) this.children0.set(c.pid, processCpuSeconds(c.pid) ?? 0);
  }

  otherShare(): { otherSeconds: number; oursSeconds: number; wallSeconds: number } | null {
    const machine1 = machineBusySeconds();
    if (this.machine0 === null || machine1 === null) return null;
    const self = process.cpuUsage(this.self0);
    let ours = (self.user + self.system) / 1e6;
    for (const c of this.children()) ours += (processCpuSeconds(c.pid) ?? 0) - (this.children0.get(c.pid) ?? 0);
    const wallSeconds = (performance.now() - this.wall0) / 1000;
    return { otherSeconds: Math.max(0, machine1 - this.machine0 - ours), oursSeconds: ours, wallSeconds };
  }
}

/** A scenario whose gateway or upstream died is marked failed (once) and gets no more steps. */
function alive(l: Live): boolean {
  const dead = [l.gateway, l.upstream.child].find((c) => c !== null && !c.running);
  if (!dead) return true;
  if (l.result.status === 'ran') {
    l.result.status = 'failed';
    l.result.reason = `${dead.name} exited during the run; its last output: ${dead.outputTail(400).trim().split('\n').slice(-3).join(' | ')}`;
    log(`${l.result.name}: ${l.result.reason}`);
  }
  return false;
}

function closedShape(concurrency: number, durationMs: number, options: Options): LoadShape {
  const expectedMs = options.maxTokens * options.intervalMs;
  return {
    kind: 'closed',
    concurrency,
    durationMs,
    // Generous but finite: a gateway that answers instantly with errors cannot loop forever.
    maxRequests: concurrency * Math.ceil(durationMs / expectedMs + 1) * 4 + 100,
    rampMs: Math.min(expectedMs, durationMs / 4),
  };
}

function kib(v: number | null | undefined): number | null {
  return v === null || v === undefined ? null : v / 1024;
}

async function benchLadder(options: Options): Promise<void> {
  const started = performance.now();
  const startedAt = new Date().toISOString();
  const { live, results, upstreams, model } = await setUp(options, options.scenarios);
  const children = (): ManagedChild[] => [
    ...upstreams.map((u) => u.child),
    ...live.flatMap((l) => (l.gateway ? [l.gateway] : [])),
  ];
  const sampler = new MemorySampler(children, 250);
  sampler.start();
  const ctx: StepContext = { options, model, sampler };
  const notes: string[] = [];

  log(`warm-up: ${options.warmupMs / 1000} s per scenario at concurrency 4 (not reported)`);
  for (const l of live)
    await runLoad(closedShape(4, options.warmupMs, options), {
      target: l.target,
      body: requestBody(model, options.maxTokens),
      maxTokens: options.maxTokens,
      timeoutMs: 30_000,
      requestId: (n) => `b-warmup-${l.result.name}-${n}`,
    });
  await sleep(500);
  for (const l of live) l.result.gatewayRssBeforeMiB = kib(l.gateway?.memory()?.rssKiB);

  const cpu = new CpuAccount(children);
  const overBudget = (): boolean => performance.now() - started > options.budgetMs;
  // Interleaved: at each load level every scenario runs in turn, so slow drift of the machine hits all alike.
  for (const concurrency of options.ladder) {
    for (const l of live) {
      if (overBudget() || !alive(l)) continue;
      l.result.steps.push(await runStep(l, closedShape(concurrency, options.stepMs, options), ctx, `c${concurrency}`));
      await sleep(500);
    }
  }
  for (const rate of options.openRates) {
    const expectedS = (options.maxTokens * options.intervalMs) / 1000;
    for (const l of live) {
      if (overBudget() || !alive(l)) continue;
      const shape: LoadShape = {
        kind: 'open',
        ratePerSecond: rate,
        durationMs: options.stepMs,
        maxRequests: Math.ceil((rate * options.stepMs) / 1000) * 2 + 10,
        maxInFlight: Math.max(64, Math.ceil(rate * expectedS * 4)),
        seed: 42,
      };
      l.result.steps.push(await runStep(l, shape, ctx, `r${rate}`));
      await sleep(500);
    }
  }
  if (overBudget())
    notes.push(
      `stopped starting steps after the ${options.budgetMs / 1000} s budget of this mode; the table is partial`,
    );

  const other = cpu.otherShare();
  if (other !== null) {
    notes.push(
      `while the steps ran, processes outside this benchmark used ${((other.otherSeconds / other.wallSeconds) * 100).toFixed(0)}% of one core on average ` +
        `(the benchmark's own processes: ${((other.oursSeconds / other.wallSeconds) * 100).toFixed(0)}%)${other.otherSeconds / other.wallSeconds > 0.1 ? ': other work competed for the CPU, expect noise' : ''}`,
    );
  }
  // Memory once the load is over (after the sockets' keep-alive timeouts had a moment).
  await sleep(3_000);
  sampler.sample();
  sampler.stop();
  for (const l of live) {
    l.result.sustainedConcurrency = sustainedConcurrency(l.result.steps);
    const memory = l.gateway?.memory();
    l.result.gatewayRssAfterMiB = kib(memory?.rssKiB);
    l.result.gatewayPeakRssMiB = kib(memory?.hwmKiB);
  }
  const upstreamMemory = upstreams.map((u) => ({ name: u.child.name, ...u.child.memory() }));
  notes.push(
    `reference server(s) at the end: ${upstreamMemory.map((u) => `${u.name} RSS ${fmtMib(u.rssKiB)} MiB, peak ${fmtMib(u.hwmKiB)} MiB`).join('; ')}`,
  );
  notes.push(
    `load generator: this process, ${fmtMib(process.memoryUsage().rss, 'bytes')} MiB RSS; every process shares the machine's ${os.cpus().length} cores`,
  );

  await stopAll(options.profile ? 20_000 : 5_000);
  const meta = machineMeta(options, startedAt, (performance.now() - started) / 1000, notes);
  const text = renderTables(meta, results);
  process.stdout.write(`\n${text}\n`);

  const tag = options.profile ? 'profile' : options.custom ? 'custom' : options.mode;
  mkdirSync(RESULTS, { recursive: true });
  const json = join(RESULTS, `bench-${tag}.json`);
  const directSteps = results.find((r) => r.name === 'direct')?.steps ?? [];
  const withDeltas = results.map((r) => ({
    ...r,
    steps: r.steps.map((step) => ({
      ...step,
      deltaVsDirect: r.name === 'direct' ? null : deltas(step, baselineFor(step, directSteps)),
    })),
  }));
  writeFileSync(json, `${JSON.stringify({ meta, scenarios: withDeltas }, null, 2)}\n`);
  const files = [json];
  if (!options.profile) {
    const svg = chart(meta, results);
    for (const name of options.custom ? [`bench-${tag}.svg`] : [`bench-${tag}.svg`, 'latest.svg']) {
      writeFileSync(join(RESULTS, name), svg);
      files.push(join(RESULTS, name));
    }
  }
  log(`wrote ${files.map((f) => f.slice(ROOT.length + 1)).join(', ')}; child logs in ${LOGS.slice(ROOT.length + 1)}/`);
  if (options.profile) printProfiles();
}

function fmtMib(bytesOrKib: number | undefined | null, unit: 'kib' | 'bytes' = 'kib'): string {
  if (bytesOrKib === undefined || bytesOrKib === null) return '—';
  return (unit === 'kib' ? bytesOrKib / 1024 : bytesOrKib / 1024 / 1024).toFixed(0);
}

function printProfiles(): void {
  const files = existsSync(PROFILES) ? readdirSync(PROFILES).filter((f) => f.endsWith('.cpuprofile')) : [];
  if (files.length === 0) {
    log('no .cpuprofile was written (a gateway did not exit cleanly?)');
    return;
  }
  for (const f of files.sort()) {
    const summary = summarizeProfile(join(PROFILES, f), ROOT);
    const text = renderProfile(`CPU profile ${f}`, summary);
    process.stdout.write(`\n${text}\n`);
    writeFileSync(join(PROFILES, `${f.replace(/\.cpuprofile$/, '')}.summary.txt`), `${text}\n`);
  }
}

function chart(meta: BenchMeta, results: readonly ScenarioResult[]): string {
  const ran = results.filter((r) => r.steps.length > 0);
  const series = (metric: (s: StepSummary) => number | null): Series[] =>
    ran.map((r) => ({
      name: r.name,
      points: r.steps
        .filter((s) => s.shape.kind === 'closed')
        .map((s) => [s.shape.concurrency ?? 0, metric(s)] as const),
    }));
  const skippedNames = results
    .filter((r) => r.status !== 'ran')
    .map(
      (r) =>
        `${r.name}: ${r.status}${r.status === 'skipped' && r.name === 'proxy' ? ' (no output protection yet)' : ''}`,
    );
  return renderChart({
    title: `sgt-proxy bench (${meta.mode}): latency vs concurrency, side by side`,
    subtitle:
      `${meta.startedAt.slice(0, 10)} · ${meta.cpus} × ${meta.cpuModel} · Node ${meta.node} · paced upstream ${meta.pacing.maxTokens} tokens / ${meta.pacing.tokenIntervalMs} ms · ` +
      `${meta.stepDurationS} s per step${skippedNames.length ? ` · ${skippedNames.join(', ')}` : ''}`,
    xLabel: 'concurrent streaming clients (closed loop, log scale)',
    xTicks: meta.ladder,
    colors: COLORS,
    panels: [
      { title: 'TTFT p50', yLabel: 'ms', series: series((s) => s.ttft.p50) },
      { title: 'TTFT p99', yLabel: 'ms', series: series((s) => s.ttft.p99) },
      { title: 'inter-token latency p50', yLabel: 'ms', series: series((s) => s.itl.p50) },
      { title: 'inter-token latency p99', yLabel: 'ms', series: series((s) => s.itl.p99) },
    ],
  });
}

function git(args: string[]): string | null {
  try {
    return execFileSync('git', args, {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 5_000,
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return null;
  }
}

function machineMeta(options: Options, startedAt: string, durationS: number, notes: string[]): BenchMeta {
  const status = git(['status', '--porcelain']);
  return {
    mode: options.profile ? `${options.mode}, profiled (--cpu-prof: timings are inflated)` : options.mode,
    startedAt,
    durationS: Math.round(durationS),
    node: process.version,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model.trim() ?? '?',
    memoryGiB: os.totalmem() / 1024 ** 3,
    loadAverageAtStart: os.loadavg(),
    commit: git(['rev-parse', '--short', 'HEAD']),
    workingTreeDirty: status === null ? null : status.length > 0,
    pacing: { maxTokens: options.maxTokens, tokenIntervalMs: options.intervalMs },
    stepDurationS: options.stepMs / 1000,
    warmupS: options.warmupMs / 1000,
    ladder: options.ladder,
    openLoopRates: options.openRates,
    percentileMethod: 'linear interpolation between closest ranks (numpy default, type 7)',
    notes,
  };
}

/** 10 minutes (by default) at a fixed concurrency against one gateway; RSS every 5 s; growth flagged. */
async function soak(options: Options): Promise<void> {
  const started = performance.now();
  const startedAt = new Date().toISOString();
  const preferred: ScenarioName[] = options.soakScenario ? [options.soakScenario] : ['proxy', 'proxy-plain'];
  const { live, results, upstreams, model } = await setUp(options, preferred);
  const target =
    options.soakScenario === 'direct'
      ? live.find((l) => l.result.name === 'direct')
      : live.find((l) => l.result.name !== 'direct' && preferred.includes(l.result.name));
  if (!target)
    throw new Error(
      `soak: no scenario of ${preferred.join(', ')} could run: ${results.map((r) => `${r.name} ${r.status} ${r.reason ?? ''}`).join('; ')}`,
    );
  const notes = results.filter((r) => r.status !== 'ran').map((r) => `${r.name} ${r.status}: ${r.reason}`);
  const children = (): ManagedChild[] => [
    ...upstreams.map((u) => u.child),
    ...(target.gateway ? [target.gateway] : []),
  ];
  const sampler = new MemorySampler(children, 5_000);
  log(
    `soak: ${target.result.name}, ${options.soakConcurrency} clients, ${options.soakMinutes} min (warm-up ${options.warmupMs / 1000} s first)`,
  );
  await runLoad(closedShape(4, options.warmupMs, options), {
    target: target.target,
    body: requestBody(model, options.maxTokens),
    maxTokens: options.maxTokens,
    timeoutMs: 30_000,
    requestId: (n) => `b-warmup-${n}`,
  });

  const durationMs = options.soakMinutes * 60_000;
  const windowMs = Math.max(5_000, Math.min(30_000, durationMs / 10));
  const windows: Array<StepSummary & { tS: number }> = [];
  let buffer: RequestRecord[] = [];
  let windowStart = performance.now();
  const soakStart = windowStart;
  const flush = async (): Promise<void> => {
    const records = buffer;
    buffer = [];
    const now = performance.now();
    const ids = records.filter((r) => r.ttftMs !== null).map((r) => r.requestId);
    await target.upstream.log.waitFor(ids, 1_000);
    windows.push({
      tS: (now - soakStart) / 1000,
      ...summarizeStep({
        scenario: target.result.name,
        shape: { kind: 'closed', concurrency: options.soakConcurrency },
        records,
        wallMs: now - windowStart,
        dropped: 0,
        pacingMs: options.intervalMs,
        timings: target.upstream.log.timings,
        gatewayRssPeakKiB: target.gateway ? sampler.peakRss(target.gateway.name, windowStart, now) : null,
        upstreamRssPeakKiB: sampler.peakRss(target.upstream.child.name, windowStart, now),
      }),
    });
    target.upstream.log.forget(ids);
    const w = windows.at(-1)!;
    log(
      `soak t=${w.tS.toFixed(0)} s: ${w.ok}/${w.requests} ok, TTFT p99 ${w.ttft.p99?.toFixed(1)}, ITL p99 ${w.itl.p99?.toFixed(1)}, RSS ${w.gatewayRssPeakMiB?.toFixed(0)} MiB, lost ${w.lostTokens}`,
    );
    windowStart = now;
  };
  sampler.start();
  let flushing = Promise.resolve();
  const windowTimer = setInterval(() => {
    flushing = flushing.then(flush);
  }, windowMs);
  const load = await runLoad(
    {
      ...closedShape(options.soakConcurrency, durationMs, options),
      maxRequests: options.soakConcurrency * Math.ceil(durationMs / (options.maxTokens * options.intervalMs) + 1) * 4,
    },
    {
      target: target.target,
      body: requestBody(model, options.maxTokens),
      maxTokens: options.maxTokens,
      timeoutMs: options.maxTokens * options.intervalMs * 5 + 10_000,
      requestId: (n) => `b-soak-${n}`,
      onRecord: (r) => void buffer.push(r),
    },
  );
  clearInterval(windowTimer);
  await flushing;
  if (buffer.length > 0) await flush();
  await sleep(3_000);
  sampler.sample();
  sampler.stop();

  const name = target.gateway?.name ?? target.upstream.child.name;
  const seriesOf = (child: string): Array<{ tS: number; rssMiB: number; hwmMiB: number }> =>
    (sampler.series.get(child) ?? []).map((s) => ({
      tS: (s.tMs - soakStart) / 1000,
      rssMiB: s.rssKiB / 1024,
      hwmMiB: s.hwmKiB / 1024,
    }));
  const series = seriesOf(name);
  const growth = rssGrowth(series);
  // The upstream's memory over the same load, for comparison (a pattern both show is not the gateway's own).
  const upstreamSeries = target.gateway ? seriesOf(target.upstream.child.name) : [];
  const upstreamGrowth = target.gateway ? rssGrowth(upstreamSeries) : null;
  const after = target.gateway?.memory() ?? target.upstream.child.memory();
  await stopAll();

  const totals = windows.reduce(
    (a, w) => ({
      requests: a.requests + w.requests,
      ok: a.ok + w.ok,
      lost: a.lost + w.lostTokens,
      dup: a.dup + w.duplicatedTokens,
      stalls: a.stalls + w.stalls,
    }),
    { requests: 0, ok: 0, lost: 0, dup: 0, stalls: 0 },
  );
  const lines = [
    `sgt-proxy soak: ${target.result.name}, ${options.soakConcurrency} clients, ${options.soakMinutes} min, paced ${options.maxTokens} tokens / ${options.intervalMs} ms (${startedAt})`,
    `  requests ${totals.ok}/${totals.requests} ok in ${(load.wallMs / 1000).toFixed(0)} s; lost ${totals.lost}, duplicated ${totals.dup}, stalls ${totals.stalls}`,
    `  ${name} RSS: whole run ${growth.startMiB?.toFixed(1)} → ${growth.endMiB?.toFixed(1)} MiB (medians of the first/last 10% of samples after the first minute); ` +
      `second half ${growth.levelStartMiB?.toFixed(1)} → ${growth.levelEndMiB?.toFixed(1)} MiB, slope ${growth.slopeMiBPerMin?.toFixed(2)} MiB/min; ` +
      `peak (VmHWM) ${fmtMib(after?.hwmKiB)} MiB, after the load ${fmtMib(after?.rssKiB)} MiB`,
    `  growth: ${growth.flagged ? `FLAGGED — ${growth.reason}` : `none flagged (${growth.reason})`}`,
    ...(upstreamGrowth
      ? [
          `  for comparison, ${target.upstream.child.name} RSS: ${upstreamGrowth.startMiB?.toFixed(1)} → ${upstreamGrowth.endMiB?.toFixed(1)} MiB, slope ${upstreamGrowth.slopeMiBPerMin?.toFixed(2)} MiB/min${upstreamGrowth.flagged ? ' (also grows)' : ''}`,
        ]
      : []),
    '',
    '     t s   ok/req   TTFT p50 / p99   ITL p50 / p99   lost  stalls  RSS MiB',
    ...windows.map(
      (w) =>
        `  ${w.tS.toFixed(0).padStart(6)}  ${`${w.ok}/${w.requests}`.padStart(7)}  ${`${w.ttft.p50?.toFixed(1)} / ${w.ttft.p99?.toFixed(1)}`.padStart(15)}  ${`${w.itl.p50?.toFixed(1)} / ${w.itl.p99?.toFixed(1)}`.padStart(14)}  ${String(w.lostTokens).padStart(5)}  ${String(w.stalls).padStart(6)}  ${w.gatewayRssPeakMiB?.toFixed(0).padStart(7)}`,
    ),
    ...notes.map((n) => `note: ${n}`),
  ];
  process.stdout.write(`\n${lines.join('\n')}\n`);
  mkdirSync(RESULTS, { recursive: true });
  const meta = machineMeta(options, startedAt, (performance.now() - started) / 1000, notes);
  writeFileSync(
    join(RESULTS, 'bench-soak.json'),
    `${JSON.stringify({ meta, scenario: target.result.name, concurrency: options.soakConcurrency, growth, rss: series, upstream: { name: target.upstream.child.name, growth: upstreamGrowth, rss: upstreamSeries }, windows }, null, 2)}\n`,
  );
  log(`wrote bench/results/bench-soak.json`);
  // The soak's own check: memory that still climbs in the second half, or a token lost, fails the run.
  if (growth.flagged || totals.lost > 0 || totals.dup > 0) process.exitCode = 1;
}

async function main(): Promise<void> {
  installCleanup();
  const options = parseOptions(process.argv.slice(2));
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first (npm run bench does)`);
  mkdirSync(LOGS, { recursive: true });
  if (options.mode === 'soak') await soak(options);
  else await benchLadder(options);
}

main().catch(async (err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  await stopAll(2_000);
  process.exitCode = 1;
});
