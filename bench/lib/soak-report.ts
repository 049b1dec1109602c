import type { BenchMeta } from './report.js';
import { percentile, slope } from './stats.js';
import type { StepSummary } from './summarize.js';
import { renderChart } from './svg.js';

/**
 * The soak's verdict and report. The check is on the live heap: the gateway's V8 heap in use right
 * after a forced full GC (bench/lib/heap-probe.ts), sampled through the run. That is what a leak of
 * JS objects grows, and it does not move with the collector's schedule the way RSS does (V8 grows
 * its heap for minutes, then saws between collections). RSS is still sampled, plotted and reported.
 */

export interface RssPoint {
  tS: number;
  rssMiB: number;
  hwmMiB: number;
}

export interface HeapPoint {
  tS: number;
  /** V8 heap in use after the forced GC. */
  usedMiB: number;
  totalMiB: number;
  externalMiB: number;
  gcMs: number;
}

export interface Growth {
  startMiB: number | null;
  endMiB: number | null;
  slopeMiBPerMin: number | null;
  flagged: boolean;
  reason: string;
}

export type RssGrowth = Growth & { levelStartMiB: number | null; levelEndMiB: number | null };

export type HeapGrowth = Growth & {
  samples: number;
  limitMiB: number | null;
  /** If the slope were a leak: bytes kept per request served (slope ÷ request rate). */
  bytesPerRequest: number | null;
};

/** Samples in the first minute are left out: JIT, pools and caches fill then, by design. */
const SETTLE_S = 60;

const median = (xs: readonly number[]): number => percentile(xs, 50) as number; // callers pass ≥ 1 value

function settled<T extends { tS: number }>(series: readonly T[], minimum: number): readonly T[] {
  const after = series.filter((s) => s.tS >= SETTLE_S);
  return after.length >= minimum ? after : series;
}

/**
 * Whether the live heap grew like a leak: the median of the last quarter of the settled samples
 * against the first quarter's, over a limit of max(2 MiB, 5 %), with a positive least-squares slope.
 * A heap that found its size stays within a few hundred KiB of itself after a full GC.
 */
export function heapGrowth(series: readonly HeapPoint[], requestsPerSecond: number | null): HeapGrowth {
  const points = settled(series, 8);
  if (points.length < 6)
    return {
      startMiB: null,
      endMiB: null,
      slopeMiBPerMin: null,
      samples: points.length,
      limitMiB: null,
      bytesPerRequest: null,
      flagged: false,
      reason: 'too few heap samples',
    };
  const quarter = Math.max(2, Math.floor(points.length / 4));
  const startMiB = median(points.slice(0, quarter).map((p) => p.usedMiB));
  const endMiB = median(points.slice(-quarter).map((p) => p.usedMiB));
  const perSecond = slope(points.map((p) => [p.tS, p.usedMiB] as const));
  const slopeMiBPerMin = perSecond === null ? null : perSecond * 60;
  const limitMiB = Math.max(2, startMiB * 0.05);
  const grew = endMiB - startMiB;
  const flagged = grew > limitMiB && (slopeMiBPerMin ?? 0) > 0;
  const bytesPerRequest =
    perSecond !== null && requestsPerSecond !== null && requestsPerSecond > 0
      ? (perSecond * 1024 * 1024) / requestsPerSecond
      : null;
  return {
    startMiB,
    endMiB,
    slopeMiBPerMin,
    samples: points.length,
    limitMiB,
    bytesPerRequest,
    flagged,
    reason: `heap after GC ${signed(grew, 2)} MiB (last quarter's median against the first's) against a limit of ${limitMiB.toFixed(1)} MiB`,
  };
}

/**
 * RSS, for comparison and for the curve. The second half after the first minute: a leak keeps its
 * slope to the end, a heap that found its size does not. `startMiB` / `endMiB` are the whole run's,
 * `levelStartMiB` / `levelEndMiB` and the slope the second half's. Flagged as before (over
 * max(8 MiB, 5 %)); the soak's verdict is the heap's, this is reported beside it.
 */
export function rssGrowth(series: ReadonlyArray<{ tS: number; rssMiB: number }>): RssGrowth {
  const points = settled(series, 12);
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
  return {
    startMiB,
    endMiB,
    levelStartMiB,
    levelEndMiB,
    slopeMiBPerMin,
    flagged: grew > limit && (slopeMiBPerMin ?? 0) > 0,
    reason: `second half ${signed(grew, 1)} MiB against a limit of ${limit.toFixed(1)} MiB (whole run ${(endMiB - startMiB).toFixed(1)} MiB)`,
  };
}

