import { describe, expect, it } from 'vitest';
import { GaussianStream, fillGaussian, gaussianNoise } from '../../src/sgt/index.js';
import { autocorrelation, fractionBeyond, moments } from '../support/normal-stats.js';

/** The seeded generator of public values (demo weights, fixed test tensors): never the transform's noise. */
describe('gaussianNoise', () => {
  const samples = gaussianNoise(1_000_000, 0x5eedn);

  it('is standard normal: mean ≈ 0, std ≈ 1, kurtosis ≈ 3', () => {
    const { mean, std, kurtosis } = moments(samples);
    // 1e6 samples: standard errors are 0.001 (mean), 0.0007 (std), 0.005 (kurtosis).
    expect(Math.abs(mean)).toBeLessThan(0.005);
    expect(Math.abs(std - 1)).toBeLessThan(0.005);
    expect(Math.abs(kurtosis - 3)).toBeLessThan(0.03);
  });

  it('has normal tails (exercises the ziggurat wedge and tail paths)', () => {
    expect(fractionBeyond(samples, 1)).toBeCloseTo(0.3173, 2);
    expect(fractionBeyond(samples, 2)).toBeCloseTo(0.0455, 3);
    expect(fractionBeyond(samples, 3)).toBeCloseTo(0.0027, 3);
    expect(fractionBeyond(samples, 3.5)).toBeGreaterThan(0.0002); // beyond r = 3.44: the tail sampler
    expect(fractionBeyond(samples, 3.5)).toBeLessThan(0.0007); // exact: 0.000465
  });

  it('is symmetric', () => {
    let positive = 0;
    for (const v of samples) if (v > 0) positive++;
    expect(positive / samples.length).toBeCloseTo(0.5, 2);
  });

  it('is deterministic in the seed and different across seeds', () => {
    expect(gaussianNoise(4096, 42n)).toEqual(gaussianNoise(4096, 42n));
    const a = gaussianNoise(4096, 42n);
    const b = gaussianNoise(4096, 43n);
    let same = 0;
    for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
    expect(same).toBeLessThan(5);
  });

  it('is a prefix-stable stream: a shorter request is the start of a longer one', () => {
    expect(gaussianNoise(100, 7n)).toEqual(gaussianNoise(1000, 7n).subarray(0, 100));
  });

  it('uses all 64 bits of the seed (and wraps negatives / larger values to 64 bits)', () => {
    expect(gaussianNoise(64, 1n << 63n)).not.toEqual(gaussianNoise(64, 0n));
    expect(gaussianNoise(64, 1n << 40n)).not.toEqual(gaussianNoise(64, 0n));
    expect(gaussianNoise(64, -1n)).toEqual(gaussianNoise(64, (1n << 64n) - 1n));
    expect(gaussianNoise(64, 1n << 64n)).toEqual(gaussianNoise(64, 0n));
  });

  it('fillGaussian fills a caller buffer with the same stream', () => {
    const out = new Float32Array(500);
    fillGaussian(out, 9n);
    expect(out).toEqual(gaussianNoise(500, 9n));
  });

  it('GaussianStream continues where it stopped: any slicing gives the one-call stream', () => {
    const whole = gaussianNoise(100_003, 11n);
    for (const sizes of [
      [1, 2, 3, 99_997],
      [65_536, 34_467],
      [50_000, 0, 50_003],
    ]) {
      const stream = new GaussianStream(11n);
      const out = new Float32Array(100_003);
      let offset = 0;
      for (const size of sizes) {
        stream.fill(out.subarray(offset, offset + size));
        offset += size;
      }
      expect(Buffer.from(out.buffer).equals(Buffer.from(whole.buffer))).toBe(true);
    }
  });

  it('keeps its statistics across slice boundaries (1M samples in 4 KiB slices)', () => {
    const stream = new GaussianStream(0x5eedn);
    const sliced = new Float32Array(1_000_000);
    for (let offset = 0; offset < sliced.length; offset += 1024) stream.fill(sliced.subarray(offset, offset + 1024));
    const { mean, std, kurtosis } = moments(sliced);
    expect(Math.abs(mean)).toBeLessThan(0.005);
    expect(Math.abs(std - 1)).toBeLessThan(0.005);
    expect(Math.abs(kurtosis - 3)).toBeLessThan(0.03);
    expect(Buffer.from(sliced.buffer).equals(Buffer.from(samples.buffer))).toBe(true);
  });

  it('has no correlation between neighbours (lag-1 and lag-64 autocorrelation ≈ 0)', () => {
    // Standard error 1/√n = 0.001.
    for (const lag of [1, 64]) expect(Math.abs(autocorrelation(samples, lag))).toBeLessThan(0.005);
  });

  it('handles zero and rejects invalid counts', () => {
    expect(gaussianNoise(0, 1n)).toHaveLength(0);
    expect(() => gaussianNoise(-1, 1n)).toThrow(RangeError);
    expect(() => gaussianNoise(1.5, 1n)).toThrow(RangeError);
  });

  it('is fast enough for the hot path (1M samples well under a second)', () => {
    gaussianNoise(100_000, 1n); // warm up the JIT
    const started = performance.now();
    gaussianNoise(1_000_000, 2n);
    expect(performance.now() - started).toBeLessThan(1000);
  });
});
