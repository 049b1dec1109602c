/**
 * `loadSgt`: validates an artifact directory (DESIGN.md §6) and runs it.
 * The embedding table is only read when `nearestTokens` is first called: the proxy's hot path
 * (template → tokens → transform) never needs it, and start-up stays fast.
 */
import { join, resolve } from 'node:path';
import {
  ATTENTION_MASK, EMBEDDINGS_FILE, EMBEDDINGS_TENSOR, INPUT_IDS, NOISE, PLAIN_EMBEDS, TRANSFORM_FILE, TRANSFORMED_EMBEDS,
  assertDirectory, checkEmbeddings, readManifest, type SgtManifest,
} from './artifact.js';
import { PromptTooLongError, SgtArtifactError, SgtDeviceUnavailableError, SgtInputError } from './errors.js';
import { gaussianNoise, randomNoiseSeed } from './noise.js';
import { NearestTokenIndex } from './reconstruct.js';
import { readSafetensorsFloat, type SafetensorsHeader } from './safetensors.js';
import { createSession, ort, sessionSettings, type SessionSettings } from './session.js';
import { SgtTokenizer, readTokenizerFiles } from './tokenizer.js';
import type { ChatMessage, LoadSgtOptions, Sgt, SgtMetadata, TransformOptions, TransformResult } from './types.js';

export async function loadSgt(dir: string, options: LoadSgtOptions = {}): Promise<Sgt> {
  const root = resolve(dir);
  const settings = sessionSettings(options.device, options.intraOpThreads);
  await assertDirectory(root);
  const manifest = await readManifest(root);
  // Cheapest checks first: the safetensors header is a few bytes, the tokenizer ~10 MB of JSON.
  const embeddings = await checkEmbeddings(root, manifest);
  const tokenizer = await loadTokenizer(root, manifest);
  const session = await openTransform(root, manifest, settings);
  return new LoadedSgt(root, manifest, tokenizer, embeddings, session, settings);
}

async function loadTokenizer(dir: string, manifest: SgtManifest): Promise<SgtTokenizer> {
  const files = await readTokenizerFiles(dir);
  if (files.maxId >= manifest.vocabSize) {
    throw new SgtArtifactError(files.tokenizerPath, `has token id ${files.maxId}, beyond vocab_size ${manifest.vocabSize} of sgt.json`);
  }
  return new SgtTokenizer(files);
}

