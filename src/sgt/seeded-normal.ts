/**
 * Seeded standard normals for *public* values: the demo artifact's embedding table and weights,
 * and tests that need a fixed N(0, 1) tensor. Never for the transform's noise: xoshiro128** is
 * linear over GF(2), so whoever sees enough outputs can recover its state (docs/privacy.md); the
 * noise comes from the keyed AES-CTR stream of noise/keyed.ts.
 *
 * - uniform bits: xoshiro128** (32-bit state words, `Math.imul`), seeded from the 64-bit seed with
 *   SplitMix64 (BigInt, but only twice per call);
 * - normals: the ziggurat of noise/ziggurat.ts, its fast path inlined here on int32 locals.
 */

import { LAYERS, TABLES, openUnit, slowNormal } from './noise/ziggurat.js';

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
    return openUnit(this.nextUint32());
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
    for (let i = 0; i < n;) {
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
