import { cpuUse, type CpuUse } from './cpu.js';
import type { RequestRecord } from './sse-request.js';
import { distribution, type Distribution } from './stats.js';
import { splitTtft, type UpstreamTiming } from './upstream-log.js';

export interface StepShape {
  /** closed: the concurrency ladder; open: Poisson arrivals; prompt: the prompt-length sweep (closed loop). */
  kind: 'closed' | 'open' | 'prompt';
  /** Closed loop and prompt sweep: the fixed concurrency. Open loop: the offered rate (requests/s). */
  concurrency?: number;
  ratePerSecond?: number;
  /** Prompt sweep: the prompt length aimed at, and what the gateway counted for the prompt sent. */
  promptTokens?: number;
  measuredPromptTokens?: number;
}

/**
 * Inter-token gaps against the upstream's pacing. A gateway that falls behind holds tokens back and
 * then writes several at once: the client sees gaps near zero between them, and a gap p50 below the
 * pacing — which reads as faster than going direct when it is the opposite. The bands say what the
 * gaps are: `burstShare` (gaps under BURST_FRACTION × the pacing, 1 ms at 20 ms) are tokens that
 * arrived together.
 */
export interface GapProfile {
  burstBelowMs: number;
  burstShare: number | null;
  /** Shares of all gaps by their ratio to the pacing, [from, to); `to` null is unbounded. */
  bands: Array<{ from: number; to: number | null; share: number }>;
}

/** CPU over a step: each process under test, the load generator (this process) and its event-loop lag. */
export interface StepCpu {
  gateway: CpuUse | null;
  /** Of the gateway's CPU, its main thread's: the event loop every stream is relayed on. */
  gatewayMainThread: CpuUse | null;
  upstream: CpuUse | null;
  generator: CpuUse | null;
  /** The generator's event-loop delay over the step (perf_hooks.monitorEventLoopDelay), ms. */
  generatorLoopLagMs: { p50: number; p99: number; max: number } | null;
  /** The gateway's, read by its heap probe over the same interval: the relay's own event loop. */
  gatewayLoopLagMs: { p50: number; p99: number; max: number } | null;
}

export interface TtftSplitSummary {
  /** Records joined with an upstream log line (all of them, normally). */
  joined: number;
  toUpstream: Distribution;
  upstream: Distribution;
  relay: Distribution;
}

export interface StepSummary {
  scenario: string;
  shape: StepShape;
  wallMs: number;
  requests: number;
  ok: number;
  errors: number;
  errorRate: number;
  dropped: number;
  /** Expected tokens that never arrived, over all requests (a failed request loses all of its). */
  lostTokens: number;
  duplicatedTokens: number;
  outOfOrderTokens: number;
  /** Inter-token gaps longer than 10× the pacing. */
  stalls: number;
  maxGapMs: number;
  requestsPerSecond: number;
  tokensPerSecond: number;
  ttft: Distribution;
  itl: Distribution;
  gapProfile: GapProfile;
  e2e: Distribution;
  split: TtftSplitSummary | null;
  cpu: StepCpu | null;
  /**
   * Direct did not sustain this load (set after the run, report.ts markBound): what the step shows is
   * then the load generator's or the upstream's limit, not the gateway's. Null without a direct step.
   */
  bound: boolean | null;
  /** Highest sampled VmRSS of the gateway process during the step (none for direct). */
  gatewayRssPeakMiB: number | null;
  upstreamRssPeakMiB: number | null;
  /** The most frequent error messages (at most five), with how often each occurred. */
  errorSamples: Array<{ message: string; count: number }>;
  /** No lost or duplicated token, no stall, errors under 0.1 %. */
  sustained: boolean;
}

export interface SummaryInput {
  scenario: string;
  shape: StepShape;
  records: readonly RequestRecord[];
  wallMs: number;
  dropped: number;
  pacingMs: number;
  timings?: ReadonlyMap<string, UpstreamTiming>;
  gatewayRssPeakKiB: number | null;
  upstreamRssPeakKiB: number | null;
  cpu?: StepCpuReadings;
}

/** CPU counters read just before and just after a step (seconds; null: the process was gone). */
export interface StepCpuReadings {
  wallMs: number;
  gateway: { before: number | null; after: number | null } | null;
  gatewayMainThread: { before: number | null; after: number | null } | null;
  upstream: { before: number | null; after: number | null } | null;
  generator: { before: number; after: number };
  loopLagMs: { p50: number; p99: number; max: number } | null;
  gatewayLoopLagMs: { p50: number; p99: number; max: number } | null;
}

export const STALL_FACTOR = 10;
export const MAX_ERROR_RATE = 0.001;
/** A gap under this fraction of the pacing is a burst (tokens written together). */
export const BURST_FRACTION = 0.05;
const GAP_BAND_EDGES = [0, BURST_FRACTION, 0.5, 1.5, STALL_FACTOR];

export function gapProfile(gaps: ArrayLike<number>, pacingMs: number): GapProfile {
  const counts = new Array<number>(GAP_BAND_EDGES.length).fill(0);
  for (let i = 0; i < gaps.length; i++) {
    const ratio = gaps[i]! / pacingMs;
    let band = GAP_BAND_EDGES.length - 1;
    while (band > 0 && ratio < GAP_BAND_EDGES[band]!) band--;
    counts[band]! += 1;
  }
  const n = gaps.length;
  return {
    burstBelowMs: BURST_FRACTION * pacingMs,
    burstShare: n === 0 ? null : counts[0]! / n,
    bands: GAP_BAND_EDGES.map((from, i) => ({
      from,
      to: GAP_BAND_EDGES[i + 1] ?? null,
      share: n === 0 ? 0 : counts[i]! / n,
    })),
  };
}

