/**
 * The demo SGT's transform graph, written from code (DESIGN.md §6):
 *
 *   x      = float(Gather(table_f16, input_ids))                   plain embeddings [B,T,H]
 *   m      = float(attention_mask)
 *   mean_t = Σ_{s≤t} m_s x_s / max(1, Σ_{s≤t} m_s)                 causal running mean: sequence context
 *   c      = tanh((x + mean) · W_c + b_c)
 *   μ      = s · μ_gain · (c · W_μ)
 *   σ      = s · (1/√H) · softplus(c · W_σ + b_σ)
 *   out    = (x + (μ + σ ⊙ noise)) ⊙ m                            transformed_embeds
 *   plain  = x ⊙ m                                                plain_embeds
 *
 * So μ and σ depend on the token and on everything before it, and σ is in units of the embedding
 * table's per-component scale (rows are N(0, 1/H)): noise scale s ≈ noise/signal ratio.
 * With s = 0 both scale constants are exactly 0, μ and σ⊙noise are ±0, and out is x bit for bit
 * (the table never holds -0, the one value for which x + (+0) would change bits).
 */
import { ElemType, encodeModel, floatScalar, floatTensor, int64Tensor, node, rawTensor, valueInfo, type GraphSpec } from './onnx-builder.js';
import { ATTENTION_MASK, INPUT_IDS, NOISE, PLAIN_EMBEDS, TRANSFORMED_EMBEDS } from './artifact.js';
import { float32ArrayToFloat16Bits } from './float16.js';
import { deriveSeed, gaussianNoise } from './noise.js';

/** Independent PRNG streams derived from the one demo seed. */
const STREAM = { table: 1, contextWeights: 2, contextBias: 3, muWeights: 4, sigmaWeights: 5 } as const;
const MU_GAIN = 0.5;
/** softplus(ln(e − 1)) = 1: the baseline σ is exactly one table unit times s. */
const SIGMA_BIAS = Math.log(Math.E - 1);
const FLOAT16_NEGATIVE_ZERO = 0x8000;

/**
 * The embedding table [V,H] as float16 bits: N(0, 1/H) from `seed` alone, so every noise scale
 * (and the identity artifact) shares it. -0 is replaced by +0 (see the file comment).
 */
export function demoEmbeddingTable(seed: bigint, vocab: number, hidden: number): Uint16Array {
  const values = gaussianNoise(vocab * hidden, deriveSeed(seed, STREAM.table));
  scale(values, 1 / Math.sqrt(hidden));
  const bits = float32ArrayToFloat16Bits(values);
  for (let i = 0; i < bits.length; i++) if (bits[i] === FLOAT16_NEGATIVE_ZERO) bits[i] = 0;
  return bits;
}

export interface DemoTransformSpec {
  readonly table: Uint16Array;
  readonly vocab: number;
  readonly hidden: number;
  readonly noiseScale: number;
  readonly seed: bigint;
}

export function demoTransformModel(spec: DemoTransformSpec): Uint8Array {
  return encodeModel(demoTransformGraph(spec), 'sgt-proxy demo builder');
}

function demoTransformGraph({ table, vocab, hidden, noiseScale, seed }: DemoTransformSpec): GraphSpec {
  const h = hidden;
  const weights = (stream: number, count: number, gain: number): Float32Array =>
    scale(gaussianNoise(count, deriveSeed(seed, stream)), gain);
  return {
    name: 'sgt_demo_transform',
    docString: `demo Stained Glass Transform (noise scale ${noiseScale}); deterministic weights, not trained`,
    inputs: [
      valueInfo(INPUT_IDS, ElemType.INT64, ['B', 'T']),
      valueInfo(ATTENTION_MASK, ElemType.INT64, ['B', 'T']),
      valueInfo(NOISE, ElemType.FLOAT, ['B', 'T', h]),
    ],
    outputs: [valueInfo(TRANSFORMED_EMBEDS, ElemType.FLOAT, ['B', 'T', h]), valueInfo(PLAIN_EMBEDS, ElemType.FLOAT, ['B', 'T', h])],
    initializers: [
      rawTensor('embedding_table', ElemType.FLOAT16, [vocab, h], table),
      // Pre-activation c·W_c has unit variance for unit-norm inputs.
      floatTensor('w_context', [h, h], weights(STREAM.contextWeights, h * h, 1)),
      floatTensor('b_context', [h], weights(STREAM.contextBias, h, 0.1)),
      floatTensor('w_mu', [h, h], weights(STREAM.muWeights, h * h, 1 / h)),
      floatTensor('w_sigma', [h, h], weights(STREAM.sigmaWeights, h * h, 0.5 / Math.sqrt(h))),
      floatTensor('b_sigma', [h], new Float32Array(h).fill(SIGMA_BIAS)),
      floatScalar('mu_scale', noiseScale * MU_GAIN),
      floatScalar('sigma_scale', noiseScale / Math.sqrt(h)),
      floatScalar('one', 1),
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
      node('MatMul', ['context_in', 'w_context'], ['context_pre']),
      node('Add', ['context_pre', 'b_context'], ['context_biased']),
      node('Tanh', ['context_biased'], ['context']),
      node('MatMul', ['context', 'w_mu'], ['mu_raw']),
      node('Mul', ['mu_raw', 'mu_scale'], ['mu']),
      node('MatMul', ['context', 'w_sigma'], ['sigma_pre']),
      node('Add', ['sigma_pre', 'b_sigma'], ['sigma_biased']),
      node('Softplus', ['sigma_biased'], ['sigma_unit']),
      node('Mul', ['sigma_unit', 'sigma_scale'], ['sigma']),
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
