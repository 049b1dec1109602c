/** Worker entry: the artifact's ONNX Runtime session, running one micro-batch per call (off-thread.ts). */
import { workerData } from 'node:worker_threads';
import { serveWorkerCalls, transferring } from '../internal/worker-pool.js';
import type { BatchItem } from './batcher.js';
import { NearestSearch } from './nearest-search.js';
import type { SgtWorkerData } from './off-thread.js';
import { TransformRunner, type TransformJob } from './transform-runner.js';

const { dir, manifest, embeddings, settings } = workerData as SgtWorkerData; // posted by startWorkers, typed there

await serveWorkerCalls(async () => {
  const runner = await TransformRunner.open(dir, manifest, settings);
  const search = new NearestSearch(
    dir,
    embeddings,
    { vocab: manifest.vocabSize, hidden: manifest.hiddenSize },
    settings,
  );
  return {
    nearest: ({ embeds, tokens }: { embeds: Float32Array; tokens: number }) => search.nearest(embeds, tokens),
    run: async (items: BatchItem<TransformJob>[]) => {
      const results = await runner.run(items);
      const buffers = results.flatMap((r) => [r.embeds.buffer, r.plainEmbeds?.buffer]);
      return transferring(results, [...new Set(buffers.filter((b) => b instanceof ArrayBuffer))]);
    },
  };
});
