/**
 * The noise-stream attack's solver: it must break a GF(2)-linear generator from noise values known
 * only approximately, and find nothing against the product's keyed AES-CTR noise.
 */
import { describe, expect, it } from 'vitest';
import { Xorshift128, linearNoise, recoverLinearState } from '../../src/privacy/index.js';
import { NoiseKeys, noiseFor } from '../../src/sgt/index.js';

const STATE = Uint32Array.of(0x9e3779b9, 0x243f6a88, 0xb7e15162, 0x12345678);

describe('linear-generator state recovery', () => {
  it('recovers the exact state from 192 values known to ±1e-5, and so predicts every later value', () => {
    const noise = linearNoise(STATE, 4096);
    const known = noise.slice(0, 192).map((v, i) => v + (i % 2 === 0 ? 5e-6 : -5e-6));
    const result = recoverLinearState(known, 1e-4);
    expect(result.contradictions).toBe(0);
    expect(result.rank).toBe(128);
    expect(result.state).toEqual(STATE);
    expect(linearNoise(result.state as Uint32Array, 4096)).toEqual(noise);
  });

  it('needs enough values: 4 values (~60 bits) leave the state undetermined', () => {
    const result = recoverLinearState(linearNoise(STATE, 4), 1e-4);
    expect(result.state).toBeUndefined();
    expect(result.rank).toBeLessThan(128);
  });

  it("finds no linear state behind the product's keyed noise (contradictions, no prediction)", () => {
    const keyed = noiseFor([151644, 872, 198], 64, new NoiseKeys(new TextEncoder().encode('linear-test-secret-0123')).forRequest('prefix'));
    const result = recoverLinearState(keyed, 1e-4);
    expect(result.state).toBeUndefined();
    expect(result.contradictions).toBeGreaterThan(100);
  });

  it('xorshift128 is the reference generator (Marsaglia 2003: first output for the paper state)', () => {
    const rng = new Xorshift128(Uint32Array.of(123456789, 362436069, 521288629, 88675123));
    expect(rng.next()).toBe(3701687786);
    expect(() => new Xorshift128(new Uint32Array(4))).toThrow(RangeError);
  });
});
