import { NoiseKeys, type NoiseKey } from '../../src/sgt/index.js';

const keys = new NoiseKeys(new TextEncoder().encode('test-noise-secret-0123456789'), 'test-transform');

/** A reproducible noise key per number: what a seeded request gets in fresh mode. */
export function testNoiseKey(n: bigint | number): NoiseKey {
  return keys.forRequest('fresh', n);
}
