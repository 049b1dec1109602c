/**
 * Minimal safetensors reader/writer (https://huggingface.co/docs/safetensors): an 8-byte little-endian
 * header length N, N bytes of JSON `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?}`,
 * then the data; offsets are relative to the end of the header. Only what the SGT artifact needs:
 * read the header without loading the data (cheap validation at start-up), read one float tensor
 * as float32, write a few tensors. Typed arrays assume a little-endian host (x86-64, arm64).
 */
import { open, stat, type FileHandle } from 'node:fs/promises';
import { SgtArtifactError } from './errors.js';
import { bfloat16BitsToFloat32, float16BitsToFloat32 } from './float16.js';
import { isObject } from '../internal/is-object.js';

/** The safetensors spec caps the header at 100 MB; a larger length means a corrupt file. */
const MAX_HEADER_BYTES = 100_000_000;
const METADATA_KEY = '__metadata__';

const DTYPE_BYTES: Readonly<Record<string, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

export type FloatDtype = 'F32' | 'F16' | 'BF16';

export interface SafetensorsTensorInfo {
  readonly dtype: string;
  readonly shape: readonly number[];
  /** Absolute byte range of the tensor's data in the file. */
  readonly start: number;
  readonly end: number;
}

export interface SafetensorsHeader {
  readonly tensors: ReadonlyMap<string, SafetensorsTensorInfo>;
  readonly metadata: Readonly<Record<string, string>>;
  readonly fileSize: number;
}

export interface FloatTensor {
  readonly dtype: FloatDtype;
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** Reads and validates the header: structure, dtypes, sizes, and that every tensor lies inside the file. */
export async function readSafetensorsHeader(path: string): Promise<SafetensorsHeader> {
  const fileSize = await fileSizeOf(path);
  if (fileSize < 8)
    throw new SgtArtifactError(path, `truncated: ${fileSize} bytes, shorter than the 8-byte header length`);
  const handle = await open(path, 'r');
  try {
    const lengthBytes = await readExactly(path, handle, 0, 8);
    const headerLength = Number(lengthBytes.readBigUInt64LE(0));
    if (headerLength > MAX_HEADER_BYTES || 8 + headerLength > fileSize) {
      throw new SgtArtifactError(
        path,
        `header length ${headerLength} does not fit in a ${fileSize}-byte file (truncated or not safetensors)`,
      );
    }
    const json = (await readExactly(path, handle, 8, headerLength)).toString('utf8');
    return parseHeader(path, json, 8 + headerLength, fileSize);
  } finally {
    await handle.close();
  }
}

function parseHeader(path: string, json: string, dataStart: number, fileSize: number): SafetensorsHeader {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (error) {
    throw new SgtArtifactError(path, 'header is not valid JSON', { cause: error });
  }
  if (!isObject(raw)) throw new SgtArtifactError(path, 'header is not a JSON object');
  const tensors = new Map<string, SafetensorsTensorInfo>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(raw)) {
    if (name === METADATA_KEY) {
      metadata = parseMetadata(path, entry);
      continue;
    }
    tensors.set(name, parseTensorEntry(path, name, entry, dataStart, fileSize));
  }
  return { tensors, metadata, fileSize };
}

function parseMetadata(path: string, entry: unknown): Record<string, string> {
  if (!isObject(entry) || !Object.values(entry).every((v) => typeof v === 'string')) {
    throw new SgtArtifactError(path, `"${METADATA_KEY}" must map strings to strings`);
  }
  return entry as Record<string, string>;
}

