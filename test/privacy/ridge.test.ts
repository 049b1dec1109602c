import { describe, expect, it } from 'vitest';
import { applyLinear, fitRidge } from '../../src/privacy/ridge.js';
import { MatMul, gaussianNoise } from '../../src/sgt/index.js';

describe('ridge regression (ONNX Runtime products, JS Cholesky)', () => {
  it('recovers a linear map with bias from 2 000 exact pairs, and applies it', async () => {
    const [rows, h] = [2000, 24];
    const x = gaussianNoise(rows * h, 1n);
    const a = gaussianNoise(h * h, 2n);
    const bias = gaussianNoise(h, 3n);
    const y = new Float32Array(rows * h);
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < h; j++) {
        let v = bias[j] as number;
        for (let i = 0; i < h; i++) v += (x[r * h + i] as number) * (a[i * h + j] as number);
        y[r * h + j] = v;
      }
    }
    const mm = await MatMul.create();
    try {
      const map = await fitRidge(mm, x, y, rows, h, 1e-9);
      for (let i = 0; i < h * h; i++)
        expect(Math.abs((map.weights[i] as number) - (a[i] as number))).toBeLessThan(1e-3);
      for (let j = 0; j < h; j++)
        expect(Math.abs((map.weights[h * h + j] as number) - (bias[j] as number))).toBeLessThan(1e-3);
      const mapped = await applyLinear(mm, map, x.subarray(0, 5 * h), 5);
      for (let i = 0; i < 5 * h; i++) expect(Math.abs((mapped[i] as number) - (y[i] as number))).toBeLessThan(1e-3);
      await expect(mm.product(new Float32Array(3), 2, 2, new Float32Array(4), 2)).rejects.toThrow(RangeError);
    } finally {
      await mm.close();
    }
  });
});
