/**
 * The noise-stream attack's solver: it must break a GF(2)-linear generator from noise values known
 * only approximately, and find nothing against the product's keyed AES-CTR noise.
 */
import { describe, expect, it } from 'vitest';
import { createCipheriv, randomBytes } from 'node:crypto';
import { Xorshift128, linearNoise, recoverLinearState, recoverLinearStateFromWords } from '../../src/privacy/index.js';
import { NoiseKeys, noiseFor } from '../../src/sgt/index.js';
import { normalsFromWords } from '../../src/sgt/noise/index.js';

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
    const keyed = noiseFor(
      [151644, 872, 198],
      64,
      new NoiseKeys(new TextEncoder().encode('linear-test-secret-0123'), 'test').forRequest('prefix'),
    );
    const result = recoverLinearState(keyed, 1e-4);
    expect(result.state).toBeUndefined();
    expect(result.contradictions).toBeGreaterThan(100);
  });

  it('xorshift128 is the reference generator (Marsaglia 2003: first output for the paper state)', () => {
    const rng = new Xorshift128(Uint32Array.of(123456789, 362436069, 521288629, 88675123));
    expect(rng.next()).toBe(3701687786);
    expect(() => new Xorshift128(new Uint32Array(4))).toThrow(RangeError);
  });

  it('on exact words: 4 words of a linear generator give its state; AES-CTR keystream words give only contradictions', () => {
    const rng = new Xorshift128(STATE);
    const words = Array.from({ length: 8 }, () => rng.next());
    expect(recoverLinearStateFromWords(words.slice(0, 4)).state).toEqual(STATE);
    // The product's keystream (docs/privacy.md): AES-256-CTR under a secret key.
    const keystream = createCipheriv('aes-256-ctr', randomBytes(32), randomBytes(16)).update(Buffer.alloc(64 * 4));
    const aesWords = new Uint32Array(new Uint8Array(keystream).buffer);
    const result = recoverLinearStateFromWords(aesWords);
    expect(result.state).toBeUndefined();
    expect(result.contradictions).toBeGreaterThan(500); // of 1 920 dependent equations, about half
  });

  it('its scope: a linear generator behind the ziggurat is not solved by it either (what the keyed-noise rows rest on is AES, not this)', () => {
    const rng = new Xorshift128(STATE);
    const words = Int32Array.from({ length: 300 }, () => rng.next() | 0);
    const normals = new Float32Array(192);
    expect(normalsFromWords(words, normals)).toBeGreaterThan(0);
    expect(recoverLinearState(normals, 1e-4).state).toBeUndefined();
  });
});
