import { describe, expect, it } from 'vitest';
import { markBound, renderTables } from '../../bench/lib/report.js';
import type { StepShape } from '../../bench/lib/summarize.js';
import { bursty, closed, meta, paced, scenario, stalled, step } from './fixtures.js';

describe('steps marked generator/upstream bound', () => {
  it('a step is bound when direct did not sustain the same load; unmatched loads are null', () => {
    const results = [
      scenario('direct', [step('direct', closed(256), paced), step('direct', closed(512), stalled)]),
      scenario('proxy-plain', [
        step('proxy-plain', closed(256), bursty),
        step('proxy-plain', closed(512), bursty),
        step('proxy-plain', closed(1024), paced),
      ]),
    ];
    markBound(results);
    expect(results[0]!.steps.map((s) => s.bound)).toEqual([false, true]);
    expect(results[1]!.steps.map((s) => s.bound)).toEqual([false, true, null]);
  });

  it('loads are matched by kind, rate and prompt length, not by concurrency alone', () => {
    const prompt = (t: number): StepShape => ({
      kind: 'prompt',
      concurrency: 1,
      promptTokens: t,
      measuredPromptTokens: t + 1,
    });
    const results = [
      scenario('direct', [step('direct', closed(1), stalled), step('direct', prompt(512), paced)]),
      scenario('proxy-h4096', [step('proxy-h4096', prompt(512), paced), step('proxy-h4096', prompt(2048), paced)]),
    ];
    markBound(results);
    expect(results[1]!.steps.map((s) => s.bound)).toEqual([false, null]);
  });
});

describe('the tables', () => {
  const results = [
    scenario('direct', [step('direct', closed(256), paced), step('direct', closed(512), stalled)]),
    scenario('proxy-plain', [step('proxy-plain', closed(256), bursty), step('proxy-plain', closed(512), bursty)]),
    scenario('proxy-h4096', [
      step('proxy-h4096', { kind: 'prompt', concurrency: 1, promptTokens: 512, measuredPromptTokens: 511 }, paced),
    ]),
  ];
  markBound(results);
  const text = renderTables(meta({ ladder: [256, 512], promptTokens: [512] }), results);
  const row = (name: string, load: string): string =>
    text.split('\n').find((l) => l.startsWith(name) && l.split(/\s+/)[1] === load) ?? '';

  it('the burst share sits next to the ITL, and the bound mark ends the row', () => {
    expect(text).toMatch(/ITL p50 \/ p99 +ΔITL p50 \/ p99 +bursts %/);
    // proxy-plain at 256: ITL p50 0.2 ms, below direct's 20 — and 76 % of its gaps are bursts.
    expect(row('proxy-plain', '256')).toMatch(/0\.20 \/ 80\.00 .* 76\.2 .* no$/);
    expect(row('proxy-plain', '512')).toMatch(/gen\/up$/);
    expect(row('direct', '512')).toMatch(/NO +gen\/up$/);
    expect(text).toContain('bursts % = share of inter-token gaps under 1.00 ms');
  });

  it('CPU per 1,000 tokens of each process, the generator and its event-loop lag', () => {
    // 64 tokens, 0.4 s of gateway CPU → 6.250 s per 1,000 tokens; 0.4 s over 2 s = 20 % of a core;
    // 0.3 s of it on the main thread → 4.688 s (15 %).
    expect(row('proxy-plain', '256')).toBeTruthy();
    const cpuRows = text.split('CPU per step')[1]!;
    expect(cpuRows).toMatch(
      /proxy-plain +256 +6\.250 \(20%\) +4\.688 \(15%\) +0\.4 \/ 2\.5 \/ 12\.0 +3\.125 \(10%\) +9\.375 \(30%\) +10\.2 \/ 35\.0 \/ 80\.0 +no/,
    );
    expect(cpuRows).toMatch(/direct +256 +— +— +— +3\.125 \(10%\)/);
  });

  it('the prompt sweep is labelled by clients × measured prompt tokens', () => {
    expect(text).toMatch(/proxy-h4096 +1×511t /);
    expect(text).not.toMatch(/NaN|undefined/);
  });
});