export interface SoakTotals {
  requests: number;
  ok: number;
  lost: number;
  dup: number;
  stalls: number;
}

function soakTotals(windows: readonly StepSummary[]): SoakTotals {
  return windows.reduce(
    (a, w) => ({
      requests: a.requests + w.requests,
      ok: a.ok + w.ok,
      lost: a.lost + w.lostTokens,
      dup: a.dup + w.duplicatedTokens,
      stalls: a.stalls + w.stalls,
    }),
    { requests: 0, ok: 0, lost: 0, dup: 0, stalls: 0 },
  );
}

export interface SoakVerdict {
  passed: boolean;
  /** What the check was made on: the heap, or RSS where no heap sample came back. */
  judgedBy: 'heap after GC' | 'RSS';
  failures: string[];
}

/** The soak's own check: a live heap that grows (RSS where the probe gave nothing), or a token lost. */
export function soakVerdict(heap: HeapGrowth, rss: RssGrowth, totals: SoakTotals): SoakVerdict {
  const judgedBy = heap.startMiB === null ? 'RSS' : 'heap after GC';
  const failures: string[] = [];
  if (judgedBy === 'heap after GC' ? heap.flagged : rss.flagged)
    failures.push(`memory grows: ${judgedBy === 'RSS' ? rss.reason : heap.reason}`);
  if (totals.lost > 0 || totals.dup > 0) failures.push(`tokens lost ${totals.lost}, duplicated ${totals.dup}`);
  if (totals.requests === 0) failures.push('no request completed');
  return { passed: failures.length === 0, judgedBy, failures };
}

/** What a soak run measured; everything else in the report is derived from it (`soakReport`). */
export interface SoakMeasurements {
  meta: BenchMeta;
  scenario: string;
  /** The process whose memory is judged (the gateway; the upstream when soaking direct). */
  process: string;
  concurrency: number;
  minutes: number;
  loadWallS: number;
  windows: Array<StepSummary & { tS: number }>;
  rss: RssPoint[];
  heap: HeapPoint[];
  /** VmHWM and VmRSS once the load was over (MiB). */
  after: { hwmMiB: number | null; rssMiB: number | null };
  /** The upstream's RSS over the same load, when a gateway was soaked (a pattern both show is not the gateway's). */
  upstream: { name: string; rss: RssPoint[] | null };
}

export type SoakReport = Omit<SoakMeasurements, 'upstream'> & {
  totals: SoakTotals;
  verdict: SoakVerdict;
  growth: RssGrowth;
  heapGrowth: HeapGrowth;
  upstream: { name: string; growth: RssGrowth | null; rss: RssPoint[] };
};

export function soakReport(m: SoakMeasurements): SoakReport {
  const totals = soakTotals(m.windows);
  const growth = rssGrowth(m.rss);
  const heap = heapGrowth(m.heap, m.loadWallS > 0 ? totals.requests / m.loadWallS : null);
  return {
    ...m,
    totals,
    verdict: soakVerdict(heap, growth, totals),
    growth,
    heapGrowth: heap,
    upstream: {
      name: m.upstream.name,
      growth: m.upstream.rss === null ? null : rssGrowth(m.upstream.rss),
      rss: m.upstream.rss ?? [],
    },
  };
}

const fmt = (v: number | null | undefined, digits = 1): string =>
  v === null || v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(digits);
function signed(v: number, digits: number): string {
  return `${v >= 0 ? '+' : ''}${v.toFixed(digits)}`;
}

