import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RESULTS, log } from './harness.js';
import { closedShape } from './ladder.js';
import { runLoad, sleep } from './load.js';
import { machineMeta } from './meta.js';
import type { Options } from './options.js';
import { MemorySampler, stopAll, type ManagedChild } from './processes.js';
import type { ScenarioName } from './report.js';
import { requestBody, setUp } from './scenarios.js';
import { renderSoak, soakChart, soakReport, type HeapPoint, type RssPoint } from './soak-report.js';
import type { RequestRecord } from './sse-request.js';
import { summarizeStep, type StepSummary } from './summarize.js';

/** How often the judged process is asked for its heap after a forced GC (each ask pauses it briefly). */
const HEAP_INTERVAL_MS = 15_000;
const MiB = 1024 * 1024;

/**
 * The soak: 10 minutes (by default) at a fixed concurrency against one gateway, in windows; RSS every
 * 5 s, the heap after a forced GC every 15 s; the check (soak-report.ts) on the heap, exit code 1 on
 * growth or a lost token.
 */
export async function soak(options: Options): Promise<void> {
  const started = performance.now();
  const startedAt = new Date().toISOString();
  const preferred: ScenarioName[] = options.soakScenario ? [options.soakScenario] : ['proxy', 'proxy-plain'];
  const { live, results, upstreams } = await setUp(options, preferred);
  const target =
    options.soakScenario === 'direct'
      ? live.find((l) => l.result.name === 'direct')
      : live.find((l) => l.result.name !== 'direct' && preferred.includes(l.result.name));
  if (!target)
    throw new Error(
      `soak: no scenario of ${preferred.join(', ')} could run: ${results.map((r) => `${r.name} ${r.status} ${r.reason ?? ''}`).join('; ')}`,
    );
  const notes = results.filter((r) => r.status !== 'ran').map((r) => `${r.name} ${r.status}: ${r.reason}`);
  const judged: ManagedChild = target.gateway ?? target.upstream.child;
  const children = (): ManagedChild[] => [
    ...upstreams.map((u) => u.child),
    ...(target.gateway ? [target.gateway] : []),
  ];
  const sampler = new MemorySampler(children, 5_000);
  const body = requestBody(target.upstream.model, options.maxTokens);
  log(
    `soak: ${target.result.name}, ${options.soakConcurrency} clients, ${options.soakMinutes} min (warm-up ${options.warmupMs / 1000} s first)`,
  );
  await runLoad(closedShape(4, options.warmupMs, options), {
    target: target.target,
    body,
    maxTokens: options.maxTokens,
    timeoutMs: 30_000,
    requestId: (n) => `b-warmup-${n}`,
  });

  const durationMs = options.soakMinutes * 60_000;
  const windowMs = Math.max(5_000, Math.min(30_000, durationMs / 10));
  const windows: Array<StepSummary & { tS: number }> = [];
  const heap: HeapPoint[] = [];
  let buffer: RequestRecord[] = [];
  let windowStart = performance.now();
  const soakStart = windowStart;
  const flush = async (): Promise<void> => {
    const records = buffer;
    buffer = [];
    const now = performance.now();
    const ids = records.filter((r) => r.ttftMs !== null).map((r) => r.requestId);
    await target.upstream.log.waitFor(ids, 1_000);
    const w = {
      tS: (now - soakStart) / 1000,
      ...summarizeStep({
        scenario: target.result.name,
        shape: { kind: 'closed', concurrency: options.soakConcurrency },
        records,
        wallMs: now - windowStart,
        dropped: 0,
        pacingMs: options.intervalMs,
        timings: target.upstream.log.timings,
        gatewayRssPeakKiB: target.gateway ? sampler.peakRss(target.gateway.name, windowStart, now) : null,
        upstreamRssPeakKiB: sampler.peakRss(target.upstream.child.name, windowStart, now),
      }),
    };
    windows.push(w);
    target.upstream.log.forget(ids);
    const h = heap.at(-1);
    log(
      `soak t=${w.tS.toFixed(0)} s: ${w.ok}/${w.requests} ok, TTFT p99 ${w.ttft.p99?.toFixed(1)}, ITL p99 ${w.itl.p99?.toFixed(1)}, RSS ${w.gatewayRssPeakMiB?.toFixed(0)} MiB, ` +
        `heap after GC ${h ? h.usedMiB.toFixed(1) : '—'} MiB, lost ${w.lostTokens}`,
    );
    windowStart = now;
  };
  const sampleHeap = async (): Promise<void> => {
    const s = await judged.heap();
    if (s === null) return;
    heap.push({
      tS: (performance.now() - soakStart) / 1000,
      usedMiB: s.usedBytes / MiB,
      totalMiB: s.totalBytes / MiB,
      externalMiB: s.externalBytes / MiB,
      gcMs: s.gcMs,
    });
    if (!s.forced)
      notes.push(`${judged.name} has no gc() (not started with --expose-gc): heap samples are without a GC`);
  };
  sampler.start();
  await sampleHeap();
  let flushing = Promise.resolve();
  const windowTimer = setInterval(() => {
    flushing = flushing.then(flush);
  }, windowMs);
  let heapSampling = Promise.resolve();
  const heapTimer = setInterval(() => {
    heapSampling = heapSampling.then(sampleHeap);
  }, HEAP_INTERVAL_MS);
  const load = await runLoad(
    {
      ...closedShape(options.soakConcurrency, durationMs, options),
      maxRequests: options.soakConcurrency * Math.ceil(durationMs / (options.maxTokens * options.intervalMs) + 1) * 4,
    },
    {
      target: target.target,
      body,
      maxTokens: options.maxTokens,
      timeoutMs: options.maxTokens * options.intervalMs * 5 + 10_000,
      requestId: (n) => `b-soak-${n}`,
      onRecord: (r) => void buffer.push(r),
    },
  );
  clearInterval(windowTimer);
  clearInterval(heapTimer);
  await flushing;
  await heapSampling;
  if (buffer.length > 0) await flush();
  await sleep(3_000);
  sampler.sample();
  sampler.stop();

  const seriesOf = (child: string): RssPoint[] =>
    (sampler.series.get(child) ?? []).map((s) => ({
      tS: (s.tMs - soakStart) / 1000,
      rssMiB: s.rssKiB / 1024,
      hwmMiB: s.hwmKiB / 1024,
    }));
  // The upstream's memory over the same load, for comparison.
  const upstreamRss = target.gateway ? seriesOf(target.upstream.child.name) : null;
  const after = judged.memory();
  await stopAll();

  const report = soakReport({
    meta: machineMeta(options, startedAt, (performance.now() - started) / 1000, [...new Set(notes)]),
    scenario: target.result.name,
    process: judged.name,
    concurrency: options.soakConcurrency,
    minutes: options.soakMinutes,
    loadWallS: load.wallMs / 1000,
    windows,
    rss: seriesOf(judged.name),
    heap,
    after: { hwmMiB: after ? after.hwmKiB / 1024 : null, rssMiB: after ? after.rssKiB / 1024 : null },
    upstream: { name: target.upstream.child.name, rss: upstreamRss },
  });
  process.stdout.write(`\n${renderSoak(report)}\n`);
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(join(RESULTS, 'bench-soak.json'), `${JSON.stringify(report, null, 2)}\n`);
  const svg = join(RESULTS, 'bench-soak.svg');
  writeFileSync(svg, soakChart(report));
  // The README's soak chart: only a soak with the preset's settings replaces it.
  if (isPresetSoak(options)) copyFileSync(svg, join(RESULTS, 'soak.svg'));
  log(
    `wrote bench/results/bench-soak.json, bench/results/bench-soak.svg${isPresetSoak(options) ? ', bench/results/soak.svg' : ''}`,
  );
  if (!report.verdict.passed) process.exitCode = 1;
}

function isPresetSoak(options: Options): boolean {
  return (
    !options.custom &&
    options.soakMinutes === 10 &&
    options.soakConcurrency === 64 &&
    options.soakScenario === undefined
  );
}
