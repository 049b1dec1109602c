import { describe, expect, it } from 'vitest';
import { ladderChart } from '../../bench/lib/chart.js';
import { markBound } from '../../bench/lib/report.js';
import { bursty, closed, meta, paced, scenario, stalled, step } from './fixtures.js';

describe('the ladder chart', () => {
  const prompt = (t: number) => ({ kind: 'prompt' as const, concurrency: 1, promptTokens: t, measuredPromptTokens: t });
  const results = [
    scenario('direct', [
      step('direct', closed(256), paced),
      step('direct', closed(1024), stalled),
      step('direct', prompt(128), paced),
    ]),
    scenario('proxy-plain', [step('proxy-plain', closed(256), bursty), step('proxy-plain', closed(1024), bursty)]),
    scenario('proxy-h4096', [step('proxy-h4096', prompt(128), paced), step('proxy-h4096', prompt(2048), paced)]),
  ];
  markBound(results);
  const svg = ladderChart(meta({ ladder: [256, 1024], promptTokens: [128, 2048] }), results);
  const titles = [...svg.matchAll(/font-weight="bold">([^<]+)<\/text>/g)].map((m) => m[1]);

  it('plots bursts and gateway CPU instead of the inter-token p50', () => {
    expect(titles).toEqual([
      'sgt-proxy bench (full): latency vs concurrency, side by side',
      'TTFT p50',
      'TTFT p99',
      'inter-token latency p99',
      'bursts: share of inter-token gaps &lt; 1 ms',
      'gateway CPU per 1,000 relayed tokens',
      'TTFT p50 against prompt length (1 client)',
    ]);
    expect(svg).toContain('proxy-plain @ 256: 76.19'); // the bursts panel, in %
  });

  it('shades the load direct did not sustain in each concurrency panel, with a legend entry', () => {
    expect(svg.match(/fill="#ececec"\/>/g)).toHaveLength(5);
    expect(svg).toContain('generator/upstream bound');
  });

  it('the prompt panel has its own axis and only the prompt sweep’s points', () => {
    expect(svg).toContain('>prompt tokens (log scale)</text>');
    expect(svg).toContain('proxy-h4096 @ 2048: 25.00');
    expect(svg).not.toContain('proxy-h4096 @ 256');
    expect(svg).not.toMatch(/NaN|undefined|Infinity/);
  });

  it('a run with only the prompt sweep draws only its panel', () => {
    const only = ladderChart(meta({ promptTokens: [128, 2048] }), [results[2]!]);
    expect(only.match(/<polyline /g)).toHaveLength(1);
    expect(only).not.toMatch(/NaN|undefined|Infinity/);
  });
});
