/**
 * Test-side tools written independently of src/embeds: a plain zip writer/lister and a pickle
 * assembler, so reader tests do not depend on the writer they are meant to check, plus a
 * float64-arithmetic reference for float32 -> bfloat16/float16 rounding.
 */
import { crc32 } from 'node:zlib';

// ---------- pickle assembly ----------

export type Part = number | string | readonly number[] | Uint8Array;

export function bytesOf(...parts: Part[]): Uint8Array {
  const out: number[] = [];
  for (const part of parts) {
    if (typeof part === 'number') out.push(part);
    else for (const b of typeof part === 'string' ? Buffer.from(part, 'utf8') : part) out.push(b);
  }
  return Uint8Array.from(out);
}

const le = (value: number, width: number): number[] =>
  Array.from({ length: width }, (_, i) => Math.floor(value / 2 ** (8 * i)) & 0xff);

export const OP = {
  MARK: 0x28,
  EMPTY_TUPLE: 0x29,
  STOP: 0x2e,
  BINPERSID: 0x51,
  REDUCE: 0x52,
  TUPLE: 0x74,
  EMPTY_DICT: 0x7d,
  SETITEMS: 0x75,
  PROTO: 0x80,
  TUPLE1: 0x85,
  TUPLE2: 0x86,
  TUPLE3: 0x87,
  NEWTRUE: 0x88,
  NEWFALSE: 0x89,
  NONE: 0x4e,
  BINPUT: 0x71,
  BINGET: 0x68,
  FRAME: 0x95,
  EMPTY_LIST: 0x5d,
  BINFLOAT: 0x47,
} as const;

export const global = (module: string, name: string): Part[] => [0x63, `${module}\n${name}\n`];
export const unicode = (s: string): Part[] => [0x58, le(Buffer.byteLength(s), 4), s];

export function int(v: number): Part[] {
  if (v >= 0 && v < 0x100) return [0x4b, v];
  if (v >= 0 && v < 0x10000) return [0x4d, le(v, 2)];
  if (v >= -(2 ** 31) && v < 2 ** 31) return [0x4a, le(v >>> 0, 4)];
  const bytes: number[] = [];
  let rest = BigInt(v);
  while (rest !== 0n && rest !== -1n) {
    bytes.push(Number(BigInt.asUintN(8, rest)));
    rest >>= 8n;
  }
  if (v > 0 && (bytes.at(-1)! & 0x80) !== 0) bytes.push(0);
  return [0x8a, bytes.length, bytes];
}

export function intTuple(values: readonly number[]): Part[] {
  if (values.length === 0) return [OP.EMPTY_TUPLE];
  const items = values.flatMap(int);
  if (values.length <= 3) return [...items, [OP.TUPLE1, OP.TUPLE2, OP.TUPLE3][values.length - 1]!];
  return [OP.MARK, ...items, OP.TUPLE];
}

export interface TensorCall {
  storageClass?: string;
  key?: string;
  numel: number;
  size: readonly number[];
  stride?: readonly number[];
  offset?: number;
  location?: string;
  requiresGrad?: boolean;
}

export function contiguousStrides(size: readonly number[]): number[] {
  const strides: number[] = [];
  let step = 1;
  for (let i = size.length - 1; i >= 0; i--) {
    strides[i] = step;
    step *= Math.max(size[i]!, 1);
  }
  return strides;
}

/** One `_rebuild_tensor_v2(...)` call, with the BINPUT memo traffic torch 1.13 emits. */
export function tensorCall(t: TensorCall): Part[] {
  let memo = 0;
  const put = (): Part[] => [OP.BINPUT, memo++];
  return [
    ...global('torch._utils', '_rebuild_tensor_v2'),
    ...put(),
    OP.MARK,
    OP.MARK,
    ...unicode('storage'),
    ...put(),
    ...global('torch', t.storageClass ?? 'FloatStorage'),
    ...put(),
    ...unicode(t.key ?? '0'),
    ...put(),
    ...unicode(t.location ?? 'cpu'),
    ...put(),
    ...int(t.numel),
    OP.TUPLE,
    ...put(),
    OP.BINPERSID,
    ...int(t.offset ?? 0),
    ...intTuple(t.size),
    ...put(),
    ...intTuple(t.stride ?? contiguousStrides(t.size)),
    ...put(),
    t.requiresGrad === true ? OP.NEWTRUE : OP.NEWFALSE,
    ...global('collections', 'OrderedDict'),
    ...put(),
    OP.EMPTY_TUPLE,
    OP.REDUCE,
    ...put(),
    OP.TUPLE,
    ...put(),
    OP.REDUCE,
    ...put(),
  ];
}

