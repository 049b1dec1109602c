import { describe, expect, it } from 'vitest';
import type { RequestRecord } from '../../bench/lib/sse-request.js';
import { gapProfile, summarizeStep, sustainedConcurrency, type StepSummary } from '../../bench/lib/summarize.js';
import { splitTtft } from '../../bench/lib/upstream-log.js';

function record(id: string, overrides: Partial<RequestRecord> = {}): RequestRecord {
  return {
    requestId: id,
    startMs: 0,
    sentEpochMs: 1_000,
    ttftMs: 30,
    gaps: [20, 20, 20],
    maxGapMs: 20,
    e2eMs: 90,
    status: 200,
    tokens: { deltas: 4, expected: 4, lost: 0, duplicated: 0, outOfOrder: 0, unexpected: 0, merged: 0 },
    finishReason: 'length',
    error: null,
    ...overrides,
  };
}

const base = {
  scenario: 'proxy-plain',
  shape: { kind: 'closed' as const, concurrency: 4 },
  wallMs: 2_000,
  dropped: 0,
  pacingMs: 20,
  gatewayRssPeakKiB: 2048,
  upstreamRssPeakKiB: null,
};

describe('step summary', () => {
  it('rates, pooled gaps, and the TTFT split joined by request id', () => {
    const timings = new Map([['a', { receivedAt: 1_005, firstTokenMs: 21 }]]);
    const s = summarizeStep({ ...base, records: [record('a'), record('b', { gaps: [20, 25, 30] })], timings });
    expect(s).toMatchObject({
      requests: 2,
      ok: 2,
      errors: 0,
      requestsPerSecond: 1,
      tokensPerSecond: 4,
      gatewayRssPeakMiB: 2,
      sustained: true,
    });
    expect(s.itl.count).toBe(6);
    expect(s.itl.max).toBe(30);
    expect(s.split).toMatchObject({ joined: 1 });
    expect(s.split!.toUpstream.p50).toBe(5);
    expect(s.split!.upstream.p50).toBe(21);
    expect(s.split!.relay.p50).toBe(4);
  });

  it('splitTtft: the three parts add up to the TTFT', () => {
    const split = splitTtft(10_000.5, 42.25, { receivedAt: 10_010.5, firstTokenMs: 21 });
    expect(split.toUpstreamMs + split.upstreamMs + split.relayMs).toBeCloseTo(42.25, 10);
  });

  it('a stall (gap > 10× the pacing), a lost token, or 0.1 % errors: not sustained', () => {
    expect(summarizeStep({ ...base, records: [record('a', { gaps: [20, 201], maxGapMs: 201 })] })).toMatchObject({
      stalls: 1,
      sustained: false,
    });
    const lost = record('a', {
      tokens: { deltas: 3, expected: 4, lost: 1, duplicated: 0, outOfOrder: 1, unexpected: 0, merged: 0 },
      error: 'tokens: …',
    });
    expect(summarizeStep({ ...base, records: [lost] })).toMatchObject({ lostTokens: 1, errors: 1, sustained: false });
    const many = Array.from({ length: 999 }, (_, i) => record(`ok-${i}`));
    expect(summarizeStep({ ...base, records: [...many, record('x', { error: 'HTTP 502: down' })] }).sustained).toBe(
      false,
    );
    expect(summarizeStep({ ...base, records: many }).sustained).toBe(true);
    expect(summarizeStep({ ...base, records: [] }).sustained).toBe(false);
  });

  it('groups error messages, most frequent first', () => {
    const s = summarizeStep({
      ...base,
      records: [
        record('a', { error: 'HTTP 502: x' }),
        record('b', { error: 'HTTP 502: x' }),
        record('c', { error: 'timeout after 5 ms' }),
      ],
    });
    expect(s.errorSamples).toEqual([
      { message: 'HTTP 502: x', count: 2 },
      { message: 'timeout after 5 ms', count: 1 },
    ]);
  });

  it('sustained concurrency: the highest step with every lower one passing', () => {
    const step = (concurrency: number, sustained: boolean): StepSummary => ({
      ...summarizeStep({ ...base, records: [record('a')] }),
      shape: { kind: 'closed', concurrency },
      sustained,
    });
    expect(sustainedConcurrency([step(16, true), step(1, true), step(64, false), step(128, true)])).toBe(16);
    expect(sustainedConcurrency([step(1, false), step(16, true)])).toBeNull();
  });
});

