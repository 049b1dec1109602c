/**
 * The subset of the zip format that torch.save writes and reads: STORED entries only, no
 * encryption, no Zip64 (embeddings are far below 4 GiB). Entry data is 64-byte aligned, as
 * PyTorchStreamWriter does, so readers can map tensors without copying.
 */
import { crc32 } from 'node:zlib';
import { TorchFormatError } from './errors.js';

export interface ZipEntrySource {
  readonly name: string;
  readonly size: number;
  /** Fills `target` (exactly `size` bytes, 64-byte aligned within the archive) with the entry data. */
  readonly fill: (target: Uint8Array) => void;
}

const ALIGNMENT = 64;
const LOCAL_HEADER = 30;
const CENTRAL_HEADER = 46;
const END_RECORD = 22;
const PAD_FIELD_HEADER = 4; // extra-field id 'FB' + 16-bit length, then 'Z' padding
const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_END = 0x06054b50;
const VERSION = 20; // 2.0: the version zip tools expect for plain STORED entries
const DOS_DATE_1980_01_01 = 0x21; // a fixed, valid timestamp keeps the output reproducible
const MAX_ZIP32 = 0xffffffff;
/** Most entries we walk in a read: a single-tensor torch file has at most six. */
const MAX_ENTRIES = 256;
const nameDecoder = new TextDecoder();

interface PlannedEntry {
  readonly source: ZipEntrySource;
  readonly name: Uint8Array;
  readonly headerOffset: number;
  readonly padding: number;
  readonly dataOffset: number;
}

export function writeStoredZip(sources: readonly ZipEntrySource[]): Uint8Array {
  const { entries, centralOffset, totalSize } = planLayout(sources);
  const out = new Uint8Array(totalSize);
  const view = new DataView(out.buffer);
  const crcs = entries.map((entry) => writeLocalEntry(out, view, entry));
  let cursor = centralOffset;
  entries.forEach((entry, i) => {
    cursor = writeCentralHeader(out, view, cursor, entry, crcs[i]!);
  });
  writeEndRecord(view, cursor, entries.length, centralOffset);
  return out;
}

function planLayout(sources: readonly ZipEntrySource[]) {
  const encoder = new TextEncoder();
  let cursor = 0;
  let centralSize = 0;
  const entries: PlannedEntry[] = sources.map((source) => {
    const name = encoder.encode(source.name);
    const headerEnd = cursor + LOCAL_HEADER + name.length + PAD_FIELD_HEADER;
    const padding = (ALIGNMENT - (headerEnd % ALIGNMENT)) % ALIGNMENT;
    const entry = { source, name, headerOffset: cursor, padding, dataOffset: headerEnd + padding };
    cursor = entry.dataOffset + source.size;
    centralSize += CENTRAL_HEADER + name.length;
    return entry;
  });
  const totalSize = cursor + centralSize + END_RECORD;
  if (totalSize > MAX_ZIP32) {
    throw new RangeError(`torch zip of ${totalSize} bytes exceeds the 4 GiB limit of a zip without Zip64`);
  }
  return { entries, centralOffset: cursor, totalSize };
}

function writeLocalEntry(out: Uint8Array, view: DataView, entry: PlannedEntry): number {
  const { source, name, headerOffset, padding, dataOffset } = entry;
  const data = out.subarray(dataOffset, dataOffset + source.size);
  source.fill(data);
  const crc = crc32(data);
  let p = headerOffset;
  view.setUint32(p, SIG_LOCAL, true);
  view.setUint16(p + 4, VERSION, true);
  view.setUint16(p + 6, 0, true); // flags: sizes are known up front, so no data descriptor
  view.setUint16(p + 8, 0, true); // method: STORED
  view.setUint16(p + 10, 0, true);
  view.setUint16(p + 12, DOS_DATE_1980_01_01, true);
  view.setUint32(p + 14, crc, true);
  view.setUint32(p + 18, source.size, true);
  view.setUint32(p + 22, source.size, true);
  view.setUint16(p + 26, name.length, true);
  view.setUint16(p + 28, PAD_FIELD_HEADER + padding, true);
  p += LOCAL_HEADER;
  out.set(name, p);
  p += name.length;
  out[p] = 0x46; // 'F'
  out[p + 1] = 0x42; // 'B'
  view.setUint16(p + 2, padding, true);
  out.fill(0x5a, p + PAD_FIELD_HEADER, dataOffset); // 'Z', like torch
  return crc;
}

function writeCentralHeader(out: Uint8Array, view: DataView, p: number, entry: PlannedEntry, crc: number): number {
  const { source, name, headerOffset } = entry;
  view.setUint32(p, SIG_CENTRAL, true);
  view.setUint16(p + 4, VERSION, true);
  view.setUint16(p + 6, VERSION, true);
  view.setUint16(p + 8, 0, true);
  view.setUint16(p + 10, 0, true);
  view.setUint16(p + 12, 0, true);
  view.setUint16(p + 14, DOS_DATE_1980_01_01, true);
  view.setUint32(p + 16, crc, true);
  view.setUint32(p + 20, source.size, true);
  view.setUint32(p + 24, source.size, true);
  view.setUint16(p + 28, name.length, true);
  // extra length, comment length, disk number, internal and external attributes: all zero
  for (let off = 30; off < 42; off += 2) view.setUint16(p + off, 0, true);
  view.setUint32(p + 42, headerOffset, true);
  out.set(name, p + CENTRAL_HEADER);
  return p + CENTRAL_HEADER + name.length;
}

