import { describe, expect, it } from 'vitest';
import { distribution, percentile, percentileSorted, slope } from '../../bench/lib/stats.js';

describe('percentile (linear interpolation between closest ranks, numpy default)', () => {
  it('matches numpy.percentile on a small sample', () => {
    // np.percentile([15, 20, 35, 40, 50], [0, 25, 40, 50, 90, 99, 100])
    const xs = [40, 15, 50, 35, 20];
    expect(percentile(xs, 0)).toBe(15);
    expect(percentile(xs, 25)).toBe(20);
    expect(percentile(xs, 40)).toBeCloseTo(29, 10);
    expect(percentile(xs, 50)).toBe(35);
    expect(percentile(xs, 90)).toBeCloseTo(46, 10);
    expect(percentile(xs, 99)).toBeCloseTo(49.6, 10);
    expect(percentile(xs, 100)).toBe(50);
  });

  it('interpolates between the two middle values for an even count', () => {
    expect(percentile([1, 2, 3, 4], 50)).toBe(2.5);
    // h = 3 · 0.99 = 2.97 → 3 + 0.97 · (4 − 3)
    expect(percentile([1, 2, 3, 4], 99)).toBeCloseTo(3.97, 10);
  });

  it('one value is every percentile; an empty sample has none', () => {
    expect(percentile([7], 0)).toBe(7);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNull();
  });

  it('sorts numerically (not as strings) and leaves the input alone', () => {
    const xs = [100, 9, 20];
    expect(percentile(xs, 50)).toBe(20);
    expect(xs).toEqual([100, 9, 20]);
  });

  it('refuses a percentile outside [0, 100]', () => {
    expect(() => percentileSorted([1], 101)).toThrow(RangeError);
    expect(() => percentileSorted([1], -1)).toThrow(RangeError);
    expect(() => percentileSorted([1], Number.NaN)).toThrow(RangeError);
  });

  it('distribution: count, min, mean, p50/p90/p99, max', () => {
    const d = distribution(Array.from({ length: 101 }, (_, i) => i));
    expect(d).toEqual({ count: 101, min: 0, mean: 50, p50: 50, p90: 90, p99: 99, max: 100 });
    expect(distribution([])).toEqual({ count: 0, min: null, mean: null, p50: null, p90: null, p99: null, max: null });
  });

  it('slope: least squares', () => {
    expect(
      slope([
        [0, 1],
        [1, 3],
        [2, 5],
      ]),
    ).toBeCloseTo(2, 10);
    expect(slope([[1, 1]])).toBeNull();
    expect(
      slope([
        [1, 1],
        [1, 2],
      ]),
    ).toBeNull();
  });
});
