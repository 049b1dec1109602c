import { describe, expect, it } from 'vitest';
import {
  heapGrowth,
  renderSoak,
  rssGrowth,
  soakChart,
  soakReport,
  soakVerdict,
  type HeapPoint,
} from '../../bench/lib/soak-report.js';
import { closed, meta, paced, step } from './fixtures.js';

describe('soak RSS growth (reported beside the heap check)', () => {
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

/** A 10-minute soak's heap samples every 15 s: `used(tS)` MiB after GC. */
function heapSeries(used: (tS: number, i: number) => number): HeapPoint[] {
  return Array.from({ length: 41 }, (_, i) => ({
    tS: i * 15,
    usedMiB: used(i * 15, i),
    totalMiB: 80,
    externalMiB: 3,
    gcMs: 12,
  }));
}

describe('soak heap-after-GC growth (the check)', () => {
  it('a live heap that found its size, with sample noise, passes', () => {
    const g = heapGrowth(
      heapSeries((_, i) => 30 + ((i * 7) % 5) * 0.2),
      50,
    );
    expect(g.flagged).toBe(false);
    expect(g.samples).toBe(37); // the first minute (t < 60 s) left out
    expect(Math.abs(g.endMiB! - g.startMiB!)).toBeLessThan(1);
    expect(g.limitMiB).toBe(2);
  });

  it('RSS sawing between collections does not matter: only the heap after GC is judged', () => {
    // The same flat heap; what RSS does is not an input.
    expect(
      heapGrowth(
        heapSeries(() => 40),
        50,
      ).flagged,
    ).toBe(false);
  });

  it('a leak of 1 KiB per request at 50 req/s is flagged, with its size per request', () => {
    const perSecondMiB = (1024 * 50) / (1024 * 1024);
    const g = heapGrowth(
      heapSeries((tS, i) => 40 + tS * perSecondMiB + (i % 2) * 0.3),
      50,
    );
    expect(g.flagged).toBe(true);
    expect(g.bytesPerRequest).toBeGreaterThan(900);
    expect(g.bytesPerRequest).toBeLessThan(1150);
    expect(g.reason).toMatch(/^heap after GC \+\d+\.\d\d MiB .* limit of \d+\.\d MiB/);
  });

  it('a warm-up climb in the first minute is not growth', () => {
    expect(
      heapGrowth(
        heapSeries((tS) => (tS < 60 ? 10 + tS : 70)),
        50,
      ).flagged,
    ).toBe(false);
  });

  it('a heap that shrinks is not flagged', () => {
    expect(
      heapGrowth(
        heapSeries((tS) => 60 - tS / 60),
        50,
      ).flagged,
    ).toBe(false);
  });

  it('too few samples: no heap verdict', () => {
    expect(heapGrowth(heapSeries(() => 1).slice(0, 3), 50)).toMatchObject({
      flagged: false,
      startMiB: null,
      reason: 'too few heap samples',
    });
  });
});

describe('soak verdict', () => {
  const okTotals = { requests: 100, ok: 100, lost: 0, dup: 0, stalls: 0 };
  const heapOk = heapGrowth(
    heapSeries(() => 40),
    50,
  );
  const heapLeak = heapGrowth(
    heapSeries((tS) => 40 + tS / 10),
    50,
  );
  const rssSaw = rssGrowth(Array.from({ length: 120 }, (_, i) => ({ tS: i * 5, rssMiB: 300 + i * 2 })));

  it('judged by the heap: RSS growth alone does not fail the run', () => {
    expect(rssSaw.flagged).toBe(true);
    expect(soakVerdict(heapOk, rssSaw, okTotals)).toEqual({ passed: true, judgedBy: 'heap after GC', failures: [] });
  });

  it('a growing heap or a lost token fails it', () => {
    expect(soakVerdict(heapLeak, rssSaw, okTotals).failures).toEqual([expect.stringMatching(/^memory grows: heap/)]);
    expect(soakVerdict(heapOk, rssSaw, { ...okTotals, lost: 1 })).toMatchObject({
      passed: false,
      failures: ['tokens lost 1, duplicated 0'],
    });
    expect(soakVerdict(heapOk, rssSaw, { ...okTotals, requests: 0, ok: 0 }).passed).toBe(false);
  });

  it('no heap sample came back: judged by RSS, and says so', () => {
    const none = heapGrowth([], 50);
    expect(soakVerdict(none, rssSaw, okTotals)).toMatchObject({ passed: false, judgedBy: 'RSS' });
    expect(soakVerdict(none, rssGrowth([]), okTotals)).toMatchObject({ passed: true, judgedBy: 'RSS' });
  });
});

describe('soak report and chart', () => {
  const soakMeta = meta({ mode: 'soak', durationS: 620, stepDurationS: 0, notes: ['a note'] });

  const rss = Array.from({ length: 121 }, (_, i) => ({ tS: i * 5, rssMiB: 300 + (i % 10) * 15, hwmMiB: 450 }));
  const window = { ...step('proxy', closed(64), paced), tS: 30 };
  const report = soakReport({
    meta: soakMeta,
    scenario: 'proxy',
    process: 'proxy',
    concurrency: 64,
    minutes: 10,
    loadWallS: 600,
    windows: Array.from({ length: 20 }, (_, i) => ({ ...window, tS: 30 * (i + 1) })),
    rss,
    heap: heapSeries(() => 40),
    after: { hwmMiB: 450, rssMiB: 310 },
    upstream: { name: 'reference-protected', rss: rss.map((p) => ({ ...p, rssMiB: p.rssMiB / 2 })) },
  });

  it('derives the totals, both growths and the verdict from what was measured', () => {
    expect(report.totals).toEqual({ requests: 20, ok: 20, lost: 0, dup: 0, stalls: 0 });
    expect(report.heapGrowth.samples).toBe(37);
    expect(report.verdict).toEqual({ passed: true, judgedBy: 'heap after GC', failures: [] });
    expect(report.upstream.growth).not.toBeNull();
  });

  it('states the heap figures, the RSS figures and the verdict', () => {
    const text = renderSoak(report);
    expect(text).toContain('proxy heap after a forced GC (37 samples after the first minute): 40.00 → 40.00 MiB');
    expect(text).toContain('GC pause p50 12.0 ms');
    expect(text).toMatch(/proxy RSS: whole run/);
    expect(text).toContain('check (heap after GC): passed');
    expect(text).toContain('note: a note');
    expect(text).not.toMatch(/NaN|undefined/);
  });

  it('plots RSS and the heap after GC against minutes, on a linear axis', () => {
    const svg = soakChart(report);
    expect(svg).toContain('>minutes into the soak</text>');
    expect(svg).toContain('>heap used after GC</text>');
    expect(svg).toContain('>RSS</text>');
    expect(svg).toContain('check on the heap after GC: passed');
    expect(svg.match(/<polyline /g)).toHaveLength(4);
    expect(svg).not.toMatch(/NaN|undefined|Infinity/);
  });
});
