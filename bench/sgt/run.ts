/**
 * SGT engine benchmark: where a prompt's time goes (template + tokenize, noise, ONNX transform,
 * bf16 prompt_embeds encoding with base64), what batching buys, and micro-batched vs
 * one-call-per-request under concurrent load, side by side in the same run. Prints tables and
 * writes bench/results/sgt-<timestamp>.json.
 *
 *   npm run bench:sgt                  # default run, ~3 minutes on 2 cores
 *   npm run bench:sgt -- --quick       # smoke run, well under a minute
 *
 * Artifacts (cached in .sgt-proxy/bench-artifacts, rebuilt when the builder version changes):
 * H 256 with the full Qwen3 vocabulary, and the Mistral-7B-shaped H 4096 × V 32 000.
 */
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseArgs } from 'node:util';
import { encodePromptEmbeds } from '../../src/embeds/index.js';
import {
  NoiseKeys,
  loadSgt,
  noiseFor,
  type BatchPadding,
  type LoadSgtOptions,
  type Sgt,
  type TransformResult,
} from '../../src/sgt/index.js';
import type { ArtifactStats } from './build-artifact.js';
import { distribution, round, rounded, table, type Distribution } from './stats.js';
import { PromptFactory, mixedLengths, readFixture, type BenchPrompt, type FixturePrompt } from './workload.js';

/** The product's default noise: keyed, prefix-derived (docs/privacy.md). */
// Bound to a fixed label rather than each artifact's fingerprint: the cost is the same.
const NOISE_KEY = new NoiseKeys(new TextEncoder().encode('sgt-proxy-bench-noise-secret'), 'bench').forRequest('prefix');

const ARTIFACTS_DIR = join('.sgt-proxy', 'bench-artifacts');

interface ArtifactSpec {
  readonly name: string;
  readonly hidden: number;
  readonly vocab?: number;
}

const ARTIFACTS: readonly ArtifactSpec[] = [
  { name: 'h256', hidden: 256 },
  { name: 'h4096-v32000', hidden: 4096, vocab: 32_000 },
];

/** How much of everything to run; the default is sized for ~3 minutes on 2 cores. */
interface Plan {
  readonly stages: Readonly<Record<string, readonly { tokens: number; iterations: number }[]>>;
  readonly batches: Readonly<
    Record<string, readonly { tokens: number; sizes: readonly number[]; iterations: number }[]>
  >;
  readonly load: Readonly<Record<string, readonly LoadSpec[]>>;
}

interface LoadSpec {
  readonly label: string;
  /** Fixed length, or [min, max] log-uniform. */
  readonly tokens: number | readonly [number, number];
  readonly clients: readonly number[];
  /** Requests per round: max(minRequests, clients × perClient). */
  readonly perClient: number;
  readonly minRequests: number;
  /**
   * Each config runs this many times, interleaved (A B C A B C …): tokens/s is the median over
   * rounds, latencies are pooled. On a shared 2-core machine one run alone can be off by 30%.
   */
  readonly rounds: number;
  /** Compare padding policies too (mixed lengths only). */
  readonly padding: boolean;
  /** Also run batches of 16 whatever their size (what the default CPU token budget avoids). */
  readonly forcedBudget: boolean;
}