function stepCpu(readings: StepCpuReadings | undefined, tokens: number): StepCpu | null {
  if (readings === undefined) return null;
  const use = (r: { before: number | null; after: number | null } | null): CpuUse | null =>
    r === null ? null : cpuUse(r.before, r.after, readings.wallMs, tokens);
  return {
    gateway: use(readings.gateway),
    gatewayMainThread: use(readings.gatewayMainThread),
    upstream: use(readings.upstream),
    generator: use(readings.generator),
    generatorLoopLagMs: readings.loopLagMs,
    gatewayLoopLagMs: readings.gatewayLoopLagMs,
  };
}

export function summarizeStep(input: SummaryInput): StepSummary {
  const { records } = input;
  const ttft: number[] = [];
  const e2e: number[] = [];
  let gapCount = 0;
  for (const r of records) gapCount += r.gaps.length;
  const gaps = new Float64Array(gapCount);
  let g = 0;
  let lost = 0;
  let duplicated = 0;
  let outOfOrder = 0;
  let stalls = 0;
  let maxGap = 0;
  let deltas = 0;
  let ok = 0;
  const errors = new Map<string, number>();
  const toUpstream: number[] = [];
  const upstream: number[] = [];
  const relay: number[] = [];
  const stallMs = STALL_FACTOR * input.pacingMs;
  for (const r of records) {
    if (r.ttftMs !== null) ttft.push(r.ttftMs);
    if (r.e2eMs > 0) e2e.push(r.e2eMs);
    for (const gap of r.gaps) {
      gaps[g++] = gap;
      if (gap > stallMs) stalls += 1;
    }
    maxGap = Math.max(maxGap, r.maxGapMs);
    lost += r.tokens.lost;
    duplicated += r.tokens.duplicated;
    outOfOrder += r.tokens.outOfOrder;
    deltas += r.tokens.deltas;
    if (r.error === null) ok += 1;
    else {
      const key = normalizeError(r.error);
      errors.set(key, (errors.get(key) ?? 0) + 1);
    }
    const timing = input.timings?.get(r.requestId);
    if (timing && r.ttftMs !== null) {
      const split = splitTtft(r.sentEpochMs, r.ttftMs, timing);
      toUpstream.push(split.toUpstreamMs);
      upstream.push(split.upstreamMs);
      relay.push(split.relayMs);
    }
  }
  const seconds = input.wallMs / 1000;
  const errorCount = records.length - ok;
  const errorRate = records.length === 0 ? 1 : errorCount / records.length;
  return {
    scenario: input.scenario,
    shape: input.shape,
    wallMs: input.wallMs,
    requests: records.length,
    ok,
    errors: errorCount,
    errorRate,
    dropped: input.dropped,
    lostTokens: lost,
    duplicatedTokens: duplicated,
    outOfOrderTokens: outOfOrder,
    stalls,
    maxGapMs: maxGap,
    requestsPerSecond: seconds > 0 ? ok / seconds : 0,
    tokensPerSecond: seconds > 0 ? deltas / seconds : 0,
    ttft: distribution(ttft),
    itl: distribution(gaps),
    gapProfile: gapProfile(gaps, input.pacingMs),
    e2e: distribution(e2e),
    split:
      toUpstream.length === 0
        ? null
        : {
            joined: toUpstream.length,
            toUpstream: distribution(toUpstream),
            upstream: distribution(upstream),
            relay: distribution(relay),
          },
    cpu: stepCpu(input.cpu, deltas),
    bound: null,
    gatewayRssPeakMiB: kibToMib(input.gatewayRssPeakKiB),
    upstreamRssPeakMiB: kibToMib(input.upstreamRssPeakKiB),
    errorSamples: [...errors.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 5)
      .map(([message, count]) => ({ message, count })),
    sustained: records.length > 0 && lost === 0 && duplicated === 0 && stalls === 0 && errorRate < MAX_ERROR_RATE,
  };
}

function kibToMib(kib: number | null): number | null {
  return kib === null ? null : kib / 1024;
}

/** Error messages without the parts that differ per request (ids, counts), so equal causes group. */
function normalizeError(message: string): string {
  return message
    .replace(/chatcmpl-[\w-]+/g, 'chatcmpl-…')
    .replace(/[0-9a-f]{8}-[0-9a-f-]{27,}/g, '…')
    .slice(0, 200);
}

/**
 * The highest concurrency of an ascending closed-loop ladder that was sustained with every lower
 * step sustained too; null when even the first failed.
 */
export function sustainedConcurrency(steps: readonly StepSummary[]): number | null {
  let best: number | null = null;
  const ladder = steps
    .filter((s) => s.shape.kind === 'closed')
    .sort((a, b) => (a.shape.concurrency ?? 0) - (b.shape.concurrency ?? 0));
  for (const step of ladder) {
    if (!step.sustained) break;
    best = step.shape.concurrency ?? null;
  }
  return best;
}