export function tensorPickle(t: TensorCall, protocol = 2): Uint8Array {
  return bytesOf(OP.PROTO, protocol, ...tensorCall(t), OP.STOP);
}

// ---------- zip ----------

export interface CraftEntry {
  name: string;
  data: Uint8Array;
  method?: number;
  crc?: number;
}

/** A minimal STORED zip: no alignment, no data descriptors, sizes in both headers. */
export function craftZip(entries: readonly CraftEntry[]): Uint8Array {
  const locals: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    const crc = e.crc ?? crc32(e.data);
    const common = [
      le(20, 2),
      le(0, 2),
      le(e.method ?? 0, 2),
      le(0, 2),
      le(0x21, 2),
      le(crc, 4),
      le(e.data.length, 4),
      le(e.data.length, 4),
      le(name.length, 2),
    ];
    const local = bytesOf(le(0x04034b50, 4), ...common, le(0, 2), name, e.data);
    centrals.push(
      bytesOf(
        le(0x02014b50, 4),
        le(20, 2),
        ...common,
        le(0, 2),
        le(0, 2),
        le(0, 2),
        le(0, 2),
        le(0, 4),
        le(offset, 4),
        name,
      ),
    );
    locals.push(local);
    offset += local.length;
  }
  const central = Buffer.concat(centrals);
  const end = bytesOf(
    le(0x06054b50, 4),
    le(0, 4),
    le(entries.length, 2),
    le(entries.length, 2),
    le(central.length, 4),
    le(offset, 4),
    le(0, 2),
  );
  return new Uint8Array(Buffer.concat([...locals, central, end]));
}

export interface TorchFileParts {
  prefix?: string;
  pickle: Uint8Array;
  storages?: Record<string, Uint8Array>;
  version?: string | null;
  byteorder?: string | null;
  extra?: Record<string, Uint8Array>;
}

export function craftTorchFile(p: TorchFileParts): Uint8Array {
  const prefix = p.prefix ?? 'archive';
  const entries: CraftEntry[] = [{ name: `${prefix}/data.pkl`, data: p.pickle }];
  if (p.byteorder !== null) entries.push({ name: `${prefix}/byteorder`, data: bytesOf(p.byteorder ?? 'little') });
  for (const [key, data] of Object.entries(p.storages ?? {})) entries.push({ name: `${prefix}/data/${key}`, data });
  if (p.version !== null) entries.push({ name: `${prefix}/version`, data: bytesOf(p.version ?? '3\n') });
  for (const [name, data] of Object.entries(p.extra ?? {})) entries.push({ name: `${prefix}/${name}`, data });
  return craftZip(entries);
}

export interface ListedEntry {
  name: string;
  flags: number;
  method: number;
  crc: number;
  size: number;
  headerOffset: number;
  dataOffset: number;
  localExtra: Uint8Array;
}

/** Walks the central directory from the end record, the way any zip reader does. */
export function listZip(bytes: Uint8Array): ListedEntry[] {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = bytes.length - 22;
  if (v.getUint32(end, true) !== 0x06054b50) throw new Error('no end record at the very end');
  const count = v.getUint16(end + 10, true);
  let p = v.getUint32(end + 16, true);
  const out: ListedEntry[] = [];
  for (let i = 0; i < count; i++) {
    const nameLength = v.getUint16(p + 28, true);
    const headerOffset = v.getUint32(p + 42, true);
    const localNameLength = v.getUint16(headerOffset + 26, true);
    const localExtraLength = v.getUint16(headerOffset + 28, true);
    const extraStart = headerOffset + 30 + localNameLength;
    out.push({
      name: Buffer.from(bytes.subarray(p + 46, p + 46 + nameLength)).toString('utf8'),
      flags: v.getUint16(p + 8, true),
      method: v.getUint16(p + 10, true),
      crc: v.getUint32(p + 16, true),
      size: v.getUint32(p + 24, true),
      headerOffset,
      dataOffset: extraStart + localExtraLength,
      localExtra: bytes.subarray(extraStart, extraStart + localExtraLength),
    });
    p += 46 + nameLength + v.getUint16(p + 30, true) + v.getUint16(p + 32, true);
  }
  return out;
}

