/**
 * Float32 <-> float32/bfloat16/float16 conversions on raw little-endian storage bytes.
 * These loops are the hot path of every upstream request, so they work on typed-array views of
 * whole buffers with no per-element allocation.
 */

export type EmbedsDtype = 'float32' | 'bfloat16' | 'float16';

export const EMBEDS_DTYPES: readonly EmbedsDtype[] = Object.freeze(['float32', 'bfloat16', 'float16']);

interface DtypeInfo {
  readonly itemSize: 2 | 4;
  /** The legacy typed-storage class torch.save names in the pickle (module `torch`). */
  readonly storageClass: string;
}

export const DTYPE_INFO: Readonly<Record<EmbedsDtype, DtypeInfo>> = {
  float32: { itemSize: 4, storageClass: 'FloatStorage' },
  bfloat16: { itemSize: 2, storageClass: 'BFloat16Storage' },
  float16: { itemSize: 2, storageClass: 'HalfStorage' },
};

/**
 * Storage classes torch can write but we refuse, so the error names the dtype the sender used.
 * A Map, not an object literal: a hostile name like `constructor` must not reach the prototype.
 */
export const UNSUPPORTED_STORAGE_DTYPES: ReadonlyMap<string, string> = new Map([
  ['DoubleStorage', 'float64'],
  ['LongStorage', 'int64'],
  ['IntStorage', 'int32'],
  ['ShortStorage', 'int16'],
  ['CharStorage', 'int8'],
  ['ByteStorage', 'uint8'],
  ['BoolStorage', 'bool'],
  ['ComplexFloatStorage', 'complex64'],
  ['ComplexDoubleStorage', 'complex128'],
  ['QInt8Storage', 'qint8'],
  ['QUInt8Storage', 'quint8'],
  ['QInt32Storage', 'qint32'],
  ['QUInt4x2Storage', 'quint4x2'],
  ['QUInt2x4Storage', 'quint2x4'],
  ['UntypedStorage', 'untyped (raw bytes)'],
]);

export function dtypeOfStorageClass(storageClass: string): EmbedsDtype | undefined {
  return EMBEDS_DTYPES.find((d) => DTYPE_INFO[d].storageClass === storageClass);
}

// Typed-array views use host byte order while torch files are little-endian. Of Node's platforms
// only s390x is big-endian; refusing there beats carrying an untested byte-swapping path.
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function assertLittleEndianHost(): void {
  if (!HOST_IS_LITTLE_ENDIAN) throw new Error('embeds: big-endian hosts are not supported');
}

/** Writes `src` converted to `dtype` into `dst`, which must be exactly numel*itemSize bytes. */
export function encodeFromFloat32(src: Float32Array, dtype: EmbedsDtype, dst: Uint8Array): void {
  if (dtype === 'float32') {
    dst.set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength));
    return;
  }
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = halfView(dst, src.length);
  if (dtype === 'bfloat16') float32BitsToBfloat16(bits, out);
  else float32BitsToFloat16(bits, out);
}

/** Decodes `numel` elements of `dtype` from `src` (any alignment) into a fresh Float32Array. */
export function decodeToFloat32(src: Uint8Array, dtype: EmbedsDtype, numel: number): Float32Array {
  const out = new Float32Array(numel);
  if (dtype === 'float32') {
    new Uint8Array(out.buffer).set(src.subarray(0, numel * 4));
    return out;
  }
  // A Uint16Array view needs an even byteOffset; a base64-decoded buffer gives no such promise.
  const aligned = src.byteOffset % 2 === 0 ? src : src.slice(0, numel * 2);
  const halves = new Uint16Array(aligned.buffer, aligned.byteOffset, numel);
  const outBits = new Uint32Array(out.buffer);
  if (dtype === 'bfloat16') bfloat16ToFloat32Bits(halves, outBits);
  else float16ToFloat32Bits(halves, outBits);
  return out;
}

