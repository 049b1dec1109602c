/**
 * `loadSgt`: validates an artifact directory (docs/sgt-artifact.md) and runs it.
 * The embedding table is only read when `nearestTokens` is first called: the proxy's hot path
 * (template → tokens → transform) never needs it, and start-up stays fast.
 *
 * `transform` calls are micro-batched (batcher.ts): each batch is one ONNX Runtime call over the
 * requests right-padded to the longest, `attention_mask` 0 on the padding. Each request's noise is
 * the first T·H values of the N(0, 1) stream of its own seed, whatever batch it lands in, so a
 * seeded request gives the same embeddings alone or batched (tested element-wise).
 */
import { resolve } from 'node:path';
import { assertDirectory, checkEmbeddings, readManifest, transformFingerprint, type SgtManifest } from './artifact.js';
import { MicroBatcher, type BatchItem, type BatcherOptions } from './batcher.js';
import { PromptTooLongError, SgtInputError } from './errors.js';
import { assertNoiseKey, randomNoiseKey } from './noise/index.js';
import { openBatchRunner, startWorkers, type BatchRunner, type TokenizerPool } from './off-thread.js';
import { WorkerCallError } from '../internal/worker-pool.js';
import { sessionSettings } from './session.js';
import { loadSgtTokenizer, loadSgtTokenizerSync, type SgtTokenizer } from './tokenizer.js';
import type { TransformJob } from './transform-runner.js';
import type {
  ChatMessage,
  LoadSgtOptions,
  Sgt,
  SgtDevice,
  SgtMetadata,
  ChatTemplateInput,
  TokenizeChatOptions,
  TransformOptions,
  TransformResult,
} from './types.js';

/** Defaults of the micro-batcher (LoadSgtOptions documents each; README.md the measurements). */
export const BATCHING_DEFAULTS = Object.freeze({
  maxBatchSize: 16,
  /**
   * Default `maxBatchTokens` = this many values per [B, T, H] activation ÷ H. On CPU a batch gains
   * throughput only while its activations stay cache-sized (2 cores, one ONNX call of B × T: at
   * H 256, 16 × 128 gave 1.8× the tokens/s of single calls, 4 × 512 1.3×, 16 × 512 0.75×, any
   * B × 2048 < 1×); a GPU wants far larger calls.
   */
  batchValues: { cpu: 1 << 19, cuda: 1 << 25 } as Readonly<Record<SgtDevice, number>>,
  maxBatchWaitMs: 0,
  maxQueuedRequests: 256,
  batchPadding: 'buckets',
} as const);

/** `maxBatchTokens` when not given: BATCHING_DEFAULTS.batchValues of the device ÷ hidden size, at least 1. */
export function defaultMaxBatchTokens(device: SgtDevice, hidden: number): number {
  return Math.max(1, Math.floor(BATCHING_DEFAULTS.batchValues[device] / hidden));
}

export async function loadSgt(dir: string, options: LoadSgtOptions = {}): Promise<Sgt> {
  const root = resolve(dir);
  const workers = options.workers ?? 0;
  if (!Number.isSafeInteger(workers) || workers < 0)
    throw new RangeError(`workers must be an integer >= 0, got ${workers}`);
  const settings = sessionSettings(options.device, options.intraOpThreads);
  batcherOptions(options, settings.device, 1); // invalid options fail before any file is read
  await assertDirectory(root);
  const manifest = await readManifest(root);
  const batching = batcherOptions(options, settings.device, manifest.hiddenSize);
  // Cheapest checks first: the safetensors header is a few bytes, the tokenizer ~10 MB of JSON.
  const embeddings = await checkEmbeddings(root, manifest);
  // With workers, they hold the tokenizer (and check it as they start): a copy here would cost this
  // thread ~50 MiB of heap for methods the proxy's requests never call on it.
  const tokenizer = workers === 0 ? await loadSgtTokenizer(root, manifest.vocabSize) : undefined;
  const threads =
    workers === 0
      ? { runner: await openBatchRunner({ dir: root, manifest, embeddings, settings }) }
      : await startWorkers(
          { dir: root, manifest, embeddings, settings },
          workers,
          batching.maxQueued,
          options.onWorkerCrash,
        );
  const fingerprint = await transformFingerprint(root);
  return new LoadedSgt(root, manifest, fingerprint, tokenizer, threads, batching);
}

function batcherOptions(options: LoadSgtOptions, device: SgtDevice, hidden: number): BatcherOptions {
  const positiveInt = (name: string, value: number | undefined, fallback: number): number => {
    const v = value ?? fallback;
    if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
    return v;
  };
  const maxWaitMs = options.maxBatchWaitMs ?? BATCHING_DEFAULTS.maxBatchWaitMs;
  if (!Number.isFinite(maxWaitMs) || maxWaitMs < 0)
    throw new RangeError(`maxBatchWaitMs must be a finite number >= 0, got ${maxWaitMs}`);
  const padding = options.batchPadding ?? BATCHING_DEFAULTS.batchPadding;
  if (padding !== 'buckets' && padding !== 'longest')
    throw new RangeError(`batchPadding must be "buckets" or "longest", got ${JSON.stringify(padding)}`);
  return {
    maxBatchSize: positiveInt('maxBatchSize', options.maxBatchSize, BATCHING_DEFAULTS.maxBatchSize),
    maxBatchTokens: positiveInt('maxBatchTokens', options.maxBatchTokens, defaultMaxBatchTokens(device, hidden)),
    maxWaitMs,
    maxQueued: positiveInt('maxQueuedRequests', options.maxQueuedRequests, BATCHING_DEFAULTS.maxQueuedRequests),
    padding,
  };
}