const DEFAULT_PLAN: Plan = {
  stages: {
    h256: [
      { tokens: 128, iterations: 30 },
      { tokens: 512, iterations: 20 },
      { tokens: 2048, iterations: 10 },
    ],
    'h4096-v32000': [
      { tokens: 128, iterations: 10 },
      { tokens: 512, iterations: 8 },
      { tokens: 2048, iterations: 3 },
    ],
  },
  batches: {
    h256: [
      { tokens: 128, sizes: [1, 2, 4, 8, 16], iterations: 10 },
      { tokens: 512, sizes: [1, 2, 4, 8, 16], iterations: 5 },
      { tokens: 2048, sizes: [1, 2, 4, 8], iterations: 3 },
    ],
    'h4096-v32000': [
      { tokens: 128, sizes: [1, 2, 4, 8, 16], iterations: 2 },
      { tokens: 512, sizes: [1, 2, 4], iterations: 1 },
      { tokens: 2048, sizes: [1, 2], iterations: 1 },
    ],
  },
  load: {
    h256: [
      {
        label: 'T=128',
        tokens: 128,
        clients: [1, 16, 64],
        perClient: 4,
        minRequests: 384,
        rounds: 3,
        padding: false,
        forcedBudget: true,
      },
      {
        label: 'T=16..2048',
        tokens: [16, 2048],
        clients: [64],
        perClient: 4,
        minRequests: 256,
        rounds: 3,
        padding: true,
        forcedBudget: false,
      },
    ],
    'h4096-v32000': [
      {
        label: 'T=128',
        tokens: 128,
        clients: [1, 16, 64],
        perClient: 1,
        minRequests: 16,
        rounds: 2,
        padding: false,
        forcedBudget: true,
      },
      {
        label: 'T=16..512',
        tokens: [16, 512],
        clients: [64],
        perClient: 1,
        minRequests: 64,
        rounds: 2,
        padding: true,
        forcedBudget: false,
      },
    ],
  },
};

const QUICK_PLAN: Plan = {
  stages: {
    h256: [
      { tokens: 128, iterations: 5 },
      { tokens: 512, iterations: 3 },
    ],
    'h4096-v32000': [
      { tokens: 128, iterations: 2 },
      { tokens: 512, iterations: 2 },
    ],
  },
  batches: {
    h256: [{ tokens: 128, sizes: [1, 4, 16], iterations: 2 }],
    'h4096-v32000': [{ tokens: 128, sizes: [1, 4], iterations: 1 }],
  },
  load: {
    h256: [
      {
        label: 'T=128',
        tokens: 128,
        clients: [1, 16],
        perClient: 4,
        minRequests: 64,
        rounds: 1,
        padding: false,
        forcedBudget: false,
      },
      {
        label: 'T=16..2048',
        tokens: [16, 2048],
        clients: [16],
        perClient: 2,
        minRequests: 32,
        rounds: 1,
        padding: true,
        forcedBudget: false,
      },
    ],
    'h4096-v32000': [
      {
        label: 'T=128',
        tokens: 128,
        clients: [16],
        perClient: 1,
        minRequests: 16,
        rounds: 1,
        padding: false,
        forcedBudget: false,
      },
    ],
  },
};

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { quick: { type: 'boolean', default: false }, out: { type: 'string', default: join('bench', 'results') } },
  });
  const quick = values.quick === true;
  const plan = quick ? QUICK_PLAN : DEFAULT_PLAN;
  const started = performance.now();
  const fixture = await readFixture();
  const report: Record<string, unknown> = {
    benchmark: 'sgt',
    mode: quick ? 'quick' : 'default',
    startedAt: new Date().toISOString(),
    machine: {
      cpus: availableParallelism(),
      cpuModel: cpus()[0]?.model ?? 'unknown',
      memoryGiB: round(totalmem() / 2 ** 30, 1),
      node: process.version,
      loadAverageAtStart: loadavg().map((x) => round(x, 2)),
    },
  };
  const artifacts: Record<string, ArtifactStats> = {};
  const results: Record<string, unknown> = {};
  for (const spec of ARTIFACTS) {
    const stats = await prepareArtifact(spec);
    artifacts[spec.name] = stats;
    console.log(
      `\n== ${spec.name}: H ${stats.hidden}, V ${stats.vocab}; ${stats.totalMiB} MiB on disk, built in ${stats.buildSeconds} s (peak RSS ${stats.buildPeakRssMiB} MiB${stats.builtNow ? '' : ', earlier run'}), loads in ${stats.loadSeconds} s`,
    );
    results[spec.name] = await benchArtifact(spec, stats.dir, plan, fixture);
  }
  report['artifacts'] = artifacts;
  report['results'] = results;
  report['durationSeconds'] = round((performance.now() - started) / 1000, 1);
  report['loadAverageAtEnd'] = loadavg().map((x) => round(x, 2));
  await mkdir(values.out as string, { recursive: true });
  const file = join(values.out as string, `sgt-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nwrote ${file} (${report['durationSeconds']} s)`);
}