function halfView(dst: Uint8Array, numel: number): Uint16Array {
  if (dst.byteOffset % 2 === 0) return new Uint16Array(dst.buffer, dst.byteOffset, numel);
  throw new Error('embeds: internal error, 16-bit destination is not 2-byte aligned');
}

/**
 * Round-to-nearest-even on the dropped 16 bits, as torch's c10::BFloat16 does. Every NaN becomes
 * the canonical quiet NaN 0x7FC0: truncating a NaN whose payload sits in the low bits would yield
 * an infinity.
 */
function float32BitsToBfloat16(src: Uint32Array, dst: Uint16Array): void {
  const n = src.length;
  for (let i = 0; i < n; i++) {
    const x = src[i]!;
    dst[i] = (x & 0x7fffffff) > 0x7f800000 ? 0x7fc0 : (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
}

function bfloat16ToFloat32Bits(src: Uint16Array, dst: Uint32Array): void {
  const n = src.length;
  for (let i = 0; i < n; i++) dst[i] = src[i]! << 16;
}

// Magnitudes (sign cleared) as float32 bit patterns that bound the float16 cases.
const F32_INF = 0x7f800000;
const F16_ROUNDS_TO_INF = 0x477ff000; // 65520: halfway between 65504 (max half) and 2^16
const F16_MIN_NORMAL = 0x38800000; // 2^-14
const F16_HALF_MIN_SUBNORMAL = 0x33000000; // 2^-25: at or below this, the result is ±0

/** IEEE round-to-nearest-even, subnormals included; overflow gives ±Inf, NaN a quiet NaN. */
function float32BitsToFloat16(src: Uint32Array, dst: Uint16Array): void {
  const n = src.length;
  for (let i = 0; i < n; i++) {
    const x = src[i]!;
    const abs = x & 0x7fffffff;
    const sign = (x >>> 16) & 0x8000;
    let h: number;
    if (abs >= F16_MIN_NORMAL) {
      if (abs < F16_ROUNDS_TO_INF) h = roundNormalToFloat16(abs);
      else h = abs > F32_INF ? 0x7e00 : 0x7c00;
    } else {
      h = abs <= F16_HALF_MIN_SUBNORMAL ? 0 : roundSubnormalToFloat16(abs);
    }
    dst[i] = sign | h;
  }
}

/** Rebias the exponent (127 -> 15) and round off 13 mantissa bits; a carry may bump the exponent. */
function roundNormalToFloat16(abs: number): number {
  const rebiased = abs - 0x38000000;
  return (rebiased + 0xfff + ((rebiased >>> 13) & 1)) >>> 13;
}

/** Result is a multiple of 2^-24: shift the full significand down, rounding ties to even. */
function roundSubnormalToFloat16(abs: number): number {
  const significand = (abs & 0x7fffff) | 0x800000;
  const shift = 126 - (abs >>> 23); // 14..24 for exponents between 2^-25 and 2^-14
  const q = significand >>> shift;
  const rem = significand & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  return rem > half || (rem === half && (q & 1) === 1) ? q + 1 : q;
}

let float16Table: Uint32Array | undefined;

function float16ToFloat32Bits(src: Uint16Array, dst: Uint32Array): void {
  const table = (float16Table ??= buildFloat16Table());
  const n = src.length;
  for (let i = 0; i < n; i++) dst[i] = table[src[i]!]!;
}

/** All 65536 halves widened once (256 KiB) so decoding is one lookup per element. */
function buildFloat16Table(): Uint32Array {
  const table = new Uint32Array(65536);
  for (let h = 0; h < 65536; h++) table[h] = float16BitsToFloat32Bits(h);
  return table;
}

function float16BitsToFloat32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0;
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0;
  // Subnormal half: normalise the mantissa into float32's implicit-one form.
  const lead = Math.clz32(mant) - 21; // shifts needed to bring the top set bit to bit 10
  return (sign | ((113 - lead) << 23) | (((mant << lead) & 0x3ff) << 13)) >>> 0;
}