function writeEndRecord(view: DataView, p: number, count: number, centralOffset: number): void {
  view.setUint32(p, SIG_END, true);
  view.setUint16(p + 4, 0, true);
  view.setUint16(p + 6, 0, true);
  view.setUint16(p + 8, count, true);
  view.setUint16(p + 10, count, true);
  view.setUint32(p + 12, p - centralOffset, true);
  view.setUint32(p + 16, centralOffset, true);
  view.setUint16(p + 20, 0, true);
}

/**
 * Maps entry names to zero-copy views of their data. CRCs are deliberately not checked: torch's
 * reader (miniz built without CRC checks) ignores them, and newer torch can write archives with
 * CRC computation switched off; rejecting those would reject what vLLM accepts.
 */
export function readStoredZip(bytes: Uint8Array): Map<string, Uint8Array> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = findEndRecord(bytes, view);
  const count = view.getUint16(end + 10, true);
  const centralSize = view.getUint32(end + 12, true);
  const centralOffset = view.getUint32(end + 16, true);
  if (view.getUint16(end + 4, true) !== 0 || view.getUint16(end + 6, true) !== 0) {
    throw new TorchFormatError('zip: multi-disk archives are not supported');
  }
  if (count === 0xffff || centralSize === MAX_ZIP32 || centralOffset === MAX_ZIP32) {
    throw new TorchFormatError('zip: Zip64 archives (over 4 GiB or 65535 entries) are not supported');
  }
  if (count > MAX_ENTRIES) throw new TorchFormatError(`zip: ${count} entries, at most ${MAX_ENTRIES} allowed`);
  if (centralOffset + centralSize > end) {
    throw new TorchFormatError('zip: central directory lies outside the archive (truncated file?)');
  }
  const entries = new Map<string, Uint8Array>();
  let p = centralOffset;
  for (let i = 0; i < count; i++) {
    p = readCentralEntry(bytes, view, p, centralOffset + centralSize, entries);
  }
  return entries;
}

function findEndRecord(bytes: Uint8Array, view: DataView): number {
  if (bytes.length < END_RECORD) {
    throw new TorchFormatError(`not a zip archive: ${bytes.length} bytes is shorter than a zip end record`);
  }
  // The end record is followed only by its comment (at most 65535 bytes): scan back that far.
  const lowest = Math.max(0, bytes.length - END_RECORD - 0xffff);
  for (let p = bytes.length - END_RECORD; p >= lowest; p--) {
    if (view.getUint32(p, true) === SIG_END && p + END_RECORD + view.getUint16(p + 20, true) === bytes.length) {
      return p;
    }
  }
  throw new TorchFormatError(
    'not a zip archive: no end-of-central-directory record (truncated or not a torch.save file)',
  );
}

function readCentralEntry(
  bytes: Uint8Array,
  view: DataView,
  p: number,
  centralEnd: number,
  entries: Map<string, Uint8Array>,
): number {
  if (p + CENTRAL_HEADER > centralEnd || view.getUint32(p, true) !== SIG_CENTRAL) {
    throw new TorchFormatError(`zip: bad central directory header at offset ${p}`);
  }
  const flags = view.getUint16(p + 8, true);
  const method = view.getUint16(p + 10, true);
  const compressedSize = view.getUint32(p + 20, true);
  const size = view.getUint32(p + 24, true);
  const nameLength = view.getUint16(p + 28, true);
  const next = p + CENTRAL_HEADER + nameLength + view.getUint16(p + 30, true) + view.getUint16(p + 32, true);
  if (next > centralEnd) throw new TorchFormatError(`zip: central directory entry at offset ${p} is truncated`);
  const name = nameDecoder.decode(bytes.subarray(p + CENTRAL_HEADER, p + CENTRAL_HEADER + nameLength));
  if (flags & 1) throw new TorchFormatError(`zip: entry ${name} is encrypted`);
  if (method !== 0)
    throw new TorchFormatError(`zip: entry ${name} uses compression method ${method}; torch files are STORED`);
  if (compressedSize !== size)
    throw new TorchFormatError(`zip: STORED entry ${name} has different compressed and plain sizes`);
  if (entries.has(name)) throw new TorchFormatError(`zip: duplicate entry ${name}`);
  entries.set(name, localData(bytes, view, view.getUint32(p + 42, true), name, size));
  return next;
}

function localData(bytes: Uint8Array, view: DataView, offset: number, name: string, size: number): Uint8Array {
  if (offset + LOCAL_HEADER > bytes.length || view.getUint32(offset, true) !== SIG_LOCAL) {
    throw new TorchFormatError(`zip: entry ${name} has no local header at offset ${offset}`);
  }
  // The local extra field may differ from the central one (torch puts its padding only here).
  const start = offset + LOCAL_HEADER + view.getUint16(offset + 26, true) + view.getUint16(offset + 28, true);
  if (start + size > bytes.length) {
    throw new TorchFormatError(`zip: entry ${name} (${size} bytes) runs past the end of the archive (truncated file?)`);
  }
  return bytes.subarray(start, start + size);
}
