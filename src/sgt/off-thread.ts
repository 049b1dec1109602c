/**
 * The SGT's heavy steps on worker threads, so that the event loop relaying streams never waits on
 * them: a pool of tokenizer workers (chat template + tokenizer) and one transform worker that holds
 * the artifact's ONNX Runtime session and runs each micro-batch (noise, the run, encoding).
 *
 * One transform worker, not one per pool slot: a session folds the transform's weights to float32
 * when it is created (3 × H² × 4 bytes, 192 MiB at H 4096) and may read the embedding table into its
 * own memory, so a session per worker would multiply the proxy's memory by the pool size. ONNX
 * Runtime parallelises one run over its intra-op threads instead; the batcher (on the caller's
 * thread) keeps forming batches while one runs.
 */
import type { Transferable } from 'node:worker_threads';
import { WorkerPool, WorkerCallError } from '../internal/worker-pool.js';
import { workerScript } from '../internal/worker-script.js';
import type { SgtManifest } from './artifact.js';
import type { BatchItem } from './batcher.js';
import { PromptTooLongError, SgtArtifactError, SgtInputError, SgtOverloadedError } from './errors.js';
import type { SafetensorsHeader } from './safetensors.js';
import type { SessionSettings } from './session.js';
import { NearestSearch } from './nearest-search.js';
import { TransformRunner, type TransformJob } from './transform-runner.js';
import type { ChatMessage, ChatTemplateInput, SpecialTokensInContent, TransformResult } from './types.js';

/** Runs one micro-batch (transform-runner.ts), here or in the transform worker. */
export interface BatchRunner {
  run(items: readonly BatchItem<TransformJob>[]): Promise<TransformResult[]>;
  /** `Sgt.nearestTokens`: where the transform runs, since its index is ONNX Runtime work too. */
  nearest(embeds: Float32Array, tokens: number): Promise<number[]>;
  release(): Promise<void>;
}

export interface TokenizerPool {
  encodeChat(
    messages: readonly ChatMessage[],
    special: SpecialTokensInContent,
    template: ChatTemplateInput,
  ): Promise<number[]>;
  encodePrompt(text: string): Promise<number[]>;
  decode(sequences: readonly (readonly number[])[]): Promise<string[]>;
  close(): Promise<void>;
}

/** What both worker entries load: the artifact, as loadSgt has already validated it. */
export interface SgtWorkerData {
  dir: string;
  manifest: SgtManifest;
  embeddings: SafetensorsHeader;
  settings: SessionSettings;
}

/** The transform's session and the nearest-token search, on this thread (the in-thread SGT, the transform worker). */
export async function openBatchRunner({ dir, manifest, embeddings, settings }: SgtWorkerData): Promise<BatchRunner> {
  const runner = await TransformRunner.open(dir, manifest, settings);
  const table = { vocab: manifest.vocabSize, hidden: manifest.hiddenSize };
  const search = new NearestSearch(dir, embeddings, table, settings);
  return {
    run: (items) => runner.run(items),
    nearest: (embeds, tokens) => search.nearest(embeds, tokens),
    release: async () => {
      await search.close();
      await runner.release();
    },
  };
}

export async function startWorkers(
  workerData: SgtWorkerData,
  tokenizerWorkers: number,
  maxQueued: number,
  onCrash?: (error: Error) => void,
): Promise<{ runner: BatchRunner; tokenizers: TokenizerPool }> {
  let tokenizing = 0;
  const transform = new WorkerPool({
    size: 1,
    script: workerScript(import.meta.url, 'transform-worker'),
    workerData,
    onCrash,
  });
  const tokenize = new WorkerPool({
    size: tokenizerWorkers,
    script: workerScript(import.meta.url, 'tokenize-worker'),
    workerData,
    onCrash,
  });
  try {
    await Promise.all([transform.ready(), tokenize.ready()]);
  } catch (error) {
    await Promise.all([transform.close(), tokenize.close()]);
    throw artifactErrorOf(error);
  }
  return {
    runner: {
      // The batcher's items also hold its callbacks: only the data crosses.
      run: (items) =>
        transform.call(
          'run',
          items.map(({ input, tokens, submittedAt }) => ({ input, tokens, submittedAt })),
          transferList(items),
        ),
      nearest: (embeds, tokens) => transform.call('nearest', { embeds, tokens }),
      release: () => transform.close(),
    },
    tokenizers: {
      encodeChat: (messages, special, template) => tokenizeCall('encodeChat', { messages, special, template }),
      encodePrompt: (text) => tokenizeCall('encodePrompt', { text }),
      decode: (sequences) => tokenize.call<string[]>('decode', { sequences }),
      close: () => tokenize.close(),
    },
  };

  async function tokenizeCall(method: string, payload: unknown): Promise<number[]> {
    // The same bound as the transform's queue: a flood of huge prompts is refused, not queued.
    if (tokenizing >= maxQueued) throw new SgtOverloadedError(tokenizing, maxQueued, 1);
    tokenizing++;
    try {
      return await tokenize.call<number[]>(method, payload);
    } catch (error) {
      throw sgtErrorOf(error);
    } finally {
      tokenizing--;
    }
  }
}

/** Explicit noise (attacks, tests) is moved to the worker, not copied: loadSgt already holds a copy. */
function transferList(items: readonly BatchItem<TransformJob>[]): Transferable[] {
  return items.flatMap(({ input }) =>
    input.noise instanceof Float32Array && input.noise.buffer instanceof ArrayBuffer ? [input.noise.buffer] : [],
  );
}

/**
 * A worker that could not load the artifact (its tokenizer, checked there and only there when the
 * SGT has workers) fails loadSgt as the caller's thread would have: an SgtArtifactError naming the
 * file. A thread's uncaught error arrives with its name, message and own fields, not its class.
 */
function artifactErrorOf(error: unknown): unknown {
  if (!(error instanceof Error) || error.name !== 'SgtArtifactError') return error;
  const { file } = error as Error & { file?: unknown };
  if (typeof file !== 'string') return error;
  const prefix = `${file}: `;
  const problem = error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
  return new SgtArtifactError(file, problem, { cause: error });
}

/** The tokenizer's own errors keep their types across the thread boundary (the HTTP layer maps them). */
function sgtErrorOf(error: unknown): unknown {
  if (!(error instanceof WorkerCallError)) return error;
  if (error.errorName === 'SgtInputError') return new SgtInputError(error.message);
  if (error.errorName === 'PromptTooLongError' && isTooLong(error.data))
    return new PromptTooLongError(error.data.tokens, error.data.limit, error.data);
  return error;
}

function isTooLong(data: unknown): data is { tokens: number; limit: number; characters?: number } {
  return typeof data === 'object' && data !== null && 'tokens' in data && 'limit' in data;
}