async function prepareArtifact(spec: ArtifactSpec): Promise<ArtifactStats> {
  const out = join(ARTIFACTS_DIR, spec.name);
  await mkdir(ARTIFACTS_DIR, { recursive: true });
  const script = fileURLToPath(new URL('./build-artifact.js', import.meta.url));
  const args = [
    script,
    '--out',
    out,
    '--hidden',
    String(spec.hidden),
    ...(spec.vocab === undefined ? [] : ['--vocab', String(spec.vocab)]),
  ];
  const { stdout } = await promisify(execFile)(process.execPath, args, { maxBuffer: 1 << 20 });
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as ArtifactStats;
}

async function benchArtifact(
  spec: ArtifactSpec,
  dir: string,
  plan: Plan,
  fixture: readonly FixturePrompt[],
): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  const unbatched = await loadSgt(dir, { maxBatchSize: 1 });
  try {
    const prompts = new PromptFactory(unbatched, fixture);
    out['stages'] = await benchStages(unbatched, prompts, plan.stages[spec.name] ?? []);
  } finally {
    await unbatched.close();
  }
  out['batchSizes'] = await benchBatchSizes(dir, plan.batches[spec.name] ?? [], fixture);
  out['load'] = await benchLoad(dir, plan.load[spec.name] ?? [], fixture);
  return out;
}

// ---------------------------------------------------------------------------------------------
// 1. Stages of one request, run alone.

interface StageResult {
  tokens: number;
  iterations: number;
  /** Milliseconds per request. */
  tokenizeMs: Distribution;
  noiseGeneratorMs: Distribution;
  transformNoiseMs: Distribution;
  onnxRunMs: Distribution;
  encodeMs: Distribution;
  /** Tokens per second of each stage alone (iterations × T / total time of the stage). */
  tokensPerSecond: Record<string, number>;
  /** Median of noise / (noise + ONNX run) inside transform. */
  noiseShareOfTransform: number;
  promptEmbedsBase64Bytes: number;
}

