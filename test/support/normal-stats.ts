/** Sample statistics the noise tests check against N(0, 1). */

export function moments(values: Float32Array): { mean: number; std: number; kurtosis: number } {
  let sum = 0;
  for (const v of values) sum += v;
  const mean = sum / values.length;
  let m2 = 0;
  let m4 = 0;
  for (const v of values) {
    const d = v - mean;
    m2 += d * d;
    m4 += d ** 4;
  }
  m2 /= values.length;
  m4 /= values.length;
  return { mean, std: Math.sqrt(m2), kurtosis: m4 / (m2 * m2) };
}

export function fractionBeyond(values: Float32Array, limit: number): number {
  let n = 0;
  for (const v of values) if (Math.abs(v) > limit) n++;
  return n / values.length;
}

/** Mean of v[i]·v[i − lag]: ≈ 0 for independent values. */
export function autocorrelation(values: Float32Array, lag: number): number {
  let sum = 0;
  for (let i = lag; i < values.length; i++) sum += (values[i] as number) * (values[i - lag] as number);
  return sum / (values.length - lag);
}
