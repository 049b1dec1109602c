/**
 * The transform's keyed noise (src/sgt/noise/keyed.ts), checked against its specification
 * (docs/privacy.md) written out again here: nonce_t = SHA-256 chain over the ids, keystream =
 * AES-256-CTR(nonce_t ‖ 0), normals by the product's own ziggurat. Independent of the product for
 * the hash chain, the key derivation and the one-ECB-call path; the per-position CTR path makes the
 * same node:crypto call the product makes.
 */
import { createCipheriv, createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { NoiseKeys, PromptNoise, noiseFor, randomNoiseKey, type NoiseKey } from '../../../src/sgt/index.js';
import { normalsFromWords } from '../../../src/sgt/noise/index.js';
import { autocorrelation, fractionBeyond, moments } from '../../support/normal-stats.js';

const SECRET = new TextEncoder().encode('keyed-noise-test-secret-0123');
const FINGERPRINT = 'a-transform-fingerprint';
const keys = new NoiseKeys(SECRET, FINGERPRINT);

function bits(a: Float32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

function rows(noise: Float32Array, hidden: number, from: number, to: number): Buffer {
  return bits(noise.subarray(from * hidden, to * hidden));
}

/** The specification, written out independently: one position's row. */
function specRow(key: NoiseKey, ids: readonly number[], t: number, hidden: number): Float32Array {
  let d = Buffer.from(key.root);
  for (let s = 0; s <= t; s++) {
    const id = Buffer.alloc(4);
    id.writeUInt32LE(ids[s] as number);
    d = createHash('sha256').update(d).update(id).digest();
  }
  const iv = Buffer.concat([d.subarray(0, 12), Buffer.alloc(4)]);
  const words = Math.ceil((hidden + (hidden >> 3) + 16) / 4) * 4;
  const stream = createCipheriv('aes-256-ctr', key.cipherKey, iv).update(Buffer.alloc(words * 4));
  const out = new Float32Array(hidden);
  expect(normalsFromWords(new Int32Array(new Uint8Array(stream).buffer), out)).toBeGreaterThan(0);
  return out;
}

describe('keyed noise', () => {
  const ids = Array.from({ length: 40 }, (_, i) => (i * 7919) % 151_000);

  it('matches the written specification, on both keystream paths (one ECB call, one CTR call per position)', () => {
    const key = keys.forRequest('prefix');
    for (const hidden of [64, 2048]) {
      const noise = noiseFor(ids, hidden, key);
      for (const t of [0, 1, 17, ids.length - 1]) {
        expect(rows(noise, hidden, t, t + 1).equals(bits(specRow(key, ids, t, hidden))), `H ${hidden} t ${t}`).toBe(
          true,
        );
      }
    }
  });

  it('the cipher key and the roots come from the secret and the transform fingerprint by HMAC-SHA256 with versioned labels', () => {
    const bound = createHmac('sha256', SECRET).update(`sgt-noise/v2 transform:${FINGERPRINT}`).digest();
    const label = (l: string): Buffer => createHmac('sha256', bound).update(l).digest();
    const key = keys.forRequest('prefix');
    expect(Buffer.from(key.cipherKey).equals(label('sgt-noise/v2 aes-256-ctr key'))).toBe(true);
    expect(Buffer.from(key.root).equals(label('sgt-noise/v2 prefix root'))).toBe(true);
    expect(Buffer.from(keys.forRequest('fresh', 42).root).equals(label('sgt-noise/v2 seed root:42'))).toBe(true);
  });

  it('prefix mode: row t depends on ids[0..t] only — a shared prefix gives identical rows, the first different id changes the rest', () => {
    const key = keys.forRequest('prefix');
    const other = [...ids.slice(0, 25), 5, ...ids.slice(26)];
    const a = noiseFor(ids, 64, key);
    const b = noiseFor(other, 64, key);
    expect(rows(a, 64, 0, 25).equals(rows(b, 64, 0, 25))).toBe(true);
    for (let t = 25; t < ids.length; t++) expect(rows(a, 64, t, t + 1).equals(rows(b, 64, t, t + 1))).toBe(false);
    // Same tokens in another order: another prefix at every position after the first difference.
    expect(rows(noiseFor([2, 1, 3], 64, key), 64, 2, 3).equals(rows(noiseFor([1, 2, 3], 64, key), 64, 2, 3))).toBe(
      false,
    );
  });

  it('prefix mode ignores the request seed; fresh mode reproduces a seed and is random without one', () => {
    expect(keys.forRequest('prefix', 1)).toEqual(keys.forRequest('prefix', 2));
    const handedOut = keys.forRequest('prefix');
    handedOut.cipherKey.fill(0); // a caller wiping its copy does not change anyone else's
    expect(keys.forRequest('prefix').cipherKey).not.toEqual(handedOut.cipherKey);
    expect(
      bits(noiseFor(ids, 64, keys.forRequest('fresh', 7))).equals(bits(noiseFor(ids, 64, keys.forRequest('fresh', 7)))),
    ).toBe(true);
    expect(
      bits(noiseFor(ids, 64, keys.forRequest('fresh', 7))).equals(bits(noiseFor(ids, 64, keys.forRequest('fresh', 8)))),
    ).toBe(false);
    expect(
      bits(noiseFor(ids, 64, keys.forRequest('fresh'))).equals(bits(noiseFor(ids, 64, keys.forRequest('fresh')))),
    ).toBe(false);
    const otherSecret = new NoiseKeys(new TextEncoder().encode('another-noise-secret-4567'), FINGERPRINT);
    expect(
      bits(noiseFor(ids, 64, otherSecret.forRequest('prefix'))).equals(
        bits(noiseFor(ids, 64, keys.forRequest('prefix'))),
      ),
    ).toBe(false);
    // Another version of the transform under the same secret: independent noise.
    const otherTransform = new NoiseKeys(SECRET, 'another-transform-fingerprint');
    expect(
      bits(noiseFor(ids, 64, otherTransform.forRequest('prefix'))).equals(
        bits(noiseFor(ids, 64, keys.forRequest('prefix'))),
      ),
    ).toBe(false);
  });

  it('filling in ranges of positions gives exactly the one-call result', () => {
    const key = randomNoiseKey();
    const whole = noiseFor(ids, 96, key);
    const prompt = new PromptNoise(ids, key);
    const parts = new Float32Array(ids.length * 96);
    for (const [from, to] of [
      [0, 1],
      [1, 13],
      [13, 40],
    ] as const)
      prompt.fill(parts.subarray(from * 96, to * 96), from, to, 96);
    expect(bits(parts).equals(bits(whole))).toBe(true);
    expect(() => prompt.fill(new Float32Array(5), 0, 1, 96)).toThrow(RangeError);
  });

  it('is standard normal with no correlation between neighbours or positions (1M values)', () => {
    const many = Array.from({ length: 2048 }, (_, i) => i % 300);
    const noise = noiseFor(many, 512, keys.forRequest('prefix'));
    const { mean, std, kurtosis } = moments(noise);
    // 1M samples: standard errors 0.001 (mean, correlations), 0.0007 (std), 0.005 (kurtosis).
    expect(Math.abs(mean)).toBeLessThan(0.005);
    expect(Math.abs(std - 1)).toBeLessThan(0.005);
    expect(Math.abs(kurtosis - 3)).toBeLessThan(0.03);
    expect(fractionBeyond(noise, 3)).toBeCloseTo(0.0027, 3);
    expect(Math.abs(autocorrelation(noise, 1))).toBeLessThan(0.005); // neighbours in a row
    expect(Math.abs(autocorrelation(noise, 512))).toBeLessThan(0.005); // the same column of the next position
  });

  it('refuses a short secret', () => {
    expect(() => new NoiseKeys(new Uint8Array(8), FINGERPRINT)).toThrow(RangeError);
  });
});
