/**
 * Percentiles by LINEAR INTERPOLATION between the two nearest ranks — numpy's default
 * (`np.percentile(..., method="linear")`, Hyndman & Fan type 7), what vLLM's own benchmark uses:
 * for ascending `sorted` of length n, the p-th percentile is at fractional index h = (n − 1)·p/100,
 * x[⌊h⌋] + (h − ⌊h⌋)·(x[⌊h⌋+1] − x[⌊h⌋]). p0 is the minimum, p100 the maximum, and a single value
 * is every percentile. An empty sample has none (`null`).
 */
export function percentileSorted(sorted: ArrayLike<number>, p: number): number | null {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be in [0, 100], got ${p}`);
  const n = sorted.length;
  if (n === 0) return null;
  const h = ((n - 1) * p) / 100;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, n - 1);
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  return a + (h - lo) * (b - a);
}

/** Percentile of an unsorted sample (copied and sorted numerically; the input is left alone). */
export function percentile(values: ArrayLike<number>, p: number): number | null {
  return percentileSorted(sortedCopy(values), p);
}

export function sortedCopy(values: ArrayLike<number>): Float64Array {
  return Float64Array.from(values).sort();
}

export interface Distribution {
  count: number;
  min: number | null;
  mean: number | null;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  max: number | null;
}

/** The summary every latency in the report gets (milliseconds in, milliseconds out). */
export function distribution(values: ArrayLike<number>): Distribution {
  const sorted = sortedCopy(values);
  const n = sorted.length;
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    count: n,
    min: n === 0 ? null : sorted[0]!,
    mean: n === 0 ? null : sum / n,
    p50: percentileSorted(sorted, 50),
    p90: percentileSorted(sorted, 90),
    p99: percentileSorted(sorted, 99),
    max: n === 0 ? null : sorted[n - 1]!,
  };
}

/** Least-squares slope of y over x (units of y per unit of x); null with fewer than two distinct x. */
export function slope(points: ReadonlyArray<readonly [number, number]>): number | null {
  const n = points.length;
  if (n < 2) return null;
  let sx = 0;
  let sy = 0;
  for (const [x, y] of points) {
    sx += x;
    sy += y;
  }
  const mx = sx / n;
  const my = sy / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? null : num / den;
}
