/**
 * Which keystream the keyed noise uses (src/sgt/noise/keyed.ts), measured: the bytes one prompt's
 * noise needs (T positions × (H + H/8 + 16) words), from AES-256-CTR or ChaCha20 with one native
 * call per position, or AES-256-ECB over counter blocks written in JS (one call per prompt), and the
 * product's whole noise (hash chain + keystream + ziggurat). ms p50 / p90 over the iterations.
 *
 *   npm run bench:sgt:keystream
 */
import { createCipheriv, randomBytes } from 'node:crypto';
import { NoiseKeys, noiseFor } from '../../src/sgt/index.js';
import { distribution, table } from './stats.js';

const SIZES = [
  [512, 4096],
  [128, 4096],
  [512, 256],
  [128, 64],
] as const;
const ITERATIONS = 30;
const key = randomBytes(32);
const noiseKey = new NoiseKeys(randomBytes(32), 'bench').forRequest('prefix');

function perPosition(algorithm: 'aes-256-ctr' | 'chacha20', positions: number, bytes: number): number {
  const zeros = new Uint8Array(bytes);
  let sink = 0;
  for (let p = 0; p < positions; p++)
    sink += createCipheriv(algorithm, key, randomBytes(16)).update(zeros)[0] as number;
  return sink;
}

function ecbCounterBlocks(positions: number, blocks: number): number {
  const input = new Uint8Array(positions * blocks * 16);
  const view = new DataView(input.buffer);
  for (let p = 0; p < positions; p++) {
    input.set(randomBytes(12), p * blocks * 16);
    for (let b = 1; b < blocks; b++) {
      input.copyWithin(p * blocks * 16 + b * 16, p * blocks * 16, p * blocks * 16 + 12);
      view.setUint32(p * blocks * 16 + b * 16 + 12, b, false);
    }
  }
  const cipher = createCipheriv('aes-256-ecb', key, null);
  cipher.setAutoPadding(false);
  return cipher.update(input)[0] as number;
}

function time(fn: () => unknown): number[] {
  for (let i = 0; i < 3; i++) fn();
  return Array.from({ length: ITERATIONS }, () => {
    const t0 = performance.now();
    fn();
    return performance.now() - t0;
  });
}

const rows = SIZES.map(([t, h]) => {
  const blocks = Math.ceil((h + (h >> 3) + 16) / 4);
  const ids = Array.from({ length: t }, (_, i) => (i * 7919) % 30_000);
  const cell = (samples: number[]): string => {
    const d = distribution(samples);
    return `${d.p50.toFixed(2)} / ${d.p90.toFixed(2)}`;
  };
  return [
    `${t} × ${h}`,
    `${((t * blocks * 16) / 2 ** 20).toFixed(2)} MiB`,
    cell(time(() => perPosition('aes-256-ctr', t, blocks * 16))),
    cell(time(() => perPosition('chacha20', t, blocks * 16))),
    cell(time(() => ecbCounterBlocks(t, blocks))),
    cell(time(() => noiseFor(ids, h, noiseKey))),
  ];
});
console.log(
  table(
    [
      'T × H',
      'keystream',
      'AES-256-CTR per position',
      'ChaCha20 per position',
      'AES-256-ECB, counter blocks written one by one',
      'product noise (all of it)',
    ],
    rows,
  ),
);