class LoadedSgt implements Sgt {
  readonly metadata: SgtMetadata;
  private readonly runner: BatchRunner;
  private readonly tokenizers: TokenizerPool | undefined;
  private ownTokenizer: SgtTokenizer | undefined;
  private readonly batcher: MicroBatcher<TransformJob, TransformResult>;
  private closed = false;

  constructor(
    readonly dir: string,
    manifest: SgtManifest,
    readonly fingerprint: string,
    tokenizer: SgtTokenizer | undefined,
    threads: { runner: BatchRunner; tokenizers?: TokenizerPool },
    batching: BatcherOptions,
  ) {
    this.ownTokenizer = tokenizer;
    this.runner = threads.runner;
    this.tokenizers = threads.tokenizers;
    this.metadata = {
      baseModel: manifest.baseModel,
      hiddenSize: manifest.hiddenSize,
      vocabSize: manifest.vocabSize,
      maxSequenceLength: manifest.maxSequenceLength,
    };
    this.batcher = new MicroBatcher((items) => this.runBatch(items), batching);
  }

  get queuedTransforms(): number {
    return this.batcher.queued;
  }

  /** This thread's tokenizer, for the in-thread methods: loaded on first use when workers hold theirs. */
  private get tokenizer(): SgtTokenizer {
    this.ownTokenizer ??= loadSgtTokenizerSync(this.dir, this.metadata.vocabSize);
    return this.ownTokenizer;
  }

  renderPrompt(messages: readonly ChatMessage[], template?: ChatTemplateInput): string {
    return this.tokenizer.renderPrompt(messages, template);
  }

  tokenize(text: string): number[] {
    this.tokenizer.checkLength(text, this.metadata.maxSequenceLength);
    return this.tokenizer.encode(text);
  }

  tokenizeChat(messages: readonly ChatMessage[], options: TokenizeChatOptions = {}): number[] {
    return this.tokenizer.encodeChat(
      messages,
      this.metadata.maxSequenceLength,
      options.specialTokensInContent,
      options.template,
    );
  }

  async tokenizeChatOffThread(messages: readonly ChatMessage[], options: TokenizeChatOptions = {}): Promise<number[]> {
    this.assertOpen();
    if (this.tokenizers === undefined) return this.tokenizeChat(messages, options);
    return this.tokenizers.encodeChat(messages, options.specialTokensInContent ?? 'text', options.template ?? {});
  }

  async tokenizePromptOffThread(text: string): Promise<number[]> {
    this.assertOpen();
    if (this.tokenizers === undefined) return this.tokenizer.encodePrompt(text, this.metadata.maxSequenceLength);
    return this.tokenizers.encodePrompt(text);
  }

  decode(ids: readonly number[]): string {
    return this.tokenizer.decode(ids);
  }

  async decodeOffThread(sequences: readonly (readonly number[])[]): Promise<string[]> {
    this.assertOpen();
    if (this.tokenizers === undefined) return sequences.map((ids) => this.decode(ids));
    return this.tokenizers.decode(sequences);
  }

  createStreamingDecoder(): (id: number) => string {
    return this.tokenizer.createStreamingDecoder();
  }

  async transform(inputIds: readonly number[], options: TransformOptions = {}): Promise<TransformResult> {
    this.assertOpen();
    const tokens = this.checkIds(inputIds);
    const noise = options.noise ?? randomNoiseKey();
    if (noise instanceof Float32Array) {
      const expected = tokens * this.metadata.hiddenSize;
      if (noise.length !== expected)
        throw new SgtInputError(`noise has ${noise.length} values, expected ${tokens}×${this.metadata.hiddenSize}`);
    } else {
      assertNoiseKey(noise);
    }
    // Copies: the caller may reuse its arrays before the batch runs.
    const input: TransformJob = {
      ids: Int32Array.from(inputIds),
      noise: noise instanceof Float32Array ? noise.slice() : noise,
      ...(options.encode === undefined ? {} : { encode: options.encode }),
    };
    return this.batcher.submit(input, tokens, options.signal);
  }

  private async runBatch(items: readonly BatchItem<TransformJob>[]): Promise<TransformResult[]> {
    return this.runner.run(items);
  }

  async nearestTokens(embeds: Float32Array, tokens: number): Promise<number[]> {
    this.assertOpen();
    const limit = this.metadata.maxSequenceLength;
    if (Number.isSafeInteger(tokens) && tokens > limit) {
      throw new SgtInputError(
        `nearestTokens takes at most ${limit} tokens (max_sequence_length) per call, got ${tokens}`,
      );
    }
    try {
      return await this.runner.nearest(embeds, tokens);
    } catch (error) {
      // The index's own argument checks (RangeError), also when raised in the transform worker.
      const name = error instanceof WorkerCallError ? error.errorName : error instanceof Error ? error.name : '';
      if (name === 'RangeError') throw new SgtInputError((error as Error).message, { cause: error });
      throw error;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Releasing a session while a run is queued on it would free native memory under that run:
    // reject what waits, let what runs finish.
    await this.batcher.close();
    await this.runner.release();
    await this.tokenizers?.close();
  }

  private checkIds(inputIds: readonly number[]): number {
    const tokens = inputIds.length;
    if (tokens === 0) throw new SgtInputError('the prompt has no tokens');
    if (tokens > this.metadata.maxSequenceLength) throw new PromptTooLongError(tokens, this.metadata.maxSequenceLength);
    const vocab = this.metadata.vocabSize;
    for (const id of inputIds) {
      if (!Number.isInteger(id) || id < 0 || id >= vocab)
        throw new SgtInputError(`token id ${id} is outside [0, ${vocab})`);
    }
    return tokens;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('this SGT has been closed');
  }
}
