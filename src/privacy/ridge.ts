/**
 * Ridge regression from transformed rows to plain rows: the known-plaintext attacker's map.
 * Plain JS in float64: at H 64 a fit over 10 000 rows takes milliseconds; the Gram matrix costs
 * K·H²/2 multiply-adds, about a minute at H 4096 (the audit reports its time).
 */

export interface LinearMap {
  /** [H + 1, H]: the last row is the bias. */
  readonly weights: Float64Array;
  readonly hidden: number;
}

/**
 * Fits W minimising ‖[X 1]·W − Y‖² + λ‖W‖² over `rows` pairs (X, Y: [rows, H] row-major), with
 * λ = `lambda` × the mean diagonal of XᵀX (scale-free).
 */
export function fitRidge(x: Float32Array, y: Float32Array, rows: number, hidden: number, lambda = 1e-3): LinearMap {
  const d = hidden + 1;
  const gram = new Float64Array(d * d);
  const cross = new Float64Array(d * hidden);
  const row = new Float64Array(d);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < hidden; j++) row[j] = x[r * hidden + j] as number;
    row[hidden] = 1;
    for (let i = 0; i < d; i++) {
      const ri = row[i] as number;
      if (ri === 0) continue;
      const g = i * d;
      for (let j = i; j < d; j++) gram[g + j] = (gram[g + j] as number) + ri * (row[j] as number);
      const c = i * hidden;
      for (let j = 0; j < hidden; j++) cross[c + j] = (cross[c + j] as number) + ri * (y[r * hidden + j] as number);
    }
  }
  let trace = 0;
  for (let i = 0; i < hidden; i++) trace += gram[i * d + i] as number;
  const ridge = (lambda * trace) / hidden;
  for (let i = 0; i < d; i++) {
    if (i < hidden) gram[i * d + i] = (gram[i * d + i] as number) + ridge;
    for (let j = 0; j < i; j++) gram[i * d + j] = gram[j * d + i] as number;
  }
  return { weights: choleskySolve(gram, cross, d, hidden), hidden };
}

/** Solves A·W = B for symmetric positive definite A [n, n] and B [n, m] (both overwritten). */
function choleskySolve(a: Float64Array, b: Float64Array, n: number, m: number): Float64Array {
  for (let j = 0; j < n; j++) {
    let diag = a[j * n + j] as number;
    for (let k = 0; k < j; k++) diag -= (a[j * n + k] as number) ** 2;
    if (!(diag > 0)) throw new RangeError('ridge regression: the Gram matrix is not positive definite');
    const l = Math.sqrt(diag);
    a[j * n + j] = l;
    for (let i = j + 1; i < n; i++) {
      let sum = a[i * n + j] as number;
      for (let k = 0; k < j; k++) sum -= (a[i * n + k] as number) * (a[j * n + k] as number);
      a[i * n + j] = sum / l;
    }
  }
  // Forward then backward substitution, all m right-hand sides at once.
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < i; k++) {
      const f = a[i * n + k] as number;
      for (let c = 0; c < m; c++) b[i * m + c] = (b[i * m + c] as number) - f * (b[k * m + c] as number);
    }
    const l = a[i * n + i] as number;
    for (let c = 0; c < m; c++) b[i * m + c] = (b[i * m + c] as number) / l;
  }
  for (let i = n - 1; i >= 0; i--) {
    for (let k = i + 1; k < n; k++) {
      const f = a[k * n + i] as number;
      for (let c = 0; c < m; c++) b[i * m + c] = (b[i * m + c] as number) - f * (b[k * m + c] as number);
    }
    const l = a[i * n + i] as number;
    for (let c = 0; c < m; c++) b[i * m + c] = (b[i * m + c] as number) / l;
  }
  return b;
}

/** [rows, H] × the map → [rows, H]. */
export function applyLinear(map: LinearMap, x: Float32Array, rows: number): Float32Array {
  const h = map.hidden;
  const w = map.weights;
  const out = new Float32Array(rows * h);
  const acc = new Float64Array(h);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < h; j++) acc[j] = w[h * h + j] as number;
    for (let i = 0; i < h; i++) {
      const xi = x[r * h + i] as number;
      if (xi === 0) continue;
      for (let j = 0; j < h; j++) acc[j] = (acc[j] as number) + xi * (w[i * h + j] as number);
    }
    out.set(acc, r * h);
  }
  return out;
}
