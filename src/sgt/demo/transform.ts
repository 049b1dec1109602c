/**
 * The demo SGT's transform graph, written from code (docs/sgt-artifact.md):
 *
 *   x      = float(Gather(table_f16, input_ids))                   plain embeddings [B,T,H]
 *   m      = float(attention_mask)
 *   mean_t = Σ_{s≤t} m_s x_s / max(1, Σ_{s≤t} m_s)                 causal running mean: sequence context
 *   a      = (x + mean) · W_c + b_c
 *   c      = a / √(1 + a²)                                         algebraic sigmoid, in (−1, 1)
 *   μ      = s · μ_gain/H · (c · W_μ)
 *   z      = c · W_σ
 *   σ      = s · (1/√H) · (z + √(z² + 4)) / 2                      algebraic softplus: > 0, exactly 1 at z = 0
 *   out    = (x + (μ + σ ⊙ noise)) ⊙ m                            transformed_embeds
 *   plain  = x ⊙ m                                                plain_embeds
 *
 * So μ and σ depend on the token and on everything before it, and σ is in units of the embedding
 * table's per-component scale (rows are N(0, 1/H)): noise scale s ≈ noise/signal ratio.
 * With s = 0 both scale constants are exactly 0, μ and σ⊙noise are ±0, and out is x bit for bit
 * (the table never holds -0, the one value for which x + (+0) would change bits).
 *
 * Batching: a row's result must not depend on the other rows of a batch or on padding. The causal
 * mean only looks backwards and masks padding, so right padding (what the batcher uses) and left
 * padding both leave real positions alone. Numerically, every elementwise op here is a correctly
 * rounded IEEE operation (+ − × ÷ √, max) or pure data movement: ONNX Runtime's vectorised and
 * scalar code paths agree bit for bit, wherever a row lands in the thread partition of a larger
 * batch. (tanh / softplus, used before builder version 2, run through approximations whose
 * vector and scalar-remainder results differ in the last bit, so a row's output changed by an ulp
 * depending on its neighbours.) GEMM rows are independent and accumulate in the same order.
 *
 * Storage: the embedding table is not copied into the graph; it is ONNX external data pointing at
 * the `weight` bytes inside embeddings.safetensors (same bits for the transform and the attack).
 * The three H×H weight matrices are float16 in `transform.onnx.data`, cast to float32 by the graph
 * (ONNX Runtime folds the casts once, at session creation). Both are written in chunks, so a
 * Mistral-7B-shaped build (H 4096, V 32 000) never holds a whole tensor in memory.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { ATTENTION_MASK, INPUT_IDS, NOISE, PLAIN_EMBEDS, TRANSFORMED_EMBEDS } from '../artifact.js';
import { float32ArrayToFloat16Bits } from '../float16.js';
import { GaussianStream, deriveSeed, gaussianNoise } from '../seeded-normal.js';
import {
  ElemType,
  encodeModel,
  externalTensor,
  floatScalar,
  floatTensor,
  int64Tensor,
  node,
  valueInfo,
  type GraphSpec,
} from '../onnx-builder.js';

/** The file beside transform.onnx that holds its float16 weight matrices. */
export const DEMO_WEIGHTS_FILE = 'transform.onnx.data';

/** Independent PRNG streams derived from the one demo seed. */
const STREAM = { table: 1, contextWeights: 2, contextBias: 3, muWeights: 4, sigmaWeights: 5 } as const;
/**
 * μ's gain at H 64, scaled by √(64 / H) elsewhere. μ is a deterministic, roughly linear function
 * of the token, as large as σ: a linear map learned from known pairs reads it back through the
 * noise, and the evidence for the right row grows with √H (measured by the privacy audit's
 * regression at H 4096 × V 32 000, default noise 34.32: 9.9% of content tokens with a fixed gain,
 * 8.8% even at noise 64; see docs/privacy.md). Scaling the gain keeps μ's evidence per token the
 * same at every size, and leaves the H 64 default unchanged.
 */
const MU_GAIN_AT_64 = 0.5;

function muGain(hidden: number): number {
  return MU_GAIN_AT_64 * Math.sqrt(64 / hidden);
}
const FLOAT16_NEGATIVE_ZERO = 0x8000;
/** Values generated per chunk when streaming a tensor to disk (4 MiB of float32). */
const CHUNK_VALUES = 1 << 20;
/** Weight matrices start at multiples of this in transform.onnx.data (lets ORT map them). */
const WEIGHT_ALIGNMENT = 4096;