describe('gap profile: bursts reported as what they are', () => {
  it('shares of gaps by their ratio to the pacing; bursts are gaps under 5 % of it', () => {
    // Pacing 20 ms: 0.5 ms (burst), 0.9 (burst), 5 (early), 20 (on pace), 21, 40 (late), 250 (stall).
    const g = gapProfile([0.5, 0.9, 5, 20, 21, 40, 250, 1], 20);
    expect(g.burstBelowMs).toBe(1);
    expect(g.burstShare).toBe(2 / 8);
    expect(g.bands.map((b) => [b.from, b.to, b.share])).toEqual([
      [0, 0.05, 2 / 8],
      [0.05, 0.5, 2 / 8],
      [0.5, 1.5, 2 / 8],
      [1.5, 10, 1 / 8],
      [10, null, 1 / 8],
    ]);
    expect(g.bands.reduce((a, b) => a + b.share, 0)).toBeCloseTo(1, 12);
  });

  it('a gateway holding tokens back shows a low ITL p50 and a high burst share, never a clean pace', () => {
    // Direct: every gap on the pacing. Saturated gateway: the same 64 tokens, written four at a time
    // every 80 ms (three gaps of ~0.1 ms, then one of 80 ms): its ITL p50 is below direct's.
    const direct = Array.from({ length: 63 }, () => 20);
    const bursty = Array.from({ length: 63 }, (_, i) => (i % 4 === 3 ? 80 : 0.1));
    const s = (gaps: number[]) =>
      summarizeStep({ ...base, records: [record('a', { gaps, maxGapMs: Math.max(...gaps) })] });
    const d = s(direct);
    const b = s(bursty);
    expect(b.itl.p50!).toBeLessThan(d.itl.p50!);
    expect(d.gapProfile.burstShare).toBe(0);
    expect(b.gapProfile.burstShare!).toBeGreaterThan(0.7);
  });

  it('no gaps: no share', () => {
    expect(gapProfile([], 20)).toMatchObject({ burstShare: null });
    expect(gapProfile([], 20).bands.every((b) => b.share === 0)).toBe(true);
  });
});

describe('CPU per step in the summary', () => {
  it('per 1,000 relayed tokens and as a share of one core, for each process read', () => {
    // Two requests of 4 tokens = 8 tokens; 0.02 s of gateway CPU over a 2 s step.
    const s = summarizeStep({
      ...base,
      records: [record('a'), record('b')],
      cpu: {
        wallMs: 2_000,
        gateway: { before: 10, after: 10.02 },
        gatewayMainThread: { before: 4, after: 4.01 },
        upstream: { before: 5, after: null },
        generator: { before: 0, after: 0.5 },
        loopLagMs: { p50: 10.1, p99: 12, max: 30 },
        gatewayLoopLagMs: { p50: 0.2, p99: 3, max: 9 },
      },
    });
    expect(s.cpu!.gateway!.perThousandTokens).toBeCloseTo(2.5, 10);
    expect(s.cpu!.gateway!.coreShare).toBeCloseTo(0.01, 10);
    expect(s.cpu!.upstream).toBeNull();
    expect(s.cpu!.generator!.coreShare).toBeCloseTo(0.25, 10);
    expect(s.cpu!.generatorLoopLagMs).toEqual({ p50: 10.1, p99: 12, max: 30 });
    expect(s.cpu!.gatewayMainThread!.perThousandTokens).toBeCloseTo(1.25, 10);
    expect(s.cpu!.gatewayLoopLagMs).toEqual({ p50: 0.2, p99: 3, max: 9 });
    expect(s.bound).toBeNull();
  });

  it('without readings: no CPU section', () => {
    expect(summarizeStep({ ...base, records: [record('a')] }).cpu).toBeNull();
  });
});
