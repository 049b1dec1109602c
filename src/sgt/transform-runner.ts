/**
 * One ONNX Runtime session of an artifact's transform.onnx and the batched run on it: ids and mask
 * right-padded, each request's noise in its own rows, each result cut back to its own rows (and,
 * when asked, encoded as `prompt_embeds`). The same code runs on the caller's thread or in the
 * transform worker (transform-worker.ts), so both give the same bits.
 */
import { join } from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { encodePromptEmbedsAscii, type EmbedsDtype } from '../embeds/index.js';
import {
  ATTENTION_MASK,
  INPUT_IDS,
  NOISE,
  PLAIN_EMBEDS,
  TRANSFORM_FILE,
  TRANSFORMED_EMBEDS,
  type SgtManifest,
} from './artifact.js';
import type { BatchItem } from './batcher.js';
import { SgtArtifactError, SgtDeviceUnavailableError } from './errors.js';
import { PromptNoise, type NoiseKey } from './noise/index.js';
import { createSession, ort, type SessionSettings } from './session.js';
import type { TransformResult } from './types.js';

/** One queued transform request. */
export interface TransformJob {
  readonly ids: Int32Array;
  readonly noise: NoiseKey | Float32Array;
  /** Also return the result as a base64 torch.save file of this dtype (`prompt_embeds`). */
  readonly encode?: EmbedsDtype;
}

/** Noise is generated in slices of this many values (~4 ms), yielding to the event loop in between. */
const NOISE_SLICE = 1 << 20;

export class TransformRunner {
  private readonly plainOutput: boolean;

  private constructor(
    private readonly dir: string,
    private readonly hidden: number,
    private readonly session: ort.InferenceSession,
  ) {
    this.plainOutput = session.outputNames.includes(PLAIN_EMBEDS);
  }

  static async open(dir: string, manifest: SgtManifest, settings: SessionSettings): Promise<TransformRunner> {
    return new TransformRunner(dir, manifest.hiddenSize, await openTransform(dir, manifest, settings));
  }

  release(): Promise<void> {
    return this.session.release();
  }

  /**
   * One ONNX Runtime call for a batch: ids and mask right-padded to the longest request (pad id 0,
   * mask 0), each request's noise from its own key in its own rows (padding rows stay 0: they are
   * masked, and must be finite since 0 · NaN would not be 0).
   */
  async run(items: readonly BatchItem<TransformJob>[]): Promise<TransformResult[]> {
    const started = performance.now();
    const hidden = this.hidden;
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
      const dtype = items[b]?.input.encode;
      if (dtype !== undefined) result.promptEmbeds = encodePromptEmbedsAscii(result.embeds, [tokens, hidden], dtype);
      return result;
    });
  }

  private outputData(
    out: ort.InferenceSession.OnnxValueMapType,
    name: string,
    batch: number,
    longest: number,
  ): Float32Array {
    const tensor = out[name];
    const expected = [batch, longest, this.hidden];
    if (tensor === undefined || tensor.type !== 'float32' || tensor.dims.join() !== expected.join()) {
      throw new SgtArtifactError(
        join(this.dir, TRANSFORM_FILE),
        `output "${name}" is ${tensor?.type} [${tensor?.dims.join(', ')}], expected float32 [${expected.join(', ')}]`,
      );
    }
    return tensor.data as Float32Array;
  }
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
