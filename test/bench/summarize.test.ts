import { describe, expect, it } from 'vitest';
import type { RequestRecord } from '../../bench/lib/sse-request.js';
import { rssGrowth, summarizeStep, sustainedConcurrency, type StepSummary } from '../../bench/lib/summarize.js';
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

describe('soak RSS growth', () => {
  const flat = Array.from({ length: 120 }, (_, i) => ({ tS: i * 5, rssMiB: 200 + (i % 3) }));
  it('flat memory is not flagged', () => {
    expect(rssGrowth(flat)).toMatchObject({ flagged: false });
  });
  it('steady growth past max(8 MiB, 5 %) is flagged', () => {
    const growing = flat.map((s) => ({ ...s, rssMiB: 200 + s.tS * 0.1 }));
    const g = rssGrowth(growing);
    expect(g.flagged).toBe(true);
    expect(g.slopeMiBPerMin).toBeCloseTo(6, 5);
  });
  it('a heap that climbs for minutes and then levels off is not flagged; the whole-run growth is still reported', () => {
    const levelling = flat.map((s) => ({ ...s, rssMiB: 200 + Math.min(s.tS, 250) * 0.4 + (s.tS % 3) }));
    const g = rssGrowth(levelling);
    expect(g.flagged).toBe(false);
    expect((g.endMiB as number) - (g.startMiB as number)).toBeGreaterThan(50);
  });
  it('too few samples: no verdict', () => {
    expect(rssGrowth([{ tS: 1, rssMiB: 1 }])).toMatchObject({ flagged: false, reason: 'too few samples' });
  });
});
