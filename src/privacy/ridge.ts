/**
 * Ridge regression from transformed rows to plain rows: the known-plaintext attacker's map.
 * The products run in ONNX Runtime (MatMul); the (H+1)³ factorisation in JS float64. At H 64 a
 * fit over 10 000 rows takes milliseconds; at H 4096 the JS part is ~2 × 10¹⁰ multiply-adds.
 */
import type { MatMul } from '../sgt/index.js';

export interface LinearMap {
  /** [H + 1, H]: the last row is the bias. */
  readonly weights: Float32Array;
  readonly hidden: number;
}

/** Rows [rows, H] with a 1 appended to each: [rows, H + 1]. */
function withBias(x: Float32Array, rows: number, hidden: number): Float32Array {
  const d = hidden + 1;
  const out = new Float32Array(rows * d);
  for (let r = 0; r < rows; r++) {
    out.set(x.subarray(r * hidden, (r + 1) * hidden), r * d);
    out[r * d + hidden] = 1;
  }
  return out;
}

/**
 * Fits W minimising ‖[X 1]·W − Y‖² + λ‖W‖² over `rows` pairs (X, Y: [rows, H] row-major), with
 * λ = `lambda` × the mean diagonal of XᵀX (scale-free); the bias row is not penalised. W = L⁻ᵀ L⁻¹ XᵀY with L the Cholesky
 * factor of XᵀX + λI: two more products instead of H right-hand sides solved in JS.
 */
export async function fitRidge(
  mm: MatMul,
  x: Float32Array,
  y: Float32Array,
  rows: number,
  hidden: number,
  lambda = 1e-3,
): Promise<LinearMap> {
  const d = hidden + 1;
  const xb = withBias(x, rows, hidden);
  const gram = Float64Array.from(await mm.transposedProduct(xb, rows, d, xb, d));
  const cross = await mm.transposedProduct(xb, rows, d, y, hidden);
  let trace = 0;
  for (let i = 0; i < hidden; i++) trace += gram[i * d + i] as number;
  for (let i = 0; i < hidden; i++) gram[i * d + i] = (gram[i * d + i] as number) + (lambda * trace) / hidden;
  const inverse = Float32Array.from(lowerInverse(cholesky(gram, d), d));
  const half = await mm.product(inverse, d, d, cross, hidden);
  return { weights: await mm.transposedProduct(inverse, d, d, half, hidden), hidden };
}

/** Lower Cholesky factor of a symmetric positive definite [n, n] matrix, in place. */
function cholesky(a: Float64Array, n: number): Float64Array {
  for (let j = 0; j < n; j++) {
    const rowJ = j * n;
    let diag = a[rowJ + j] as number;
    for (let k = 0; k < j; k++) diag -= (a[rowJ + k] as number) ** 2;
    if (!(diag > 0)) throw new RangeError('ridge regression: the Gram matrix is not positive definite');
    const l = Math.sqrt(diag);
    a[rowJ + j] = l;
    for (let i = j + 1; i < n; i++) {
      const rowI = i * n;
      let sum = a[rowI + j] as number;
      for (let k = 0; k < j; k++) sum -= (a[rowI + k] as number) * (a[rowJ + k] as number);
      a[rowI + j] = sum / l;
    }
  }
  return a;
}

/** L⁻¹ of a lower-triangular L (the upper triangle of `l` is ignored), row by row. */
function lowerInverse(l: Float64Array, n: number): Float64Array {
  const inv = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const row = inv.subarray(i * n, (i + 1) * n);
    row[i] = 1;
    for (let k = 0; k < i; k++) {
      const f = l[i * n + k] as number;
      if (f === 0) continue;
      const rowK = inv.subarray(k * n, k * n + k + 1);
      for (let j = 0; j <= k; j++) row[j] = (row[j] as number) - f * (rowK[j] as number);
    }
    const pivot = l[i * n + i] as number;
    for (let j = 0; j <= i; j++) row[j] = (row[j] as number) / pivot;
  }
  return inv;
}

/** [rows, H] through the map → [rows, H]. */
export function applyLinear(mm: MatMul, map: LinearMap, x: Float32Array, rows: number): Promise<Float32Array> {
  return mm.product(withBias(x, rows, map.hidden), rows, map.hidden + 1, map.weights, map.hidden);
}
