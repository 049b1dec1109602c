import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { categoryOf, summarizeProfile } from '../../bench/lib/profile.js';

const frame = (functionName: string, url: string) => ({
  functionName,
  url,
  lineNumber: 9,
  columnNumber: 0,
  scriptId: '1',
});

describe('CPU profile summary', () => {
  it("charges each sample's time delta to the function on top of the stack", () => {
    const root = '/repo';
    const profile = {
      nodes: [
        { id: 1, callFrame: frame('(root)', ''), children: [2, 3, 4, 5] },
        { id: 2, callFrame: frame('(idle)', '') },
        { id: 3, callFrame: frame('transform', 'file:///repo/dist/sgt/sgt.js') },
        { id: 4, callFrame: frame('parse', 'file:///repo/node_modules/eventsource-parser/dist/index.js') },
        { id: 5, callFrame: frame('(garbage collector)', '') },
      ],
      samples: [2, 3, 3, 4, 5, 3],
      timeDeltas: [5000, 1000, 1000, 500, 250, 1000],
      startTime: 0,
      endTime: 8750,
    };
    const dir = mkdtempSync(join(tmpdir(), 'bench-profile-'));
    const file = join(dir, 'p.cpuprofile');
    writeFileSync(file, JSON.stringify(profile));
    const s = summarizeProfile(file, root);
    expect(s.totalMs).toBeCloseTo(8.75);
    expect(s.idleMs).toBeCloseTo(5);
    expect(s.busyMs).toBeCloseTo(3.75);
    expect(s.functions[0]).toMatchObject({
      name: 'transform',
      where: 'dist/sgt/sgt.js:10',
      category: 'sgt-proxy: sgt',
      selfMs: 3,
    });
    expect(s.categories.map((c) => c.category)).toEqual(['sgt-proxy: sgt', 'npm: eventsource-parser', 'GC']);
  });

  it('categories: our modules, npm packages (scoped too), node internals, native', () => {
    expect(categoryOf(frame('f', 'file:///r/node_modules/@hono/node-server/dist/index.mjs'), '/r')).toBe(
      'npm: @hono/node-server',
    );
    expect(categoryOf(frame('f', 'node:internal/webstreams/readablestream'), '/r')).toBe('node: internal/webstreams');
    expect(categoryOf(frame('(program)', ''), '/r')).toBe('program (native, outside JS)');
    expect(categoryOf(frame('f', 'file:///r/dist/stream/chunks.js'), '/r')).toBe('sgt-proxy: stream');
  });
});
