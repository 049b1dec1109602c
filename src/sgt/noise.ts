/**
 * Deterministic standard-normal noise for the transform's `noise` input.
 *
 * Noise generation is on the request hot path (T·H floats per prompt, 16M for a 4k-token prompt of a
 * 4096-wide model), so it avoids BigInt and transcendental functions in the common case:
 * - uniform bits: xoshiro128** (32-bit state words, `Math.imul`), seeded from the 64-bit seed with
 *   SplitMix64 (BigInt, but only twice per call);
 * - normals: a 128-layer ziggurat (Marsaglia & Tsang's geometry). ~99% of draws cost one 32-bit
 *   random number, a compare and a multiply; the rest take the wedge or tail path.
 *
 * Each 32-bit draw is split into independent fields (7 bits layer, 1 bit sign, 24 bits magnitude)
 * rather than reusing the low bits for both the layer and the value, a known weakness of the
 * original ziggurat code.
 */

const LAYERS = 128;
const TAIL_START = 3.442619855899; // r: where the base layer's tail begins
const LAYER_AREA = 9.91256303526217e-3; // v: area of each layer under exp(-x²/2)
const MAGNITUDE_BITS = 24;
const MAGNITUDE_SCALE = 2 ** MAGNITUDE_BITS;
const UINT32_SCALE = 2 ** -32;

interface ZigguratTables {
  /** Magnitudes below this accept immediately (rectangle fully under the curve). */
  readonly accept: Int32Array;
  /** Layer width / 2^24: turns a 24-bit magnitude into an x in the layer. */
  readonly width: Float64Array;
  /** exp(-x²/2) at each layer edge; index LAYERS is the peak (1). */
  readonly density: Float64Array;
}

function density(x: number): number {
  return Math.exp(-0.5 * x * x);
}

/** Layer edges x[0] (virtual base width) > x[1] = r > … > x[127] > x[128] = 0; each layer has area v. */
function buildTables(): ZigguratTables {
  const edge = new Float64Array(LAYERS + 1);
  edge[0] = LAYER_AREA / density(TAIL_START);
  edge[1] = TAIL_START;
  for (let i = 1; i < LAYERS - 1; i++) {
    const xi = edge[i] as number;
    edge[i + 1] = Math.sqrt(-2 * Math.log(LAYER_AREA / xi + density(xi)));
  }
  edge[LAYERS] = 0;
  const accept = new Int32Array(LAYERS);
  const width = new Float64Array(LAYERS);
  const dens = new Float64Array(LAYERS + 1);
  for (let i = 0; i < LAYERS; i++) {
    const outer = edge[i] as number;
    const inner = edge[i + 1] as number;
    accept[i] = Math.floor((inner / outer) * MAGNITUDE_SCALE);
    width[i] = outer / MAGNITUDE_SCALE;
  }
  for (let i = 0; i <= LAYERS; i++) dens[i] = i === LAYERS ? 1 : density(edge[i] as number);
  return { accept, width, density: dens };
}

const TABLES = buildTables();

/**
 * xoshiro128** (Blackman & Vigna): small, fast, 2^128-1 period. The state is an Int32Array so the
 * hot loop in `fillGaussian` can copy it into int32 locals and hand it back around the slow path.
 */
class Xoshiro128 {
  readonly s = new Int32Array(4);

  constructor(seed: bigint) {
    const [a, b] = splitMix64Pair(seed);
    this.s[0] = Number(a & 0xffffffffn);
    this.s[1] = Number(a >> 32n);
    this.s[2] = Number(b & 0xffffffffn);
    this.s[3] = Number(b >> 32n);
    // The all-zero state is a fixed point; SplitMix64 practically never yields it, but be exact.
    if ((this.s[0] | this.s[1] | this.s[2] | this.s[3]) === 0) this.s[0] = 1;
  }

  nextUint32(): number {
    const s = this.s;
    const s1 = s[1] as number;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    s[2] = (s[2] as number) ^ (s[0] as number);
    s[3] = (s[3] as number) ^ s1;
    s[1] = s1 ^ (s[2] as number);
    s[0] = (s[0] as number) ^ (s[3] as number);
    s[2] = (s[2] as number) ^ t;
    s[3] = rotl(s[3] as number, 11);
    return result;
  }

