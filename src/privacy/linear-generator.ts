/**
 * The noise-stream attack's reference target and its solver.
 *
 * A generator whose state update and output are linear over GF(2) (xorshift128 here; xoshiro128**,
 * the product's noise generator before keyed noise, has the same linear state and an invertible
 * output scrambler) is broken by anyone who learns enough of its output bits: every known bit is
 * one linear equation in the 128 state bits, and Gaussian elimination gives the state, hence every
 * other output. This file is that attack, against a linear generator that maps one 32-bit word to
 * one normal by the inverse CDF (monotone, so the word's high bits can be read back from a noise
 * value known only approximately). The audit runs the same solver against the product's keyed
 * AES-CTR noise, where no state fits.
 */

const TWO_32 = 2 ** 32;

/** Marsaglia's xorshift128: 4 × 32-bit state, one word per step. */
export class Xorshift128 {
  private x: number;
  private y: number;
  private z: number;
  private w: number;

  constructor(state: Uint32Array) {
    const [x = 0, y = 0, z = 0, w = 0] = state;
    if (state.length !== 4 || (x | y | z | w) === 0)
      throw new RangeError('xorshift128 needs 4 state words, not all zero');
    [this.x, this.y, this.z, this.w] = [x, y, z, w];
  }

  next(): number {
    const t = this.x ^ (this.x << 11);
    this.x = this.y;
    this.y = this.z;
    this.z = this.w;
    this.w = (this.w ^ (this.w >>> 19) ^ t ^ (t >>> 8)) >>> 0;
    return this.w;
  }
}

/** Word → N(0, 1) by the inverse normal CDF, one word per value. */
export function wordToNormal(u: number): number {
  return inverseNormalCdf(((u >>> 0) + 0.5) / TWO_32);
}

/** `count` normals of the linear generator from `state`. */
export function linearNoise(state: Uint32Array, count: number): Float32Array {
  const rng = new Xorshift128(state);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = wordToNormal(rng.next());
  return out;
}

/**
 * Acklam's rational approximation of Φ⁻¹ (relative error < 1.2e-9). Exactness does not matter to
 * the attack: it inverts this very function, by bisection over the words.
 */
function inverseNormalCdf(p: number): number {
  const low = 0.02425;
  if (p < low) return acklamTail(Math.sqrt(-2 * Math.log(p)));
  if (p > 1 - low) return -acklamTail(Math.sqrt(-2 * Math.log(1 - p)));
  const [a, b] = [ACKLAM_A, ACKLAM_B];
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) /
    (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
  );
}

const ACKLAM_A = [
  -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239,
] as const;
const ACKLAM_B = [
  -54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572,
] as const;
const ACKLAM_C = [
  -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968,
  2.938163982698783,
] as const;
const ACKLAM_D = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416] as const;