function parseTensorEntry(
  path: string,
  name: string,
  entry: unknown,
  dataStart: number,
  fileSize: number,
): SafetensorsTensorInfo {
  if (!isObject(entry)) throw new SgtArtifactError(path, `tensor "${name}": entry is not an object`);
  const { dtype, shape, data_offsets: offsets } = entry;
  const elementBytes = typeof dtype === 'string' ? DTYPE_BYTES[dtype] : undefined;
  if (typeof dtype !== 'string' || elementBytes === undefined)
    throw new SgtArtifactError(path, `tensor "${name}": unknown dtype ${JSON.stringify(dtype)}`);
  if (!isIntArray(shape))
    throw new SgtArtifactError(path, `tensor "${name}": shape must be an array of non-negative integers`);
  if (!isIntArray(offsets) || offsets.length !== 2 || (offsets[0] as number) > (offsets[1] as number)) {
    throw new SgtArtifactError(path, `tensor "${name}": data_offsets must be [begin, end] with begin <= end`);
  }
  const [begin, end] = offsets as [number, number];
  const expected = shape.reduce((a, b) => a * b, 1) * elementBytes;
  if (end - begin !== expected) {
    throw new SgtArtifactError(
      path,
      `tensor "${name}": ${dtype} [${shape.join(',')}] needs ${expected} bytes, data_offsets span ${end - begin}`,
    );
  }
  if (dataStart + end > fileSize) {
    throw new SgtArtifactError(
      path,
      `truncated: tensor "${name}" ends at byte ${dataStart + end}, file has ${fileSize}`,
    );
  }
  return { dtype, shape, start: dataStart + begin, end: dataStart + end };
}

/** Reads one F32/F16/BF16 tensor and widens it to float32. */
export async function readSafetensorsFloat(
  path: string,
  name: string,
  header?: SafetensorsHeader,
): Promise<FloatTensor> {
  const info = (header ?? (await readSafetensorsHeader(path))).tensors.get(name);
  if (info === undefined) throw new SgtArtifactError(path, `no tensor named "${name}"`);
  const dtype = info.dtype;
  if (dtype !== 'F32' && dtype !== 'F16' && dtype !== 'BF16') {
    throw new SgtArtifactError(path, `tensor "${name}" has dtype ${dtype}; expected F32, F16 or BF16`);
  }
  const handle = await open(path, 'r');
  let bytes: Buffer;
  try {
    bytes = await readExactly(path, handle, info.start, info.end - info.start);
  } finally {
    await handle.close();
  }
  return { dtype, shape: info.shape, data: widen(dtype, bytes) };
}

/**
 * Rows [first, first + count) of a 2-D F32/F16/BF16 tensor, widened to float32: reads only those
 * bytes, so a large table can be processed a slice at a time.
 */
export async function readSafetensorsFloatRows(
  path: string,
  name: string,
  first: number,
  count: number,
  header?: SafetensorsHeader,
): Promise<Float32Array> {
  const info = (header ?? (await readSafetensorsHeader(path))).tensors.get(name);
  if (info === undefined) throw new SgtArtifactError(path, `no tensor named "${name}"`);
  const dtype = info.dtype;
  if (dtype !== 'F32' && dtype !== 'F16' && dtype !== 'BF16') {
    throw new SgtArtifactError(path, `tensor "${name}" has dtype ${dtype}; expected F32, F16 or BF16`);
  }
  const [rows, width] = info.shape;
  if (info.shape.length !== 2 || rows === undefined || width === undefined)
    throw new SgtArtifactError(path, `tensor "${name}" is not 2-D`);
  if (!Number.isSafeInteger(first) || !Number.isSafeInteger(count) || first < 0 || count < 0 || first + count > rows) {
    throw new RangeError(`rows [${first}, ${first + count}) are outside tensor "${name}" of ${rows} rows`);
  }
  const rowBytes = width * (DTYPE_BYTES[dtype] as number);
  const handle = await open(path, 'r');
  let bytes: Buffer;
  try {
    bytes = await readExactly(path, handle, info.start + first * rowBytes, count * rowBytes);
  } finally {
    await handle.close();
  }
  return widen(dtype, bytes);
}

function widen(dtype: FloatDtype, bytes: Buffer): Float32Array {
  // Copy into a fresh, aligned ArrayBuffer: tensor data in the file need not be 4-byte aligned.
  const aligned = new Uint8Array(bytes.byteLength);
  aligned.set(bytes);
  if (dtype === 'F32') return new Float32Array(aligned.buffer);
  const halves = new Uint16Array(aligned.buffer);
  return dtype === 'F16' ? float16BitsToFloat32(halves) : bfloat16BitsToFloat32(halves);
}

