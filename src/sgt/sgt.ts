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
import { join, resolve } from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import PQueue from 'p-queue';
import {
  ATTENTION_MASK,
  EMBEDDINGS_FILE,
  EMBEDDINGS_TENSOR,
  INPUT_IDS,
  NOISE,
  PLAIN_EMBEDS,
  TRANSFORM_FILE,
  TRANSFORMED_EMBEDS,
  assertDirectory,
  checkEmbeddings,
  readManifest,
  transformFingerprint,
  type SgtManifest,
} from './artifact.js';
import { MicroBatcher, type BatchItem, type BatcherOptions } from './batcher.js';
import { PromptTooLongError, SgtArtifactError, SgtDeviceUnavailableError, SgtInputError } from './errors.js';
import { PromptNoise, assertNoiseKey, randomNoiseKey, type NoiseKey } from './noise/index.js';
import { NearestTokenIndex } from './reconstruct.js';
import { readSafetensorsFloatRows, type SafetensorsHeader } from './safetensors.js';
import { createSession, ort, sessionSettings, type SessionSettings } from './session.js';
import { SgtTokenizer, readTokenizerFiles } from './tokenizer.js';
import type {
  ChatMessage,
  LoadSgtOptions,
  Sgt,
  SgtDevice,
  SgtMetadata,
  SpecialTokensInContent,
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

/** Noise is generated in slices of this many values (~4 ms), yielding to the event loop in between. */
const NOISE_SLICE = 1 << 20;

export async function loadSgt(dir: string, options: LoadSgtOptions = {}): Promise<Sgt> {
  const root = resolve(dir);
  const settings = sessionSettings(options.device, options.intraOpThreads);
  batcherOptions(options, settings.device, 1); // invalid options fail before any file is read
  await assertDirectory(root);
  const manifest = await readManifest(root);
  const batching = batcherOptions(options, settings.device, manifest.hiddenSize);
  // Cheapest checks first: the safetensors header is a few bytes, the tokenizer ~10 MB of JSON.
  const embeddings = await checkEmbeddings(root, manifest);
  const tokenizer = await loadTokenizer(root, manifest);
  const session = await openTransform(root, manifest, settings);
  const fingerprint = await transformFingerprint(root);
  return new LoadedSgt(root, manifest, fingerprint, tokenizer, embeddings, session, settings, batching);
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

/** One queued transform request. */
interface TransformJob {
  readonly ids: Int32Array;
  readonly noise: NoiseKey | Float32Array;
}

async function loadTokenizer(dir: string, manifest: SgtManifest): Promise<SgtTokenizer> {
  const files = await readTokenizerFiles(dir);
  if (files.maxId >= manifest.vocabSize) {
    throw new SgtArtifactError(
      files.tokenizerPath,
      `has token id ${files.maxId}, beyond vocab_size ${manifest.vocabSize} of sgt.json`,
    );
  }
  return new SgtTokenizer(files);
}

/** Opens transform.onnx and checks its inputs/outputs against the contract and sgt.json. */
async function openTransform(
  dir: string,
  manifest: SgtManifest,
  settings: SessionSettings,
): Promise<ort.InferenceSession> {
  const path = join(dir, TRANSFORM_FILE);
  let session: ort.InferenceSession;
  try {
    session = await createSession(path, settings);
  } catch (error) {
    if (error instanceof SgtDeviceUnavailableError) throw error;
    throw new SgtArtifactError(path, `ONNX Runtime cannot load it: ${(error as Error).message}`, { cause: error });
  }
  try {
    checkSignature(path, session, manifest);
  } catch (error) {
    await session.release();
    throw error;
  }
  return session;
}

const EXPECTED_TYPES: Readonly<Record<string, { type: string; rank: number }>> = {
  [INPUT_IDS]: { type: 'int64', rank: 2 },
  [ATTENTION_MASK]: { type: 'int64', rank: 2 },
  [NOISE]: { type: 'float32', rank: 3 },
  [TRANSFORMED_EMBEDS]: { type: 'float32', rank: 3 },
  [PLAIN_EMBEDS]: { type: 'float32', rank: 3 },
};

function checkSignature(path: string, session: ort.InferenceSession, manifest: SgtManifest): void {
  const inputs = new Set(session.inputNames);
  const outputs = new Set(session.outputNames);
  for (const name of manifest.inputs)
    if (!inputs.has(name)) throw new SgtArtifactError(path, `has no input "${name}" (listed in sgt.json)`);
  for (const name of inputs)
    if (!manifest.inputs.includes(name))
      throw new SgtArtifactError(path, `has input "${name}" that sgt.json does not list`);
  for (const name of manifest.outputs)
    if (!outputs.has(name)) throw new SgtArtifactError(path, `has no output "${name}" (listed in sgt.json)`);
  for (const meta of [...session.inputMetadata, ...session.outputMetadata]) {
    const expected = EXPECTED_TYPES[meta.name];
    if (expected === undefined) continue;
    if (!meta.isTensor || meta.type !== expected.type || meta.shape.length !== expected.rank) {
      const actual = meta.isTensor ? `${meta.type} rank ${meta.shape.length}` : 'not a tensor';
      throw new SgtArtifactError(
        path,
        `"${meta.name}" must be ${expected.type} of rank ${expected.rank}, is ${actual}`,
      );
    }
    const last = meta.shape[expected.rank - 1];
    if (expected.rank === 3 && typeof last === 'number' && last !== manifest.hiddenSize) {
      throw new SgtArtifactError(path, `"${meta.name}" has hidden size ${last}, sgt.json says ${manifest.hiddenSize}`);
    }
  }
}

class LoadedSgt implements Sgt {
  readonly metadata: SgtMetadata;
  private readonly plainOutput: boolean;
  private readonly batcher: MicroBatcher<TransformJob, TransformResult>;
  /** Nearest-token searches run one at a time: each materialises a bounded score matrix. */
  private readonly nearestQueue = new PQueue({ concurrency: 1 });
  private nearestIndex: Promise<NearestTokenIndex> | undefined;
  private closed = false;

  constructor(
    readonly dir: string,
    manifest: SgtManifest,
    readonly fingerprint: string,
    private readonly tokenizer: SgtTokenizer,
    private readonly embeddingsHeader: SafetensorsHeader,
    private readonly session: ort.InferenceSession,
    private readonly settings: SessionSettings,
    batching: BatcherOptions,
  ) {
    this.metadata = {
      baseModel: manifest.baseModel,
      hiddenSize: manifest.hiddenSize,
      vocabSize: manifest.vocabSize,
      maxSequenceLength: manifest.maxSequenceLength,
    };
    this.plainOutput = session.outputNames.includes(PLAIN_EMBEDS);
    this.batcher = new MicroBatcher((items) => this.runBatch(items), batching);
  }

  renderPrompt(messages: readonly ChatMessage[]): string {
    return this.tokenizer.renderPrompt(messages);
  }

  /**
   * Refuses, before tokenizing, a text too long to fit in max_sequence_length tokens whatever it
   * says (more characters than that many of the longest token): tokenizing 1 MB of one "word" takes
   * ~10 s of the event loop, to find it too long.
   */
  tokenize(text: string): number[] {
    this.checkLength(text);
    return this.tokenizer.encode(text);
  }

  tokenizeChat(
    messages: readonly ChatMessage[],
    options: { specialTokensInContent?: SpecialTokensInContent } = {},
  ): number[] {
    const rendered = this.renderPrompt(messages);
    this.checkLength(rendered);
    if (options.specialTokensInContent === 'control') return this.tokenizer.encode(rendered);
    return this.tokenizer.encodeWithTextContents(
      rendered,
      messages.map((m) => m.content),
    );
  }

  private checkLength(text: string): void {
    const limit = this.metadata.maxSequenceLength;
    const perToken = this.tokenizer.maxTokenChars;
    if (text.length > limit * perToken)
      throw new PromptTooLongError(Math.ceil(text.length / perToken), limit, { characters: text.length });
  }

  decode(ids: readonly number[]): string {
    return this.tokenizer.decode(ids);
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
    const input = { ids: Int32Array.from(inputIds), noise: noise instanceof Float32Array ? noise.slice() : noise };
    return this.batcher.submit(input, tokens, options.signal);
  }

  /**
   * One ONNX Runtime call for a batch: ids and mask right-padded to the longest request (pad id 0,
   * mask 0), each request's noise from its own key in its own rows (padding rows stay 0: they are
   * masked, and must be finite since 0 · NaN would not be 0).
   */
  private async runBatch(items: readonly BatchItem<TransformJob>[]): Promise<TransformResult[]> {
    const started = performance.now();
    const hidden = this.metadata.hiddenSize;
    const batch = items.length;
    const longest = items.reduce((n, item) => Math.max(n, item.tokens), 0);
    const inputIds = new BigInt64Array(batch * longest);
    const mask = new BigInt64Array(batch * longest);
    items.forEach(({ input, tokens }, b) => {
      for (let t = 0; t < tokens; t++) {
        inputIds[b * longest + t] = BigInt(input.ids[t] as number);
        mask[b * longest + t] = 1n;
      }
    });
    const noise = new Float32Array(batch * longest * hidden);
    await fillBatchNoise(noise, items, longest * hidden, hidden);
    const noiseDone = performance.now();
    const feeds = {
      [INPUT_IDS]: new ort.Tensor('int64', inputIds, [batch, longest]),
      [ATTENTION_MASK]: new ort.Tensor('int64', mask, [batch, longest]),
      [NOISE]: new ort.Tensor('float32', noise, [batch, longest, hidden]),
    };
    const fetches = this.plainOutput ? [TRANSFORMED_EMBEDS, PLAIN_EMBEDS] : [TRANSFORMED_EMBEDS];
    const out = await this.session.run(feeds, fetches);
    const runDone = performance.now();
    const transformed = this.outputData(out, TRANSFORMED_EMBEDS, batch, longest);
    const plain = this.plainOutput ? this.outputData(out, PLAIN_EMBEDS, batch, longest) : undefined;
    return items.map(({ tokens, submittedAt }, b) => {
      const result: TransformResult = {
        embeds: rowsOf(transformed, b, longest, tokens, hidden, batch),
        tokens,
        hidden,
        timing: {
          batchSize: batch,
          paddedTokens: batch * longest,
          queuedMs: started - submittedAt,
          noiseMs: noiseDone - started,
          runMs: runDone - noiseDone,
        },
      };
      if (plain !== undefined) result.plainEmbeds = rowsOf(plain, b, longest, tokens, hidden, batch);
      return result;
    });
  }

  async nearestTokens(embeds: Float32Array, tokens: number): Promise<number[]> {
    this.assertOpen();
    const limit = this.metadata.maxSequenceLength;
    if (Number.isSafeInteger(tokens) && tokens > limit) {
      throw new SgtInputError(
        `nearestTokens takes at most ${limit} tokens (max_sequence_length) per call, got ${tokens}`,
      );
    }
    // Built on first use and shared by concurrent callers; a failed build is retried next time.
    this.nearestIndex ??= this.buildNearestIndex().catch((error: unknown) => {
      this.nearestIndex = undefined;
      throw error;
    });
    try {
      const index = await this.nearestIndex;
      this.assertOpen(); // close() may have run while the index was being built
      return await this.nearestQueue.add(() => index.nearest(embeds, tokens));
    } catch (error) {
      if (error instanceof RangeError) throw new SgtInputError(error.message, { cause: error });
      throw error;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const index = this.nearestIndex;
    this.nearestIndex = undefined;
    // Releasing a session while a run is queued on it would free native memory under that run:
    // reject what waits, let what runs finish.
    await this.batcher.close();
    await this.nearestQueue.onIdle();
    await this.session.release();
    if (index !== undefined) await (await index.catch(() => undefined))?.close();
  }

  private async buildNearestIndex(): Promise<NearestTokenIndex> {
    const path = join(this.dir, EMBEDDINGS_FILE);
    const readRows = (first: number, count: number): Promise<Float32Array> =>
      readSafetensorsFloatRows(path, EMBEDDINGS_TENSOR, first, count, this.embeddingsHeader);
    return NearestTokenIndex.build(readRows, this.metadata.vocabSize, this.metadata.hiddenSize, this.settings);
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

  private outputData(
    out: ort.InferenceSession.OnnxValueMapType,
    name: string,
    batch: number,
    longest: number,
  ): Float32Array {
    const tensor = out[name];
    const expected = [batch, longest, this.metadata.hiddenSize];
    if (tensor === undefined || tensor.type !== 'float32' || tensor.dims.join() !== expected.join()) {
      throw new SgtArtifactError(
        join(this.dir, TRANSFORM_FILE),
        `output "${name}" is ${tensor?.type} [${tensor?.dims.join(', ')}], expected float32 [${expected.join(', ')}]`,
      );
    }
    return tensor.data as Float32Array;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('this SGT has been closed');
  }
}

/**
 * Request b's rows [0, tokens) of a [batch, longest, hidden] output. A batch of one is returned as
 * is; otherwise copied, so that one request's result does not keep the whole batch's buffer alive.
 */
function rowsOf(
  data: Float32Array,
  b: number,
  longest: number,
  tokens: number,
  hidden: number,
  batch: number,
): Float32Array {
  if (batch === 1 && tokens === longest) return data;
  const start = b * longest * hidden;
  return data.slice(start, start + tokens * hidden);
}

/**
 * Fills each request's real rows with its own noise. Large batches are generated in slices of
 * whole positions with a turn of the event loop in between, so a 100 ms batch of noise does not
 * stall the other requests' streams (SSE) for 100 ms.
 */
async function fillBatchNoise(
  noise: Float32Array,
  items: readonly BatchItem<TransformJob>[],
  rowStride: number,
  hidden: number,
): Promise<void> {
  const positionsPerSlice = Math.max(1, Math.floor(NOISE_SLICE / hidden));
  let sinceYield = 0;
  for (const [b, { input, tokens }] of items.entries()) {
    const base = b * rowStride;
    if (input.noise instanceof Float32Array) {
      noise.set(input.noise, base);
      continue;
    }
    const prompt = new PromptNoise(input.ids, input.noise);
    for (let from = 0; from < tokens; from += positionsPerSlice) {
      if (sinceYield >= NOISE_SLICE) {
        sinceYield = 0;
        await yieldToEventLoop();
      }
      const to = Math.min(tokens, from + positionsPerSlice);
      prompt.fill(noise.subarray(base + from * hidden, base + to * hidden), from, to, hidden);
      sinceYield += (to - from) * hidden;
    }
  }
}