function acklamTail(q: number): number {
  const [c, d] = [ACKLAM_C, ACKLAM_D];
  return (
    (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
    ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
  );
}

/** Smallest word whose normal is ≥ v (wordToNormal is non-decreasing in the word). */
function firstWordAtLeast(v: number): number {
  let lo = 0;
  let hi = TWO_32; // exclusive
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (wordToNormal(mid) < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The high bits every word in [lo, hi] shares: (value, count of bits from the top). A noise value
 * known to ±tolerance pins the word to such an interval.
 */
function sharedHighBits(lo: number, hi: number): { bits: number; count: number } {
  let count = 0;
  while (count < 32 && Math.floor(lo / 2 ** (31 - count)) === Math.floor(hi / 2 ** (31 - count))) count++;
  return { bits: lo, count };
}

/** 128-bit masks over the state bits (x: 0-31, y: 32-63, z: 64-95, w: 96-127), 4 words each. */
type Symbolic = Uint32Array[]; // a 32-bit word: 32 masks, one per bit

function symbolicWord(offset: number): Symbolic {
  return Array.from({ length: 32 }, (_, bit) => {
    const mask = new Uint32Array(4);
    const index = offset + bit;
    mask[index >>> 5] = 1 << (index & 31);
    return mask;
  });
}

function xorWords(a: Symbolic, b: Symbolic): Symbolic {
  return a.map((m, bit) => m.map((v, i) => v ^ ((b[bit] as Uint32Array)[i] as number)));
}

function shiftLeft(a: Symbolic, k: number): Symbolic {
  return a.map((_, bit) => (bit >= k ? (a[bit - k] as Uint32Array).slice() : new Uint32Array(4)));
}

function shiftRight(a: Symbolic, k: number): Symbolic {
  return a.map((_, bit) => (bit + k < 32 ? (a[bit + k] as Uint32Array).slice() : new Uint32Array(4)));
}

export interface StateRecovery {
  /** The recovered state, or undefined when no linear state fits the observations. */
  readonly state?: Uint32Array;
  readonly equations: number;
  /** Equations that contradict the others (0 for a linear generator read within tolerance). */
  readonly contradictions: number;
  /** Independent equations found (128 determine the state). */
  readonly rank: number;
}

/**
 * The generator run symbolically: each output bit as a 128-bit mask over the unknown initial
 * state, and every known output bit one equation, eliminated as it arrives.
 */
class LinearSystem {
  private x = symbolicWord(0);
  private y = symbolicWord(32);
  private z = symbolicWord(64);
  private w = symbolicWord(96);
  private readonly pivots: (Uint32Array | undefined)[] = new Array(128);
  private equations = 0;
  private contradictions = 0;
  private rank = 0;

  /** The next output word, symbolically (xorshift128's update). */
  next(): Symbolic {
    const t = xorWords(this.x, shiftLeft(this.x, 11));
    [this.x, this.y, this.z] = [this.y, this.z, this.w];
    this.w = xorWords(xorWords(this.w, shiftRight(this.w, 19)), xorWords(t, shiftRight(t, 8)));
    return this.w;
  }

  /** The top `count` bits of `output` equal those of `value` (a uint32). */
  constrain(output: Symbolic, value: number, count: number): void {
    for (let k = 0; k < count; k++) {
      const bit = 31 - k;
      const row = new Uint32Array(5);
      row.set(output[bit] as Uint32Array);
      row[4] = Math.floor(value / 2 ** bit) & 1;
      this.equations++;
      const outcome = reduce(row, this.pivots);
      if (outcome === 'contradiction') this.contradictions++;
      else if (outcome === 'new') this.rank++;
    }
  }

  result(): StateRecovery {
    const { equations, contradictions, rank } = this;
    if (contradictions > 0 || rank < 128) return { equations, contradictions, rank };
    return { state: backSubstitute(this.pivots), equations, contradictions, rank };
  }
}

/**
 * Recovers the generator's initial state from noise values known to ±tolerance at word indices
 * 0 … known.length − 1 (one word per value, in order, through the inverse CDF). It models that
 * mapping only: a linear generator behind another mapping (the ziggurat) is not solved by it.
 */
export function recoverLinearState(known: Float32Array, tolerance: number): StateRecovery {
  const system = new LinearSystem();
  for (let n = 0; n < known.length; n++) {
    const output = system.next();
    const v = known[n] as number;
    if (!Number.isFinite(v)) continue; // σ = 0 there (an identity transform): the value says nothing
    const lo = firstWordAtLeast(v - tolerance);
    const hi = Math.max(lo, firstWordAtLeast(v + tolerance) - 1);
    if (lo >= TWO_32) continue;
    const { bits, count } = sharedHighBits(lo, Math.min(hi, TWO_32 - 1));
    system.constrain(output, bits, count);
  }
  return system.result();
}

/** The same solver on exact 32-bit words (an attacker that reads the generator's words directly). */
export function recoverLinearStateFromWords(words: ArrayLike<number>): StateRecovery {
  const system = new LinearSystem();
  for (let n = 0; n < words.length; n++) system.constrain(system.next(), (words[n] as number) >>> 0, 32);
  return system.result();
}

function lowestBit(row: Uint32Array): number {
  for (let i = 0; i < 4; i++) {
    const v = row[i] as number;
    if (v !== 0) return i * 32 + (31 - Math.clz32(v & -v));
  }
  return -1;
}

/** Reduces `row` against the pivots; stores it as a new pivot when it is independent. */
function reduce(row: Uint32Array, pivots: (Uint32Array | undefined)[]): 'new' | 'redundant' | 'contradiction' {
  for (;;) {
    const bit = lowestBit(row);
    if (bit < 0) return row[4] === 0 ? 'redundant' : 'contradiction';
    const pivot = pivots[bit];
    if (pivot === undefined) {
      pivots[bit] = row;
      return 'new';
    }
    for (let i = 0; i < 5; i++) row[i] = (row[i] as number) ^ (pivot[i] as number);
  }
}

/** Pivot `b` has lowest bit b and only higher bits besides: solve from the top bit down. */
function backSubstitute(pivots: (Uint32Array | undefined)[]): Uint32Array {
  const solution = new Uint32Array(4);
  for (let b = 127; b >= 0; b--) {
    const row = pivots[b] as Uint32Array;
    let value = row[4] as number;
    for (let c = b + 1; c < 128; c++) {
      if (((row[c >>> 5] as number) >>> (c & 31)) & 1) value ^= ((solution[c >>> 5] as number) >>> (c & 31)) & 1;
    }
    if (value) solution[b >>> 5] = (solution[b >>> 5] as number) | (1 << (b & 31));
  }
  return solution;
}
