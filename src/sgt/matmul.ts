/**
 * Dense float32 matrix products in ONNX Runtime, for the attacks that need them at real sizes
 * (the privacy audit's regression: at H 4096 its Gram matrix is 10⁴ × 4097² multiply-adds, minutes
 * in a JS loop, seconds in ORT's GEMM).
 */
import { ElemType, encodeModel, node, valueInfo } from './onnx-builder.js';
import { createSession, ort, sessionSettings } from './session.js';

export class MatMul {
  private constructor(
    private readonly plain: ort.InferenceSession,
    private readonly transposed: ort.InferenceSession,
  ) {}

  static async create(): Promise<MatMul> {
    const settings = sessionSettings('cpu');
    const [plain, transposed] = await Promise.all([
      createSession(gemmModel(false), settings),
      createSession(gemmModel(true), settings),
    ]);
    return new MatMul(plain, transposed);
  }

  /** A·B for A [m, k] and B [k, n], row-major: [m, n]. */
  async product(a: Float32Array, m: number, k: number, b: Float32Array, n: number): Promise<Float32Array> {
    return this.run(this.plain, a, [m, k], b, [k, n], m * n);
  }

  /** Aᵀ·B for A [k, m] and B [k, n], row-major: [m, n]. */
  async transposedProduct(a: Float32Array, k: number, m: number, b: Float32Array, n: number): Promise<Float32Array> {
    return this.run(this.transposed, a, [k, m], b, [k, n], m * n);
  }

  async close(): Promise<void> {
    await Promise.all([this.plain.release(), this.transposed.release()]);
  }

  private async run(
    session: ort.InferenceSession,
    a: Float32Array,
    aDims: number[],
    b: Float32Array,
    bDims: number[],
    size: number,
  ): Promise<Float32Array> {
    if (
      a.length !== (aDims[0] as number) * (aDims[1] as number) ||
      b.length !== (bDims[0] as number) * (bDims[1] as number)
    ) {
      throw new RangeError(
        `matmul: operands of ${a.length} and ${b.length} values do not match [${aDims.join(', ')}] and [${bDims.join(', ')}]`,
      );
    }
    const out = await session.run({ a: new ort.Tensor('float32', a, aDims), b: new ort.Tensor('float32', b, bDims) });
    const y = out['y']?.data;
    if (!(y instanceof Float32Array) || y.length !== size)
      throw new Error('matmul: ONNX Runtime returned an unexpected output');
    return y;
  }
}

function gemmModel(transposeA: boolean): Uint8Array {
  return encodeModel({
    name: transposeA ? 'sgt_matmul_at_b' : 'sgt_matmul_a_b',
    inputs: [valueInfo('a', ElemType.FLOAT, ['R', 'C']), valueInfo('b', ElemType.FLOAT, ['K', 'N'])],
    outputs: [valueInfo('y', ElemType.FLOAT, ['M', 'N'])],
    initializers: [],
    nodes: [node('Gemm', ['a', 'b'], ['y'], transposeA ? { transA: 1 } : {})],
  });
}