/**
 * The embedding table [V,H] as float16 bytes, `rowsPerChunk` rows at a time: N(0, 1/H) from
 * `seed` alone, so every noise scale (and the identity artifact) shares it. -0 is replaced by +0
 * (see the file comment). The yielded bytes are reused: consume each chunk before the next.
 */
export function* demoTableChunks(seed: bigint, vocab: number, hidden: number): Generator<Uint8Array> {
  yield* gaussianFloat16Chunks(deriveSeed(seed, STREAM.table), vocab * hidden, 1 / Math.sqrt(hidden), hidden);
}

/** `count` N(0, gain²) values as float16 bytes, in chunks of whole rows of `rowLength`. */
function* gaussianFloat16Chunks(seed: bigint, count: number, gain: number, rowLength: number): Generator<Uint8Array> {
  const stream = new GaussianStream(seed);
  const chunk = Math.max(1, Math.floor(CHUNK_VALUES / rowLength)) * rowLength;
  const values = new Float32Array(Math.min(chunk, count));
  const halves = new Uint16Array(values.length);
  for (let done = 0; done < count; done += chunk) {
    const n = Math.min(chunk, count - done);
    const slice = values.subarray(0, n);
    stream.fill(slice);
    scale(slice, gain);
    const bits = float32ArrayToFloat16Bits(slice, halves.subarray(0, n));
    for (let i = 0; i < n; i++) if (bits[i] === FLOAT16_NEGATIVE_ZERO) bits[i] = 0;
    yield new Uint8Array(bits.buffer, bits.byteOffset, bits.byteLength);
  }
}

/** Where a tensor's bytes are, relative to the model's directory. */
export interface ExternalLocation {
  readonly location: string;
  readonly offset: number;
  readonly length: number;
}

export interface DemoWeights {
  readonly context: ExternalLocation;
  readonly mu: ExternalLocation;
  readonly sigma: ExternalLocation;
}

/**
 * Writes the three [H,H] float16 weight matrices to `path` (DEMO_WEIGHTS_FILE), streamed, each
 * aligned. Stored at unit-ish scale (gains that would push float16 into its subnormal range are
 * applied in the graph instead).
 */
export async function writeDemoWeights(path: string, seed: bigint, hidden: number): Promise<DemoWeights> {
  const count = hidden * hidden;
  const handle = await open(path, 'w');
  let offset = 0;
  const write = async (stream: number, gain: number): Promise<ExternalLocation> => {
    const start = Math.ceil(offset / WEIGHT_ALIGNMENT) * WEIGHT_ALIGNMENT;
    if (start > offset) await writeAll(handle, new Uint8Array(start - offset));
    for (const chunk of gaussianFloat16Chunks(deriveSeed(seed, stream), count, gain, hidden))
      await writeAll(handle, chunk);
    offset = start + count * 2;
    return { location: DEMO_WEIGHTS_FILE, offset: start, length: count * 2 };
  };
  try {
    // Pre-activation a has unit variance for unit-norm inputs; W_μ's 1/H gain is applied in the graph.
    const context = await write(STREAM.contextWeights, 1);
    const mu = await write(STREAM.muWeights, 1);
    const sigma = await write(STREAM.sigmaWeights, 0.5 / Math.sqrt(hidden));
    return { context, mu, sigma };
  } finally {
    await handle.close();
  }
}

async function writeAll(handle: FileHandle, bytes: Uint8Array): Promise<void> {
  for (let done = 0; done < bytes.byteLength;)
    done += (await handle.write(bytes, done, bytes.byteLength - done)).bytesWritten;
}

export interface DemoTransformSpec {
  /** The float16 [V,H] table's bytes (inside embeddings.safetensors). */
  readonly table: ExternalLocation;
  readonly weights: DemoWeights;
  readonly vocab: number;
  readonly hidden: number;
  readonly noiseScale: number;
  readonly seed: bigint;
}

export function demoTransformModel(spec: DemoTransformSpec): Uint8Array {
  return encodeModel(demoTransformGraph(spec), 'sgt-proxy demo builder');
}

