/**
 * IEEE 754 binary16 and bfloat16 conversions. Node 20 has no Float16Array, and the demo stores its
 * embedding table as float16 (half the artifact size; the same bits feed the ONNX graph and the
 * safetensors file, so both see exactly the same values).
 */

const scratch = new DataView(new ArrayBuffer(4));

/** float32 → float16 bits, round to nearest even; overflow → ±Inf, NaN stays NaN. */
export function float32ToFloat16Bits(value: number): number {
  scratch.setFloat32(0, value);
  return halfFromFloatBits(scratch.getUint32(0));
}

/** The float16 bits nearest (ties to even) to the float32 with bit pattern `bits`. */
function halfFromFloatBits(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  const halfExponent = exponent - 127 + 15;
  if (halfExponent > 0 && halfExponent < 0x1f) {
    // Normal (the common case, inlined): rounding may carry into the exponent, which is exactly
    // the right result (incl. → Inf).
    const kept = mantissa >>> 13;
    const rest = mantissa & 0x1fff;
    const up = rest > 0x1000 || (rest === 0x1000 && (kept & 1) === 1) ? 1 : 0;
    return sign | ((halfExponent << 10) + kept + up);
  }
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa !== 0 ? 0x200 : 0);
  if (halfExponent >= 0x1f) return sign | 0x7c00;
  if (halfExponent < -10) return sign; // below half the smallest subnormal
  const full = mantissa | 0x800000; // restore the implicit leading bit
  return sign | roundShift(full, 14 - halfExponent);
}

/** `value >> shift` rounded to nearest, ties to even. */
function roundShift(value: number, shift: number): number {
  const kept = value >>> shift;
  const rest = value - kept * 2 ** shift;
  const half = 2 ** (shift - 1);
  if (rest > half || (rest === half && (kept & 1) === 1)) return kept + 1;
  return kept;
}

let halfTable: Float32Array | undefined;

/** All 65536 float16 values as float32: decoding a table is then one lookup per element. */
function float16Table(): Float32Array {
  if (halfTable !== undefined) return halfTable;
  const table = new Float32Array(65536);
  for (let bits = 0; bits < 65536; bits++) {
    const sign = bits & 0x8000 ? -1 : 1;
    const exponent = (bits >>> 10) & 0x1f;
    const mantissa = bits & 0x3ff;
    let value: number;
    if (exponent === 0) value = mantissa * 2 ** -24;
    else if (exponent === 0x1f) value = mantissa === 0 ? Infinity : NaN;
    else value = (1 + mantissa / 1024) * 2 ** (exponent - 15);
    table[bits] = sign * value;
  }
  halfTable = table;
  return table;
}

export function float16BitsToFloat32(bits: Uint16Array): Float32Array {
  const table = float16Table();
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = table[bits[i] as number] as number;
  return out;
}

/** bfloat16 is the top half of a float32: shifting the bits back is exact. */
export function bfloat16BitsToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const wide = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) wide[i] = (bits[i] as number) << 16;
  return out;
}

/**
 * Bulk float32 → float16 bits (round to nearest even), into `out` when given (same length). Reads
 * the float32 bit patterns through an aliasing Uint32Array: several times faster than a DataView
 * per element, which matters for the 131M-value table of a real-size demo artifact.
 */
export function float32ArrayToFloat16Bits(
  values: Float32Array,
  out: Uint16Array = new Uint16Array(values.length),
): Uint16Array {
  if (out.length !== values.length)
    throw new RangeError(`float32ArrayToFloat16Bits: out has ${out.length} slots for ${values.length} values`);
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < bits.length; i++) out[i] = halfFromFloatBits(bits[i] as number);
  return out;
}
