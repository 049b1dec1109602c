import type { BenchMeta, ScenarioResult } from '../../bench/lib/report.js';
import type { RequestRecord } from '../../bench/lib/sse-request.js';
import { summarizeStep, type StepShape, type StepSummary } from '../../bench/lib/summarize.js';

/** Builders for the bench's report, chart and soak tests: one request, one step, one scenario, the run's meta. */

export function record(id: string, gaps: number[]): RequestRecord {
  return {
    requestId: id,
    startMs: 0,
    sentEpochMs: 0,
    ttftMs: 25,
    gaps,
    maxGapMs: Math.max(...gaps),
    e2eMs: 1_300,
    status: 200,
    tokens: {
      deltas: gaps.length + 1,
      expected: gaps.length + 1,
      lost: 0,
      duplicated: 0,
      outOfOrder: 0,
      unexpected: 0,
      merged: 0,
    },
    finishReason: 'length',
    error: null,
  };
}

/** One request of 64 tokens with these gaps; 0.4 s of gateway CPU, 0.2 s upstream, 0.6 s generator over 2 s. */
export function step(scenario: string, shape: StepShape, gaps: number[]): StepSummary {
  return summarizeStep({
    scenario,
    shape,
    records: [record(`${scenario}-1`, gaps)],
    wallMs: 2_000,
    dropped: 0,
    pacingMs: 20,
    gatewayRssPeakKiB: null,
    upstreamRssPeakKiB: null,
    cpu: {
      wallMs: 2_000,
      gateway: scenario === 'direct' ? null : { before: 1, after: 1.4 },
      gatewayMainThread: scenario === 'direct' ? null : { before: 0.5, after: 0.8 },
      upstream: { before: 2, after: 2.2 },
      generator: { before: 0, after: 0.6 },
      loopLagMs: { p50: 10.2, p99: 35, max: 80 },
      gatewayLoopLagMs: scenario === 'direct' ? null : { p50: 0.4, p99: 2.5, max: 12 },
    },
  });
}

export function scenario(name: ScenarioResult['name'], steps: StepSummary[]): ScenarioResult {
  return {
    name,
    path: `${name} path`,
    status: 'ran',
    steps,
    sustainedConcurrency: null,
    gatewayPeakRssMiB: null,
    gatewayRssAfterMiB: null,
    gatewayRssBeforeMiB: null,
  };
}

export function meta(overrides: Partial<BenchMeta> = {}): BenchMeta {
  return {
    mode: 'full',
    startedAt: '2026-12-01T10:00:00.000Z',
    durationS: 60,
    node: 'v20',
    platform: 'Linux',
    cpus: 2,
    cpuModel: 'CPU',
    memoryGiB: 8,
    loadAverageAtStart: [0, 0, 0],
    commit: 'abc',
    workingTreeDirty: false,
    pacing: { maxTokens: 64, tokenIntervalMs: 20 },
    stepDurationS: 20,
    warmupS: 5,
    ladder: [],
    openLoopRates: [],
    promptTokens: [],
    percentileMethod: 'linear',
    notes: [],
    ...overrides,
  };
}

export const paced = Array.from({ length: 63 }, () => 20);
export const stalled = [...paced.slice(1), 500];
/** Four tokens at a time every 80 ms: what a gateway behind its upstream writes. */
export const bursty = Array.from({ length: 63 }, (_, i) => (i % 4 === 3 ? 80 : 0.2));
export const closed = (concurrency: number): StepShape => ({ kind: 'closed', concurrency });