async function benchStages(
  sgt: Sgt,
  prompts: PromptFactory,
  specs: readonly { tokens: number; iterations: number }[],
): Promise<StageResult[]> {
  const hidden = sgt.metadata.hiddenSize;
  const results: StageResult[] = [];
  for (const { tokens, iterations } of specs) {
    const samples = {
      tokenize: [] as number[],
      generator: [] as number[],
      noise: [] as number[],
      run: [] as number[],
      encode: [] as number[],
      share: [] as number[],
    };
    let base64Bytes = 0;
    // One warm-up request (JIT, ORT's first-run allocations) that is not counted.
    for (let i = -1; i < iterations; i++) {
      const prompt = prompts.make(tokens, i + 1);
      let t0 = performance.now();
      sgt.tokenize(sgt.renderPrompt(prompt.messages));
      const tokenizeMs = performance.now() - t0;
      t0 = performance.now();
      noiseFor(prompt.ids, hidden, NOISE_KEY);
      const generatorMs = performance.now() - t0;
      const result = await sgt.transform(prompt.ids, { noise: NOISE_KEY });
      t0 = performance.now();
      const encoded = encodePromptEmbeds(result.embeds, [result.tokens, result.hidden], 'bfloat16');
      const encodeMs = performance.now() - t0;
      if (i < 0) continue;
      const timing = result.timing;
      samples.tokenize.push(tokenizeMs);
      samples.generator.push(generatorMs);
      samples.noise.push(timing?.noiseMs ?? Number.NaN);
      samples.run.push(timing?.runMs ?? Number.NaN);
      samples.encode.push(encodeMs);
      samples.share.push((timing?.noiseMs ?? 0) / ((timing?.noiseMs ?? 0) + (timing?.runMs ?? 1)));
      base64Bytes = encoded.length;
    }
    const rate = (ms: number[]): number => round((tokens * ms.length) / (ms.reduce((a, b) => a + b, 0) / 1000), 0);
    results.push({
      tokens,
      iterations,
      tokenizeMs: rounded(distribution(samples.tokenize)),
      noiseGeneratorMs: rounded(distribution(samples.generator)),
      transformNoiseMs: rounded(distribution(samples.noise)),
      onnxRunMs: rounded(distribution(samples.run)),
      encodeMs: rounded(distribution(samples.encode)),
      tokensPerSecond: {
        tokenize: rate(samples.tokenize),
        noise: rate(samples.noise),
        onnx: rate(samples.run),
        encode: rate(samples.encode),
      },
      noiseShareOfTransform: round(distribution(samples.share).p50, 3),
      promptEmbedsBase64Bytes: base64Bytes,
    });
  }
  console.log(`\nstages of one request (alone), ms p50 / p90 / p99; noise share = noise / (noise + ONNX run), median:`);
  const cell = (d: Distribution): string => `${fmt(d.p50)} / ${fmt(d.p90)} / ${fmt(d.p99)}`;
  console.log(
    table(
      [
        'T',
        'n',
        'template+tokenize',
        'noise (in transform)',
        'noise gen alone',
        'ONNX run',
        'encode bf16+base64',
        'noise share',
        'ONNX tok/s',
      ],
      results.map((r) => [
        r.tokens,
        r.iterations,
        cell(r.tokenizeMs),
        cell(r.transformNoiseMs),
        cell(r.noiseGeneratorMs),
        cell(r.onnxRunMs),
        cell(r.encodeMs),
        `${(r.noiseShareOfTransform * 100).toFixed(1)}%`,
        r.tokensPerSecond['onnx'] ?? 0,
      ]),
    ),
  );
  return results;
}

// ---------------------------------------------------------------------------------------------
// 2. One ONNX Runtime call of B requests of T tokens.

interface BatchSizeResult {
  tokens: number;
  batchSize: number;
  iterations: number;
  /** Whole batch, ms. */
  runMs: Distribution;
  noiseMs: Distribution;
  /** Real tokens per second of noise + run. */
  tokensPerSecond: number;
  /** Throughput relative to B = 1 at the same T. */
  speedup: number;
}

async function benchBatchSizes(
  dir: string,
  specs: readonly { tokens: number; sizes: readonly number[]; iterations: number }[],
  fixture: readonly FixturePrompt[],
): Promise<BatchSizeResult[]> {
  const results: BatchSizeResult[] = [];
  const maxSize = Math.max(1, ...specs.flatMap((s) => s.sizes));
  const maxTokens = Math.max(1, ...specs.map((s) => s.tokens * Math.max(...s.sizes)));
  // B requests submitted in the same tick are all waiting when the 5 ms batch timer fires: one call.
  const sgt = await loadSgt(dir, { maxBatchSize: maxSize, maxBatchTokens: maxTokens, maxBatchWaitMs: 5 });
  try {
    const prompts = new PromptFactory(sgt, fixture);
    for (const { tokens, sizes, iterations } of specs) {
      let single = 0;
      await sgt.transform(prompts.make(tokens, 0).ids); // warm-up at this length, not counted
      for (const size of sizes) {
        const run: number[] = [];
        const noise: number[] = [];
        for (let i = 0; i < iterations; i++) {
          const batch = Array.from({ length: size }, (_, k) => prompts.make(tokens, k + 17 * (i + 2)));
          const outs = await Promise.all(batch.map((p) => sgt.transform(p.ids, { noise: NOISE_KEY })));
          const timing = outs[0]?.timing;
          if (timing === undefined || timing.batchSize !== size)
            throw new Error(`expected one batch of ${size}, got ${timing?.batchSize}`);
          run.push(timing.runMs);
          noise.push(timing.noiseMs);
        }
        const perBatch = (run.reduce((a, b) => a + b, 0) + noise.reduce((a, b) => a + b, 0)) / run.length;
        const tokensPerSecond = round((size * tokens) / (perBatch / 1000), 0);
        if (size === 1) single = tokensPerSecond;
        results.push({
          tokens,
          batchSize: size,
          iterations,
          runMs: rounded(distribution(run)),
          noiseMs: rounded(distribution(noise)),
          tokensPerSecond,
          speedup: single > 0 ? round(tokensPerSecond / single, 2) : Number.NaN,
        });
      }
    }
  } finally {
    await sgt.close();
  }
  console.log(`\none ONNX Runtime call of B requests × T tokens:`);
  console.log(
    table(
      ['T', 'B', 'n', 'run ms p50', 'noise ms p50', 'tokens/s', 'vs B=1'],
      results.map((r) => [
        r.tokens,
        r.batchSize,
        r.iterations,
        r.runMs.p50,
        r.noiseMs.p50,
        r.tokensPerSecond,
        `${r.speedup.toFixed(2)}x`,
      ]),
    ),
  );
  return results;
}

