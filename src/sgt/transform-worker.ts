/** Worker entry: the artifact's ONNX Runtime session, running one micro-batch per call (off-thread.ts). */
import { workerData } from 'node:worker_threads';
import { serveWorkerCalls, transferring } from '../internal/worker-pool.js';
import type { BatchItem } from './batcher.js';
import { openBatchRunner, type SgtWorkerData } from './off-thread.js';
import type { TransformJob } from './transform-runner.js';

await serveWorkerCalls(async () => {
  const runner = await openBatchRunner(workerData as SgtWorkerData); // posted by startWorkers, typed there
  return {
    nearest: ({ embeds, tokens }: { embeds: Float32Array; tokens: number }) => runner.nearest(embeds, tokens),
    run: async (items: BatchItem<TransformJob>[]) => {
      const results = await runner.run(items);
      const buffers = results.flatMap((r) => [r.embeds.buffer, r.plainEmbeds?.buffer, r.promptEmbeds?.buffer]);
      return transferring(results, [...new Set(buffers.filter((b) => b instanceof ArrayBuffer))]);
    },
  };
});
