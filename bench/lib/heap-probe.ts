/**
 * Preloaded (`node --expose-gc --import …/heap-probe.js`) into every process the bench starts, so the
 * soak can judge memory by what a leak grows — the live heap after a full collection — rather than
 * by RSS, which V8 grows and shrinks on its own schedule. It adds no route to the process under test:
 * it answers on the IPC channel the bench opens to its own children (bench/lib/processes.ts), and
 * does nothing in a process started without one.
 *
 * On `{ bench: 'heap', id }` it forces a full, synchronous GC (when --expose-gc made `gc` available)
 * and replies `{ bench: 'heap', id, sample }` (HeapSample in processes.ts). The pause is measured and
 * reported: the soak asks every 15 s, a cost the soak's latency windows include.
 *
 * On `{ bench: 'loop', id }` it replies `{ bench: 'loop', id, lag }` (LoopLag in processes.ts): the
 * process's event-loop delay since the last such ask, and starts the next interval. The ladder asks
 * at each step's start and end: a gateway's main thread blocked by work that should be elsewhere (a
 * transform) shows here as delay. The delay is how late a 10 ms interval timer fires, recorded in
 * a perf_hooks histogram; not monitorEventLoopDelay, whose reset() drops the first period after it,
 * so a block right after a step's start would go unseen.
 */
import { createHistogram } from 'node:perf_hooks';
import v8 from 'node:v8';

const LAG_PERIOD_MS = 10;

type Gc = () => void;

function sample(): object {
  const gc = (globalThis as { gc?: Gc }).gc; // present only under --expose-gc
  const started = performance.now();
  gc?.();
  const gcMs = performance.now() - started;
  const heap = v8.getHeapStatistics();
  const memory = process.memoryUsage();
  return {
    usedBytes: heap.used_heap_size,
    totalBytes: heap.total_heap_size,
    externalBytes: memory.external,
    arrayBuffersBytes: memory.arrayBuffers,
    rssBytes: memory.rss,
    gcMs,
    forced: gc !== undefined,
  };
}

/** Starts recording how late each timer period ends (µs), and returns the reading: the delay since the last one. */
function loopDelayMonitor(): () => object {
  const delay = createHistogram();
  let last = performance.now();
  setInterval(() => {
    const now = performance.now();
    delay.record(Math.max(1, Math.round((now - last - LAG_PERIOD_MS) * 1000)));
    last = now;
  }, LAG_PERIOD_MS).unref();
  return () => {
    const ms = (us: number): number => (us <= 1 ? 0 : us / 1000);
    const lag =
      delay.count > 0
        ? { p50: ms(delay.percentile(50)), p99: ms(delay.percentile(99)), max: ms(delay.max), samples: delay.count }
        : { p50: 0, p99: 0, max: 0, samples: 0 };
    delay.reset();
    return lag;
  };
}

if (process.send !== undefined) {
  const loopDelay = loopDelayMonitor();
  process.on('message', (message: unknown) => {
    if (typeof message !== 'object' || message === null) return;
    const { bench, id } = message as { bench?: unknown; id?: unknown }; // both checked below
    if (typeof id !== 'number') return;
    if (bench === 'heap') process.send?.({ bench, id, sample: sample() });
    if (bench === 'loop') process.send?.({ bench, id, lag: loopDelay() });
  });
  // Listening must not keep the process alive: it exits on SIGTERM as it would without the probe.
  process.channel?.unref();
}