// ---------------------------------------------------------------------------------------------
// 3. Closed-loop load: C clients, each template → tokenize → transform → encode, again and again.

interface LoadResult {
  workload: string;
  clients: number;
  config: string;
  /** Requests per round. */
  requests: number;
  rounds: number;
  tokens: number;
  seconds: number;
  /** Median over rounds. */
  tokensPerSecond: number;
  tokensPerSecondRounds: number[];
  requestsPerSecond: number;
  /** End-to-end per request (template → encode), ms. */
  latencyMs: Distribution;
  /** The transform call alone (queue + noise + run), ms. */
  transformMs: Distribution;
  meanBatchSize: number;
  /** Padding / all positions of the ONNX calls. */
  paddingShare: number;
}

interface Config {
  readonly name: string;
  readonly options: LoadSgtOptions;
}

function configsFor(spec: LoadSpec, clients: number): Config[] {
  const configs: Config[] = [{ name: 'one call per request', options: { maxBatchSize: 1 } }];
  if (spec.padding) {
    for (const padding of ['buckets', 'longest'] as BatchPadding[])
      configs.push({ name: `batched, ${padding}`, options: { batchPadding: padding } });
  } else {
    configs.push({ name: 'batched (defaults)', options: {} });
    // What the default token budget avoids on CPU: batches of up to 16 whatever their size.
    if (spec.forcedBudget && clients > 1 && typeof spec.tokens === 'number')
      configs.push({ name: 'batched, 16 × T budget', options: { maxBatchTokens: 16 * spec.tokens } });
  }
  return configs;
}

async function benchLoad(
  dir: string,
  specs: readonly LoadSpec[],
  fixture: readonly FixturePrompt[],
): Promise<LoadResult[]> {
  const results: LoadResult[] = [];
  for (const spec of specs) {
    for (const clients of spec.clients) {
      const count = Math.max(spec.minRequests, clients * spec.perClient);
      const configs = configsFor(spec, clients);
      const sgts = await Promise.all(
        configs.map((c) => loadSgt(dir, { ...c.options, maxQueuedRequests: Math.max(256, clients) })),
      );
      try {
        const prompts = new PromptFactory(sgts[0] as Sgt, fixture);
        const lengths =
          typeof spec.tokens === 'number'
            ? new Array<number>(count).fill(spec.tokens)
            : mixedLengths(count, spec.tokens[0], spec.tokens[1]);
        const requests = lengths.map((t, i) => prompts.make(t, i));
        // Warm-up: one request alone on each (first-run allocations are not what is measured).
        for (const sgt of sgts) await sgt.transform(requests[0]?.ids ?? [1]);
        const rounds: RoundResult[][] = configs.map(() => []);
        for (let round = 0; round < spec.rounds; round++) {
          for (const [i, sgt] of sgts.entries()) rounds[i]?.push(await runClients(sgt, requests, clients));
        }
        configs.forEach((config, i) =>
          results.push(summarize(spec.label, clients, config.name, requests.length, rounds[i] ?? [])),
        );
      } finally {
        await Promise.all(sgts.map((s) => s.close()));
      }
    }
  }
  console.log(
    `\nclosed-loop load: C clients, each template → tokenize → transform → encode (bf16, base64); tokens/s: median of rounds:`,
  );
  console.log(
    table(
      [
        'workload',
        'C',
        'config',
        'req×rounds',
        'tokens/s',
        'e2e ms p50',
        'p90',
        'p99',
        'transform p50',
        'mean B',
        'padding',
      ],
      results.map((r) => [
        r.workload,
        r.clients,
        r.config,
        `${r.requests}×${r.rounds}`,
        r.tokensPerSecond,
        r.latencyMs.p50,
        r.latencyMs.p90,
        r.latencyMs.p99,
        r.transformMs.p50,
        r.meanBatchSize,
        `${(r.paddingShare * 100).toFixed(0)}%`,
      ]),
    ),
  );
  return results;
}

