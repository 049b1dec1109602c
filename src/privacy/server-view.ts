/**
 * What the two sides of an audit can do. The proxy side sends a prompt as the product does (the
 * noise key of its mode); the server side holds what docs/privacy.md says a curious server holds:
 * the embedding table, the SGT weights (it can run the transform with noise of its choosing), and
 * every embedding it receives — but not the noise secret.
 */
import { join } from 'node:path';
import { NoiseKeys, noiseFor, readSafetensorsFloat, type NoiseKey, type NoiseMode, type Sgt } from '../sgt/index.js';

/** One request as the server receives it, with what the audit (not the server) knows about it. */
export interface SentPrompt {
  /** [T, H] transformed embeddings: the server's view. */
  readonly embeds: Float32Array;
  /** The noise that was used: ground truth for scoring noise prediction, never given to an attack. */
  readonly noise: () => Float32Array;
}

export class ProxySide {
  private readonly keys: NoiseKeys;

  constructor(
    readonly sgt: Sgt,
    secret: Uint8Array,
  ) {
    this.keys = new NoiseKeys(secret, sgt.fingerprint);
  }

  /** Sends `ids` as the proxy would in `mode` (fresh: a new random root for every call). */
  async send(ids: readonly number[], mode: NoiseMode): Promise<SentPrompt> {
    const key: NoiseKey = this.keys.forRequest(mode);
    const { embeds } = await this.sgt.transform(ids, { noise: key });
    return { embeds, noise: () => noiseFor(ids, this.sgt.metadata.hiddenSize, key) };
  }

  /** Sends `ids` with the given noise values (the noise-stream attack's linear reference generator). */
  async sendWithNoise(ids: readonly number[], noise: Float32Array): Promise<SentPrompt> {
    const { embeds } = await this.sgt.transform(ids, { noise });
    return { embeds, noise: () => noise };
  }
}

export class ServerSide {
  private constructor(
    readonly sgt: Sgt,
    /** The base model's embedding table [V, H], as the server has it. */
    private readonly table: Float32Array,
  ) {}

  static async open(sgt: Sgt): Promise<ServerSide> {
    const { data } = await readSafetensorsFloat(join(sgt.dir, 'embeddings.safetensors'), 'weight');
    return new ServerSide(sgt, data);
  }

  get hidden(): number {
    return this.sgt.metadata.hiddenSize;
  }

  /** The nearest-neighbour reading of [T, H] rows. */
  read(embeds: Float32Array): Promise<number[]> {
    return this.sgt.nearestTokens(embeds, embeds.length / this.hidden);
  }

  /** Plain embedding rows of `ids`. */
  plain(ids: readonly number[]): Float32Array {
    const h = this.hidden;
    const out = new Float32Array(ids.length * h);
    ids.forEach((id, t) => out.set(this.table.subarray(id * h, (id + 1) * h), t * h));
    return out;
  }

  /**
   * Runs the transform on `ids` with noise 0 and noise 1: `offset` (x + μ) and `scale` (σ) per
   * value, so that out = offset + scale ⊙ noise for a transform affine in its noise (the export
   * recipe's `mu + sigma * noise`). With `checkAffine`, a third run with noise 2 says whether it is.
   */
  async probe(
    ids: readonly number[],
    options: { checkAffine?: boolean } = {},
  ): Promise<{ offset: Float32Array; scale: Float32Array; affine?: boolean }> {
    const n = ids.length * this.hidden;
    const run = async (value: number): Promise<Float32Array> =>
      (await this.sgt.transform(ids, { noise: new Float32Array(n).fill(value) })).embeds;
    const [offset, one, two] = await Promise.all([run(0), run(1), options.checkAffine ? run(2) : undefined]);
    const scale = one.map((v, i) => v - (offset[i] as number));
    if (two === undefined) return { offset, scale };
    let affine = true;
    for (let i = 0; i < n && affine; i++) {
      const predicted = (offset[i] as number) + 2 * (scale[i] as number);
      affine = Math.abs((two[i] as number) - predicted) <= 1e-4 * (1 + Math.abs(predicted));
    }
    return { offset, scale, affine };
  }
}