export function renderSoak(r: SoakReport): string {
  const { totals, growth, heapGrowth: heap } = r;
  const pauses = r.heap.map((h) => h.gcMs);
  const lines = [
    `sgt-proxy soak: ${r.scenario}, ${r.concurrency} clients, ${r.minutes} min, paced ${r.meta.pacing.maxTokens} tokens / ${r.meta.pacing.tokenIntervalMs} ms (${r.meta.startedAt})`,
    `  requests ${totals.ok}/${totals.requests} ok in ${r.loadWallS.toFixed(0)} s; lost ${totals.lost}, duplicated ${totals.dup}, stalls ${totals.stalls}`,
    `  ${r.process} heap after a forced GC (${heap.samples} samples after the first minute): ${fmt(heap.startMiB, 2)} → ${fmt(heap.endMiB, 2)} MiB, ` +
      `slope ${fmt(heap.slopeMiBPerMin, 3)} MiB/min${heap.bytesPerRequest === null ? '' : ` (${heap.bytesPerRequest.toFixed(1)} bytes per request if it were a leak)`}; ` +
      `GC pause p50 ${fmt(percentile(pauses, 50))} ms, max ${fmt(percentile(pauses, 100))} ms`,
    `  ${r.process} RSS: whole run ${fmt(growth.startMiB)} → ${fmt(growth.endMiB)} MiB (medians of the first/last 10% of samples after the first minute); ` +
      `second half ${fmt(growth.levelStartMiB)} → ${fmt(growth.levelEndMiB)} MiB, slope ${fmt(growth.slopeMiBPerMin, 2)} MiB/min; ` +
      `peak (VmHWM) ${fmt(r.after.hwmMiB, 0)} MiB, after the load ${fmt(r.after.rssMiB, 0)} MiB${growth.flagged ? ` (RSS alone would flag it: ${growth.reason})` : ''}`,
    `  check (${r.verdict.judgedBy}): ${r.verdict.passed ? `passed — ${r.verdict.judgedBy === 'RSS' ? growth.reason : heap.reason}, no token lost` : `FAILED — ${r.verdict.failures.join('; ')}`}`,
    ...(r.upstream.growth
      ? [
          `  for comparison, ${r.upstream.name} RSS: ${fmt(r.upstream.growth.startMiB)} → ${fmt(r.upstream.growth.endMiB)} MiB, slope ${fmt(r.upstream.growth.slopeMiBPerMin, 2)} MiB/min${r.upstream.growth.flagged ? ' (also grows)' : ''}`,
        ]
      : []),
    '',
    '     t s   ok/req   TTFT p50 / p99   ITL p50 / p99   lost  stalls  RSS MiB',
    ...r.windows.map(
      (w) =>
        `  ${w.tS.toFixed(0).padStart(6)}  ${`${w.ok}/${w.requests}`.padStart(7)}  ${`${fmt(w.ttft.p50)} / ${fmt(w.ttft.p99)}`.padStart(15)}  ${`${fmt(w.itl.p50)} / ${fmt(w.itl.p99)}`.padStart(14)}  ${String(w.lostTokens).padStart(5)}  ${String(w.stalls).padStart(6)}  ${fmt(w.gatewayRssPeakMiB, 0).padStart(7)}`,
    ),
    ...r.meta.notes.map((n) => `note: ${n}`),
  ];
  return lines.join('\n');
}

/** Two panels over time: RSS (and its peak) and the heap after GC, both of the judged process. */
export function soakChart(r: SoakReport): string {
  const minutes = (tS: number): number => tS / 60;
  const ticks = Array.from({ length: Math.floor(r.minutes) + 1 }, (_, i) => i);
  const x = { label: 'minutes into the soak', ticks, scale: 'linear' as const };
  return renderChart({
    title: `sgt-proxy soak: ${r.process} memory under ${r.concurrency} streaming clients`,
    subtitle:
      `${r.meta.startedAt.slice(0, 10)} · ${r.meta.cpus} × ${r.meta.cpuModel} · Node ${r.meta.node} · ${r.totals.ok}/${r.totals.requests} requests · ` +
      `check on the heap after GC: ${r.verdict.passed ? 'passed' : 'FAILED'}`,
    xLabel: x.label,
    xTicks: ticks,
    xScale: 'linear',
    colors: { RSS: '#1f77b4', 'peak RSS (VmHWM)': '#aec7e8', 'heap used after GC': '#d62728', external: '#ff7f0e' },
    panels: [
      {
        title: `RSS (sampled every 5 s), MiB`,
        yLabel: 'MiB',
        x,
        series: [
          { name: 'RSS', points: r.rss.map((p) => [minutes(p.tS), p.rssMiB] as const) },
          { name: 'peak RSS (VmHWM)', points: r.rss.map((p) => [minutes(p.tS), p.hwmMiB] as const) },
        ],
      },
      {
        title: 'V8 heap in use after a forced full GC, MiB',
        yLabel: 'MiB',
        x,
        series: [
          { name: 'heap used after GC', points: r.heap.map((p) => [minutes(p.tS), p.usedMiB] as const) },
          { name: 'external', points: r.heap.map((p) => [minutes(p.tS), p.externalMiB] as const) },
        ],
      },
    ],
  });
}
