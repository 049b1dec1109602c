import { describe, expect, it } from 'vitest';
import { escapeXml, niceScale, renderChart } from '../../bench/lib/svg.js';

describe('SVG chart', () => {
  const svg = renderChart({
    title: 'latency <vs> concurrency & more',
    subtitle: 'a "subtitle"',
    xLabel: 'concurrency',
    xTicks: [1, 16, 64],
    colors: { direct: '#333333' },
    panels: [
      {
        title: 'TTFT p50',
        yLabel: 'ms',
        series: [
          {
            name: 'direct',
            points: [
              [1, 21],
              [16, 22],
              [64, 25],
            ],
          },
          {
            name: 'proxy-plain',
            points: [
              [1, 30],
              [16, null],
              [64, 40],
            ],
          },
          {
            name: 'peer',
            points: [
              [1, 50],
              [16, 52],
              [64, 60],
            ],
          },
        ],
      },
      {
        title: 'ITL p99',
        yLabel: 'ms',
        series: [
          {
            name: 'direct',
            points: [
              [1, 20],
              [16, 21],
              [64, 22],
            ],
          },
        ],
      },
    ],
  });

  it('is one SVG document with escaped text', () => {
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('latency &lt;vs&gt; concurrency &amp; more');
    expect(svg).toContain('a &quot;subtitle&quot;');
    expect(svg).not.toMatch(/NaN|undefined|Infinity/);
  });

  it('draws one polyline per scenario and panel; a missing point breaks the line', () => {
    const polylines = svg.match(/<polyline /g) ?? [];
    // Panel 1: direct, peer (proxy-plain has a gap, so its runs have one point each: no line). Panel 2: direct.
    expect(polylines).toHaveLength(3);
    expect(svg.match(/stroke="#333333" stroke-width="2" points/g)).toHaveLength(2);
    // Every point still gets its marker.
    expect(svg.match(/<circle [^>]*><title>/g)?.length).toBe(3 + 2 + 3 + 3);
  });

  it('labels both axes and ticks the ladder', () => {
    expect(svg).toContain('>concurrency</text>');
    expect(svg).toContain('>ms</text>');
    for (const x of ['1', '16', '64']) expect(svg).toContain(`text-anchor="middle" fill="#333">${x}</text>`);
    expect(svg).toContain('>proxy-plain</text>');
  });

  it('niceScale: 1-2-5 steps from zero', () => {
    expect(niceScale(47)).toEqual({ max: 50, step: 10 });
    expect(niceScale(61)).toEqual({ max: 80, step: 20 });
    expect(niceScale(0)).toEqual({ max: 1, step: 0.2 });
    expect(escapeXml('<&>"')).toBe('&lt;&amp;&gt;&quot;');
  });
});

describe('SVG chart: own x axes, linear time, shaded steps', () => {
  const svg = renderChart({
    title: 't',
    subtitle: 's',
    xLabel: 'clients',
    xTicks: [1, 16, 64, 256],
    shadeLabel: 'direct not sustained: generator/upstream bound',
    panels: [
      {
        title: 'TTFT p50',
        yLabel: 'ms',
        series: [
          {
            name: 'direct',
            points: [
              [1, 20],
              [16, 21],
              [64, 22],
              [256, 90],
            ],
          },
        ],
        shade: [256],
      },
      {
        title: 'TTFT against prompt length',
        yLabel: 'ms',
        x: { label: 'prompt tokens', ticks: [128, 512, 2048] },
        series: [
          {
            name: 'direct',
            points: [
              [128, 25],
              [512, 30],
              [2048, 45],
            ],
          },
        ],
      },
      {
        title: 'heap',
        yLabel: 'MiB',
        x: { label: 'minutes', ticks: [0, 1, 2], scale: 'linear' },
        series: [
          {
            name: 'heap',
            points: [
              [0, 40],
              [0.5, 41],
              [2, 40],
            ],
          },
        ],
      },
    ],
  });

  it('each panel labels and ticks its own axis', () => {
    expect(svg).toContain('>clients</text>');
    expect(svg).toContain('>prompt tokens</text>');
    expect(svg).toContain('>minutes</text>');
    for (const x of ['128', '512', '2048', '0']) expect(svg).toContain(`text-anchor="middle" fill="#333">${x}</text>`);
  });

  it('a linear axis places x = 0 (a log axis could not) and spaces ticks evenly', () => {
    const ticks = [...svg.matchAll(/<text x="([\d.]+)" y="[\d.]+" text-anchor="middle" fill="#333">([012])<\/text>/g)]
      .map((m) => Number(m[1]))
      .slice(-3); // the heap panel's 0, 1, 2 (the first panel has a 1 too)
    expect(ticks[1]! - ticks[0]!).toBeCloseTo(ticks[2]! - ticks[1]!, 1);
    expect(svg).toContain('heap @ 0: 40.00');
  });

  it('shades only the marked steps, once labelled', () => {
    expect(svg.match(/fill="#ececec"\/>/g)).toHaveLength(1); // the band; its legend swatch has a stroke
    expect(svg.match(/generator\/upstream bound/g)).toHaveLength(1);
    expect(svg).not.toMatch(/NaN|undefined|Infinity/);
  });
});