export interface TensorToWrite {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  /** Raw little-endian element bytes. */
  readonly data: Uint8Array;
}

/** A tensor whose bytes are produced in chunks while the file is written (never all in memory). */
export interface TensorToStream {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  /** Raw little-endian element bytes, in order; must add up to the shape's size exactly. */
  readonly chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>;
}

/** Where each written tensor's data lies in the file (absolute byte offsets). */
export type WrittenTensors = ReadonlyMap<string, { readonly start: number; readonly end: number }>;

/** Writes tensors in the given order, header padded with spaces to an 8-byte boundary like the reference writer. */
export async function writeSafetensors(
  path: string,
  tensors: readonly TensorToWrite[],
  metadata?: Record<string, string>,
): Promise<WrittenTensors> {
  return streamSafetensors(
    path,
    tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, chunks: [t.data] })),
    metadata,
  );
}

/**
 * Like `writeSafetensors`, with each tensor's bytes pulled from `chunks` as the file is written:
 * memory stays at one chunk whatever the tensor size. Returns each tensor's absolute byte range
 * (what an ONNX graph needs to use the same bytes as external data).
 */
export async function streamSafetensors(
  path: string,
  tensors: readonly TensorToStream[],
  metadata?: Record<string, string>,
): Promise<WrittenTensors> {
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) header[METADATA_KEY] = metadata;
  const ranges: { name: string; begin: number; end: number }[] = [];
  let offset = 0;
  for (const tensor of tensors) {
    const elementBytes = DTYPE_BYTES[tensor.dtype];
    if (elementBytes === undefined) throw new RangeError(`writeSafetensors: unknown dtype ${tensor.dtype}`);
    const byteLength = tensor.shape.reduce((a, b) => a * b, 1) * elementBytes;
    header[tensor.name] = { dtype: tensor.dtype, shape: tensor.shape, data_offsets: [offset, offset + byteLength] };
    ranges.push({ name: tensor.name, begin: offset, end: offset + byteLength });
    offset += byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const jsonBytes = Buffer.from(json, 'utf8');
  const lengthBytes = Buffer.alloc(8);
  lengthBytes.writeBigUInt64LE(BigInt(jsonBytes.byteLength));
  const dataStart = 8 + jsonBytes.byteLength;
  const handle = await open(path, 'w');
  try {
    await handle.write(lengthBytes);
    await handle.write(jsonBytes);
    for (const [index, tensor] of tensors.entries()) {
      const range = ranges[index] as { begin: number; end: number };
      let written = 0;
      for await (const chunk of tensor.chunks) {
        written += chunk.byteLength;
        if (written > range.end - range.begin) break;
        await writeAll(handle, chunk);
      }
      if (written !== range.end - range.begin) {
        throw new RangeError(
          `writeSafetensors: tensor "${tensor.name}" produced ${written} bytes, its shape needs ${range.end - range.begin}`,
        );
      }
    }
  } finally {
    await handle.close();
  }
  return new Map(ranges.map((r) => [r.name, { start: dataStart + r.begin, end: dataStart + r.end }]));
}

async function writeAll(handle: FileHandle, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.byteLength) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.byteLength - done);
    done += bytesWritten;
  }
}

async function fileSizeOf(path: string): Promise<number> {
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new SgtArtifactError(path, 'is not a regular file');
    return info.size;
  } catch (error) {
    if (error instanceof SgtArtifactError) throw error;
    throw new SgtArtifactError(path, 'missing or unreadable', { cause: error });
  }
}

async function readExactly(path: string, handle: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(buffer, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  if (done !== length)
    throw new SgtArtifactError(path, `truncated: wanted ${length} bytes at offset ${position}, got ${done}`);
  return buffer;
}

function isIntArray(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((v) => Number.isSafeInteger(v) && (v as number) >= 0);
}