function demoTransformGraph({ table, weights, vocab, hidden, noiseScale, seed }: DemoTransformSpec): GraphSpec {
  const h = hidden;
  const external = (name: string, where: ExternalLocation): ReturnType<typeof externalTensor> =>
    externalTensor(
      name,
      ElemType.FLOAT16,
      name === 'embedding_table' ? [vocab, h] : [h, h],
      where.location,
      where.offset,
      where.length,
    );
  return {
    name: 'sgt_demo_transform',
    docString: `demo Stained Glass Transform (noise scale ${noiseScale}); deterministic weights, not trained`,
    inputs: [
      valueInfo(INPUT_IDS, ElemType.INT64, ['B', 'T']),
      valueInfo(ATTENTION_MASK, ElemType.INT64, ['B', 'T']),
      valueInfo(NOISE, ElemType.FLOAT, ['B', 'T', h]),
    ],
    outputs: [
      valueInfo(TRANSFORMED_EMBEDS, ElemType.FLOAT, ['B', 'T', h]),
      valueInfo(PLAIN_EMBEDS, ElemType.FLOAT, ['B', 'T', h]),
    ],
    initializers: [
      external('embedding_table', table),
      external('w_context_half', weights.context),
      external('w_mu_half', weights.mu),
      external('w_sigma_half', weights.sigma),
      floatTensor('b_context', [h], scale(gaussianNoise(h, deriveSeed(seed, STREAM.contextBias)), 0.1)),
      floatScalar('mu_scale', (noiseScale * muGain(h)) / h),
      // σ = s/√H · (z + √(z²+4)) / 2: the halving is folded into the scale.
      floatScalar('sigma_half_scale', noiseScale / (2 * Math.sqrt(h))),
      floatScalar('one', 1),
      floatScalar('four', 4),
      int64Tensor('seq_axis', [], [1]),
      int64Tensor('last_axis', [1], [-1]),
    ],
    nodes: [
      node('Gather', ['embedding_table', INPUT_IDS], ['x_half'], { axis: 0 }),
      node('Cast', ['x_half'], ['x'], { to: ElemType.FLOAT }),
      node('Cast', [ATTENTION_MASK], ['mask'], { to: ElemType.FLOAT }),
      node('Unsqueeze', ['mask', 'last_axis'], ['mask3']),
      node('Mul', ['x', 'mask3'], [PLAIN_EMBEDS]),
      // Causal running mean of the (masked) embeddings: the sequence context of each position.
      node('CumSum', [PLAIN_EMBEDS, 'seq_axis'], ['prefix_sum']),
      node('CumSum', ['mask', 'seq_axis'], ['prefix_count']),
      node('Max', ['prefix_count', 'one'], ['prefix_count_safe']),
      node('Unsqueeze', ['prefix_count_safe', 'last_axis'], ['prefix_count3']),
      node('Div', ['prefix_sum', 'prefix_count3'], ['causal_mean']),
      node('Add', ['x', 'causal_mean'], ['context_in']),
      node('Cast', ['w_context_half'], ['w_context'], { to: ElemType.FLOAT }),
      node('MatMul', ['context_in', 'w_context'], ['context_pre']),
      node('Add', ['context_pre', 'b_context'], ['context_biased']),
      // c = a / √(1 + a²)
      node('Mul', ['context_biased', 'context_biased'], ['context_sq']),
      node('Add', ['context_sq', 'one'], ['context_sq1']),
      node('Sqrt', ['context_sq1'], ['context_norm']),
      node('Div', ['context_biased', 'context_norm'], ['context']),
      node('Cast', ['w_mu_half'], ['w_mu'], { to: ElemType.FLOAT }),
      node('MatMul', ['context', 'w_mu'], ['mu_raw']),
      node('Mul', ['mu_raw', 'mu_scale'], ['mu']),
      node('Cast', ['w_sigma_half'], ['w_sigma'], { to: ElemType.FLOAT }),
      node('MatMul', ['context', 'w_sigma'], ['sigma_pre']),
      // (z + √(z² + 4)) · s/(2√H)
      node('Mul', ['sigma_pre', 'sigma_pre'], ['sigma_sq']),
      node('Add', ['sigma_sq', 'four'], ['sigma_sq4']),
      node('Sqrt', ['sigma_sq4'], ['sigma_root']),
      node('Add', ['sigma_pre', 'sigma_root'], ['sigma_sum']),
      node('Mul', ['sigma_sum', 'sigma_half_scale'], ['sigma']),
      node('Mul', ['sigma', NOISE], ['scaled_noise']),
      node('Add', ['mu', 'scaled_noise'], ['delta']),
      node('Add', ['x', 'delta'], ['shifted']),
      node('Mul', ['shifted', 'mask3'], [TRANSFORMED_EMBEDS]),
    ],
  };
}

function scale(values: Float32Array, factor: number): Float32Array {
  for (let i = 0; i < values.length; i++) values[i] = (values[i] as number) * factor;
  return values;
}
