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
 */
import v8 from 'node:v8';

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

if (process.send !== undefined) {
  process.on('message', (message: unknown) => {
    if (typeof message !== 'object' || message === null) return;
    const { bench, id } = message as { bench?: unknown; id?: unknown }; // both checked below
    if (bench !== 'heap' || typeof id !== 'number') return;
    process.send?.({ bench: 'heap', id, sample: sample() });
  });
  // Listening must not keep the process alive: it exits on SIGTERM as it would without the probe.
  process.channel?.unref();
}
