import type { RequestRecord } from './sse-request.js';
import { distribution, slope, type Distribution } from './stats.js';
import { splitTtft, type UpstreamTiming } from './upstream-log.js';

export interface StepShape {
  kind: 'closed' | 'open';
  /** Closed loop: the fixed concurrency. Open loop: the offered rate (requests/s). */
  concurrency?: number;
  ratePerSecond?: number;
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
  e2e: Distribution;
  split: TtftSplitSummary | null;
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
}

export const STALL_FACTOR = 10;
export const MAX_ERROR_RATE = 0.001;

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

/**
 * Whether the soak's RSS grew like a leak. V8 grows its heap for minutes before it levels off (the
 * first soak's curve: a climb, then flat), so the verdict is taken on the second half of the run
 * after the first minute: a leak keeps its slope to the end, a heap that found its size does not.
 * `startMiB` / `endMiB` are the whole run's (for the chart); `levelStartMiB` / `levelEndMiB` and
 * `slopeMiBPerMin` are the second half's.
 */
export function rssGrowth(series: ReadonlyArray<{ tS: number; rssMiB: number }>): {
  startMiB: number | null;
  endMiB: number | null;
  levelStartMiB: number | null;
  levelEndMiB: number | null;
  slopeMiBPerMin: number | null;
  flagged: boolean;
  reason: string;
} {
  const settled = series.filter((s) => s.tS >= 60);
  const points = settled.length >= 12 ? settled : series;
  if (points.length < 6) {
    return {
      startMiB: null,
      endMiB: null,
      levelStartMiB: null,
      levelEndMiB: null,
      slopeMiBPerMin: null,
      flagged: false,
      reason: 'too few samples',
    };
  }
  const median = (xs: number[]): number => {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.floor(s.length / 2)] as number;
  };
  const ends = (xs: ReadonlyArray<{ rssMiB: number }>): [number, number] => {
    const tenth = Math.max(1, Math.floor(xs.length / 10));
    return [median(xs.slice(0, tenth).map((p) => p.rssMiB)), median(xs.slice(-tenth).map((p) => p.rssMiB))];
  };
  const [startMiB, endMiB] = ends(points);
  const level = points.slice(Math.floor(points.length / 2));
  const [levelStartMiB, levelEndMiB] = ends(level);
  const perSecond = slope(level.map((p) => [p.tS, p.rssMiB] as const));
  const slopeMiBPerMin = perSecond === null ? null : perSecond * 60;
  const limit = Math.max(8, levelStartMiB * 0.05);
  const grew = levelEndMiB - levelStartMiB;
  const flagged = grew > limit && (slopeMiBPerMin ?? 0) > 0;
  return {
    startMiB,
    endMiB,
    levelStartMiB,
    levelEndMiB,
    slopeMiBPerMin,
    flagged,
    reason: `second half ${grew >= 0 ? '+' : ''}${grew.toFixed(1)} MiB against a limit of ${limit.toFixed(1)} MiB (whole run ${(endMiB - startMiB).toFixed(1)} MiB)`,
  };
}