  /** Uniform in the open interval (0, 1): safe to take the logarithm of. */
  nextOpenUnit(): number {
    return (this.nextUint32() + 0.5) * UINT32_SCALE;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

const MASK64 = (1n << 64n) - 1n;

function splitMix64Next(state: bigint): [next: bigint, output: bigint] {
  const next = (state + 0x9e3779b97f4a7c15n) & MASK64;
  let z = next;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return [next, z ^ (z >> 31n)];
}

function splitMix64Pair(seed: bigint): [bigint, bigint] {
  const [s1, a] = splitMix64Next(BigInt.asUintN(64, seed));
  const [, b] = splitMix64Next(s1);
  return [a, b];
}

/**
 * A 64-bit seed derived from `seed` and a stream number, so that one user seed can drive several
 * practically independent generators (embedding table, each weight matrix).
 */
export function deriveSeed(seed: bigint, stream: number): bigint {
  const [, mixed] = splitMix64Next(BigInt.asUintN(64, seed) ^ BigInt.asUintN(64, BigInt(stream) * 0xd1b54a32d192ed03n));
  return mixed;
}

/** Draws one normal from the slow paths; NaN means "rejected, draw again". */
function slowNormal(rng: Xoshiro128, layer: number, x: number): number {
  if (layer === 0) {
    // Tail beyond r (Marsaglia 1964): exponential proposals accepted against the normal tail.
    for (;;) {
      const a = -Math.log(rng.nextOpenUnit()) / TAIL_START;
      const b = -Math.log(rng.nextOpenUnit());
      if (b + b >= a * a) return TAIL_START + a;
    }
  }
  const dens = TABLES.density;
  const low = dens[layer] as number;
  const high = dens[layer + 1] as number;
  const y = low + rng.nextOpenUnit() * (high - low);
  return y < density(x) ? x : Number.NaN;
}

/**
 * A resumable N(0, 1) stream: successive `fill` calls continue where the previous one stopped, so
 * filling [a | b] in two calls gives exactly what one call over a + b gives. Used to generate large
 * tensors in bounded slices (the real-size demo table, a batch's noise with event-loop yields).
 */
export class GaussianStream {
  private readonly rng: Xoshiro128;

  constructor(seed: bigint) {
    this.rng = new Xoshiro128(seed);
  }

  /**
   * Fills `out` with the next `out.length` samples. The generator is inlined on int32 locals and the
   * sign is applied without a branch (a random 50/50 branch mispredicts half the time): ~3-5 ns a
   * sample instead of ~10.
   */
  fill(out: Float32Array): void {
    const rng = this.rng;
    const state = rng.s;
    const { accept, width } = TABLES;
    let s0 = state[0] as number;
    let s1 = state[1] as number;
    let s2 = state[2] as number;
    let s3 = state[3] as number;
    const n = out.length;
    for (let i = 0; i < n; ) {
      const scrambled = Math.imul(s1, 5);
      const u = Math.imul((scrambled << 7) | (scrambled >>> 25), 9);
      const t = s1 << 9;
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= t;
      s3 = (s3 << 11) | (s3 >>> 21);
      const layer = u & (LAYERS - 1);
      const magnitude = u >>> 8;
      let x = magnitude * (width[layer] as number);
      if (magnitude >= (accept[layer] as number)) {
        state[0] = s0;
        state[1] = s1;
        state[2] = s2;
        state[3] = s3;
        x = slowNormal(rng, layer, x);
        s0 = state[0] as number;
        s1 = state[1] as number;
        s2 = state[2] as number;
        s3 = state[3] as number;
        if (Number.isNaN(x)) continue;
      }
      // Bit 7 is the sign: (u >>> 6) & 2 is 0 or 2, so the factor is +1 or -1.
      out[i++] = x * (1 - ((u >>> 6) & 2));
    }
    state[0] = s0;
    state[1] = s1;
    state[2] = s2;
    state[3] = s3;
  }
}

/** Fills `out` with independent N(0, 1) float32 samples determined entirely by `seed`. */
export function fillGaussian(out: Float32Array, seed: bigint): void {
  new GaussianStream(seed).fill(out);
}

/** `count` independent N(0, 1) float32 samples, the same for the same 64-bit `seed`. */
export function gaussianNoise(count: number, seed: bigint): Float32Array {
  if (!Number.isSafeInteger(count) || count < 0) {
    throw new RangeError(`gaussianNoise: count must be a non-negative integer, got ${count}`);
  }
  const out = new Float32Array(count);
  fillGaussian(out, seed);
  return out;
}

/** A fresh 64-bit seed from the OS CSPRNG, for requests that did not ask for reproducibility. */
export function randomNoiseSeed(): bigint {
  const words = crypto.getRandomValues(new BigUint64Array(1));
  return words[0] as bigint;
}
