/** Worker entry: the artifact's ONNX Runtime session, running one micro-batch per call (off-thread.ts). */
import { workerData } from 'node:worker_threads';
import { serveWorkerCalls, transferring } from '../internal/worker-pool.js';
import type { BatchItem } from './batcher.js';
import type { SgtWorkerData } from './off-thread.js';
import { TransformRunner, type TransformJob } from './transform-runner.js';

const { dir, manifest, settings } = workerData as SgtWorkerData; // posted by startWorkers, typed there

await serveWorkerCalls(async () => {
  const runner = await TransformRunner.open(dir, manifest, settings);
  return {
    run: async (items: BatchItem<TransformJob>[]) => {
      const results = await runner.run(items);
      const buffers = results.flatMap((r) => [r.embeds.buffer, r.plainEmbeds?.buffer]);
      return transferring(results, [...new Set(buffers.filter((b) => b instanceof ArrayBuffer))]);
    },
  };
});