/** Opens transform.onnx and checks its inputs/outputs against the contract and sgt.json. */
async function openTransform(dir: string, manifest: SgtManifest, settings: SessionSettings): Promise<ort.InferenceSession> {
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
  for (const name of manifest.inputs) if (!inputs.has(name)) throw new SgtArtifactError(path, `has no input "${name}" (listed in sgt.json)`);
  for (const name of inputs) if (!manifest.inputs.includes(name)) throw new SgtArtifactError(path, `has input "${name}" that sgt.json does not list`);
  for (const name of manifest.outputs) if (!outputs.has(name)) throw new SgtArtifactError(path, `has no output "${name}" (listed in sgt.json)`);
  for (const meta of [...session.inputMetadata, ...session.outputMetadata]) {
    const expected = EXPECTED_TYPES[meta.name];
    if (expected === undefined) continue;
    if (!meta.isTensor || meta.type !== expected.type || meta.shape.length !== expected.rank) {
      const actual = meta.isTensor ? `${meta.type} rank ${meta.shape.length}` : 'not a tensor';
      throw new SgtArtifactError(path, `"${meta.name}" must be ${expected.type} of rank ${expected.rank}, is ${actual}`);
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
  private nearestIndex: Promise<NearestTokenIndex> | undefined;
  private readonly inflight = new Set<Promise<unknown>>();
  private closed = false;

  constructor(
    readonly dir: string,
    manifest: SgtManifest,
    private readonly tokenizer: SgtTokenizer,
    private readonly embeddingsHeader: SafetensorsHeader,
    private readonly session: ort.InferenceSession,
    private readonly settings: SessionSettings,
  ) {
    this.metadata = {
      baseModel: manifest.baseModel,
      hiddenSize: manifest.hiddenSize,
      vocabSize: manifest.vocabSize,
      maxSequenceLength: manifest.maxSequenceLength,
    };
    this.plainOutput = session.outputNames.includes(PLAIN_EMBEDS);
  }

  renderPrompt(messages: readonly ChatMessage[]): string {
    return this.tokenizer.renderPrompt(messages);
  }

  tokenize(text: string): number[] {
    return this.tokenizer.encode(text);
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
    const hidden = this.metadata.hiddenSize;
    const seed = options.noiseSeed ?? randomNoiseSeed();
    if (typeof seed !== 'bigint') throw new SgtInputError('noiseSeed must be a bigint');
    const feeds = {
      [INPUT_IDS]: new ort.Tensor('int64', BigInt64Array.from(inputIds, (id) => BigInt(id)), [1, tokens]),
      // B = 1 for now: every position is real. Batching will pad and mask here.
      [ATTENTION_MASK]: new ort.Tensor('int64', new BigInt64Array(tokens).fill(1n), [1, tokens]),
      [NOISE]: new ort.Tensor('float32', gaussianNoise(tokens * hidden, seed), [1, tokens, hidden]),
    };
    const fetches = this.plainOutput ? [TRANSFORMED_EMBEDS, PLAIN_EMBEDS] : [TRANSFORMED_EMBEDS];
    const out = await this.track(this.session.run(feeds, fetches));
    const result: TransformResult = { embeds: this.outputData(out, TRANSFORMED_EMBEDS, tokens), tokens, hidden };
    if (this.plainOutput) result.plainEmbeds = this.outputData(out, PLAIN_EMBEDS, tokens);
    return result;
  }

  async nearestTokens(embeds: Float32Array, tokens: number): Promise<number[]> {
    this.assertOpen();
    // Built on first use and shared by concurrent callers; a failed build is retried next time.
    this.nearestIndex ??= this.buildNearestIndex().catch((error: unknown) => {
      this.nearestIndex = undefined;
      throw error;
    });
    try {
      const index = await this.nearestIndex;
      this.assertOpen(); // close() may have run while the index was being built
      return await this.track(index.nearest(embeds, tokens));
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
    // Releasing a session while a run is queued on it would free native memory under that run.
    await Promise.allSettled([...this.inflight]);
    await this.session.release();
    if (index !== undefined) await (await index.catch(() => undefined))?.close();
  }

  private async track<T>(run: Promise<T>): Promise<T> {
    this.inflight.add(run);
    try {
      return await run;
    } finally {
      this.inflight.delete(run);
    }
  }

  private async buildNearestIndex(): Promise<NearestTokenIndex> {
    const path = join(this.dir, EMBEDDINGS_FILE);
    const { data } = await readSafetensorsFloat(path, EMBEDDINGS_TENSOR, this.embeddingsHeader);
    return NearestTokenIndex.build(data, this.metadata.vocabSize, this.metadata.hiddenSize, this.settings);
  }

  private checkIds(inputIds: readonly number[]): number {
    const tokens = inputIds.length;
    if (tokens === 0) throw new SgtInputError('the prompt has no tokens');
    if (tokens > this.metadata.maxSequenceLength) throw new PromptTooLongError(tokens, this.metadata.maxSequenceLength);
    const vocab = this.metadata.vocabSize;
    for (const id of inputIds) {
      if (!Number.isInteger(id) || id < 0 || id >= vocab) throw new SgtInputError(`token id ${id} is outside [0, ${vocab})`);
    }
    return tokens;
  }

  private outputData(out: ort.InferenceSession.OnnxValueMapType, name: string, tokens: number): Float32Array {
    const tensor = out[name];
    const expected = [1, tokens, this.metadata.hiddenSize];
    if (tensor === undefined || tensor.type !== 'float32' || tensor.dims.join() !== expected.join()) {
      throw new SgtArtifactError(join(this.dir, TRANSFORM_FILE), `output "${name}" is ${tensor?.type} [${tensor?.dims.join(', ')}], expected float32 [${expected.join(', ')}]`);
    }
    return tensor.data as Float32Array;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('this SGT has been closed');
  }
}