export function entryData(bytes: Uint8Array, name: string): Uint8Array {
  const entry = listZip(bytes).find((e) => e.name === name);
  if (entry === undefined) throw new Error(`no entry ${name}`);
  return bytes.subarray(entry.dataOffset, entry.dataOffset + entry.size);
}

// ---------- values ----------

/** Deterministic pseudo-random floats (mulberry32) spread over many binades. */
export function pseudoRandomFloats(n: number, seed: number): Float32Array {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (next() - 0.5) * 2 ** Math.floor(next() * 40 - 20);
  return out;
}

export const f32 = (bits: number): number => new Float32Array(new Uint32Array([bits]).buffer)[0]!;
export const bitsOfF32 = (x: number): number => new Uint32Array(new Float32Array([x]).buffer)[0]!;

/** Values where conversions go wrong: signed zeros, subnormals, overflow, NaN, rounding ties. */
export const EDGE_VALUES: readonly number[] = [
  0,
  -0,
  1,
  -1,
  0.1,
  -2.5,
  Infinity,
  -Infinity,
  NaN,
  f32(0xffc00001),
  f32(0x00000001),
  f32(0x807fffff),
  f32(0x00800000),
  f32(0x7f7fffff),
  f32(0xff7fffff),
  65504,
  65519.99,
  65520,
  -65520,
  65536,
  2 ** -14,
  2 ** -24,
  -(2 ** -24),
  2 ** -25,
  2 ** -25 * (1 + 2 ** -23),
  3 * 2 ** -25,
  5 * 2 ** -25,
  2 ** -15 + 2 ** -25,
  1 + 2 ** -11,
  1 + 3 * 2 ** -11,
  1 + 2 ** -8,
  1 + 3 * 2 ** -8,
  1 + 2 ** -8 + 2 ** -20,
  3.3895313892515355e38,
  f32(0x7f7f8000),
  f32(0x7f7f7fff),
  -f32(0x7f7f8000),
].map((x) => Math.fround(x));

interface Format {
  mantissaBits: number;
  minExponent: number;
  maxFinite: number;
}

const FORMATS: Record<'bfloat16' | 'float16', Format> = {
  bfloat16: { mantissaBits: 7, minExponent: -126, maxFinite: (2 - 2 ** -7) * 2 ** 127 },
  float16: { mantissaBits: 10, minExponent: -14, maxFinite: 65504 },
};

/** IEEE round-to-nearest-even done in float64 arithmetic, to check the bit-twiddling version. */
export function referenceRound(x: number, dtype: 'float32' | 'bfloat16' | 'float16'): number {
  if (dtype === 'float32' || !Number.isFinite(x) || x === 0) return x;
  const { mantissaBits, minExponent, maxFinite } = FORMATS[dtype];
  const a = Math.abs(x);
  let e = Math.floor(Math.log2(a));
  while (2 ** e > a) e--;
  while (2 ** (e + 1) <= a) e++;
  const quantum = 2 ** (Math.max(e, minExponent) - mantissaBits);
  const q = a / quantum;
  let r = Math.floor(q);
  if (q - r > 0.5 || (q - r === 0.5 && r % 2 === 1)) r++;
  const v = r * quantum > maxFinite ? Infinity : r * quantum;
  return x < 0 ? -v : v;
}

/** Equal as values, with -0 distinct from 0 and any NaN equal to any NaN. */
export function sameValue(a: number, b: number): boolean {
  return Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));
}

export function firstMismatch(actual: ArrayLike<number>, expected: ArrayLike<number>): string | undefined {
  if (actual.length !== expected.length) return `length ${actual.length} != ${expected.length}`;
  for (let i = 0; i < actual.length; i++) {
    if (!sameValue(actual[i]!, expected[i]!)) return `index ${i}: ${actual[i]} != ${expected[i]}`;
  }
  return undefined;
}