interface RoundResult {
  readonly seconds: number;
  readonly tokens: number;
  readonly latency: number[];
  readonly transform: number[];
  readonly calls: number;
  readonly paddedTokens: number;
}

function summarize(
  workload: string,
  clients: number,
  config: string,
  requests: number,
  rounds: readonly RoundResult[],
): LoadResult {
  const rates = rounds.map((r) => r.tokens / r.seconds);
  const tokens = rounds.reduce((n, r) => n + r.tokens, 0);
  const calls = rounds.reduce((n, r) => n + r.calls, 0);
  const padded = rounds.reduce((n, r) => n + r.paddedTokens, 0);
  const seconds = rounds.reduce((n, r) => n + r.seconds, 0);
  return {
    workload,
    clients,
    config,
    requests,
    rounds: rounds.length,
    tokens,
    seconds: round(seconds, 2),
    tokensPerSecond: round(distribution(rates).p50, 0),
    tokensPerSecondRounds: rates.map((r) => round(r, 0)),
    requestsPerSecond: round((requests * rounds.length) / seconds, 2),
    latencyMs: rounded(distribution(rounds.flatMap((r) => r.latency)), 1),
    transformMs: rounded(distribution(rounds.flatMap((r) => r.transform)), 1),
    meanBatchSize: round((requests * rounds.length) / Math.max(calls, 1e-9), 2),
    paddingShare: round(padded > 0 ? 1 - tokens / padded : 0, 3),
  };
}

async function runClients(sgt: Sgt, requests: readonly BenchPrompt[], clients: number): Promise<RoundResult> {
  let next = 0;
  const latency: number[] = [];
  const transform: number[] = [];
  const timings: TransformResult['timing'][] = [];
  let tokens = 0;
  const started = performance.now();
  const client = async (): Promise<void> => {
    for (;;) {
      const index = next++;
      const request = requests[index];
      if (request === undefined) return;
      const t0 = performance.now();
      // Template + tokenize for the cost; the ids used are the exact-length ones.
      sgt.tokenize(sgt.renderPrompt(request.messages));
      const t1 = performance.now();
      const result = await sgt.transform(request.ids, { noise: NOISE_KEY });
      const t2 = performance.now();
      encodePromptEmbeds(result.embeds, [result.tokens, result.hidden], 'bfloat16');
      latency.push(performance.now() - t0);
      transform.push(t2 - t1);
      timings.push(result.timing);
      tokens += result.tokens;
    }
  };
  await Promise.all(Array.from({ length: clients }, client));
  const seconds = (performance.now() - started) / 1000;
  // Each batch is seen once per member: weight by 1/B to count calls.
  let calls = 0;
  let paddedTokens = 0;
  for (const t of timings) {
    if (t === undefined) continue;
    calls += 1 / t.batchSize;
    paddedTokens += t.paddedTokens / t.batchSize;
  }
  return { seconds, tokens, latency, transform, calls, paddedTokens };
}

function fmt(value: number): string {
  return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
}

await main();
