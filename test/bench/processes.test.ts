import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startChild, type ManagedChild } from '../../bench/lib/processes.js';

/**
 * The heap probe in a real child process, over the real IPC channel. The probe is TypeScript; the
 * child runs it as the bench does, compiled (here with the TypeScript compiler, into a temp dir).
 */
const dir = mkdtempSync(join(tmpdir(), 'bench-heap-probe-'));
const probe = join(dir, 'heap-probe.mjs');
const server = join(dir, 'server.mjs');

// A small server standing in for a gateway: /grow keeps 200 000 objects alive, /free lets them go,
// /block holds its event loop for 300 ms.
const SERVER = `
import http from 'node:http';
let kept = [];
const server = http.createServer((req, res) => {
  if (req.url === '/grow') kept = Array.from({ length: 200000 }, (_, i) => ({ i, s: 'x' + i }));
  if (req.url === '/free') kept = [];
  if (req.url === '/block') for (const end = Date.now() + 300; Date.now() < end; );
  res.end('ok');
});
server.listen(Number(process.env.PORT), '127.0.0.1');
process.once('SIGTERM', () => server.close());
`;

async function start(name: string, withProbe: boolean): Promise<{ child: ManagedChild; port: number }> {
  const port = await freePort();
  const child = await startChild({
    name,
    nodeArgs: withProbe ? ['--expose-gc', '--import', probe, server] : [server],
    env: { ...process.env, PORT: String(port), NODE_OPTIONS: '' },
    cwd: dir,
    outputFile: join(dir, `${name}.log`),
    readyUrl: `http://127.0.0.1:${port}/`,
    readyTimeoutMs: 20_000,
  });
  return { child, port };
}

describe('heap after a forced GC, read from a child over IPC', () => {
  let probed: { child: ManagedChild; port: number };
  beforeAll(async () => {
    const source = readFileSync('bench/lib/heap-probe.ts', 'utf8');
    const compiled = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    });
    writeFileSync(probe, compiled.outputText);
    writeFileSync(server, SERVER);
    probed = await start('probed', true);
  });
  afterAll(async () => {
    await probed.child.stop(2_000);
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers with the heap in use after a forced collection', async () => {
    const sample = await probed.child.heap();
    expect(sample).toMatchObject({ forced: true });
    expect(sample!.usedBytes).toBeGreaterThan(1024 * 1024);
    expect(sample!.totalBytes).toBeGreaterThanOrEqual(sample!.usedBytes);
    expect(sample!.rssBytes).toBeGreaterThan(sample!.usedBytes);
    expect(sample!.gcMs).toBeGreaterThanOrEqual(0);
  });

  it('live objects show; garbage does not (the GC before the reading collects it)', async () => {
    const base = (await probed.child.heap())!.usedBytes;
    await fetch(`http://127.0.0.1:${probed.port}/grow`).then((r) => r.text());
    const grown = (await probed.child.heap())!.usedBytes;
    expect(grown - base).toBeGreaterThan(8 * 1024 * 1024);
    await fetch(`http://127.0.0.1:${probed.port}/free`).then((r) => r.text());
    const freed = (await probed.child.heap())!.usedBytes;
    expect(freed - base).toBeLessThan(2 * 1024 * 1024);
  });

  it('concurrent asks each get their own answer', async () => {
    const samples = await Promise.all([probed.child.heap(), probed.child.heap(), probed.child.heap()]);
    expect(samples.every((s) => s !== null && s.forced)).toBe(true);
  });

  it("reads the child's event-loop delay since the last ask: a blocked loop shows, then a fresh interval", async () => {
    const get = (path: string) => fetch(`http://127.0.0.1:${probed.port}${path}`).then((r) => r.text());
    await probed.child.loopLag(); // starts the interval
    await get('/block');
    const blocked = await probed.child.loopLag();
    expect(blocked!.max).toBeGreaterThan(250);
    expect(blocked!.samples).toBeGreaterThan(0);
    await get('/free');
    const after = await probed.child.loopLag();
    expect(after!.max).toBeLessThan(250); // the block was in the previous interval
  });

  it('a child without the probe: no answer, bounded by the timeout', async () => {
    const plain = await start('plain', false);
    try {
      const started = performance.now();
      expect(await plain.child.heap(300)).toBeNull();
      expect(await plain.child.loopLag(300)).toBeNull();
      expect(performance.now() - started).toBeLessThan(2_000);
    } finally {
      await plain.child.stop(2_000);
    }
  });

  it('the IPC channel keeps neither side alive: SIGTERM ends the child by itself, no SIGKILL', async () => {
    const other = await start('exits', true);
    expect(await other.child.heap()).not.toBeNull();
    await other.child.stop(10_000);
    expect(await other.child.exited).toEqual({ code: 0, signal: null });
    expect(await other.child.heap(100)).toBeNull();
  });
});
