import { describe, expect, it } from 'vitest';
import { crc32 } from 'node:zlib';
import {
  EMBEDS_DTYPES,
  decodePromptEmbeds,
  encodePromptEmbeds,
  readTorchTensor,
  writeTorchTensor,
  type EmbedsDtype,
} from '../../src/embeds/index.js';
import {
  EDGE_VALUES,
  OP,
  bitsOfF32,
  bytesOf,
  entryData,
  f32,
  firstMismatch,
  global,
  int,
  listZip,
  pseudoRandomFloats,
  referenceRound,
  unicode,
} from './helpers.js';

const T = 6;
const H = 11;

function sampleData(): Float32Array {
  const data = pseudoRandomFloats(T * H, 42);
  data.set(EDGE_VALUES.slice(0, T * H));
  return data;
}

describe('round trip through encodePromptEmbeds / decodePromptEmbeds', () => {
  const data = sampleData();
  for (const dtype of EMBEDS_DTYPES) {
    for (const shape of [
      [T, H],
      [1, T, H],
    ]) {
      it(`${dtype} [${shape.join(', ')}] decodes to the rounded input`, () => {
        const decoded = decodePromptEmbeds(encodePromptEmbeds(data, shape, dtype));
        expect(decoded.dtype).toBe(dtype);
        expect(decoded.shape).toEqual(shape);
        const expected = Array.from(data, (x) => referenceRound(x, dtype));
        expect(firstMismatch(decoded.data, expected)).toBeUndefined();
      });
    }
  }

  it('float32 keeps every bit, NaN payloads and -0 included', () => {
    const decoded = readTorchTensor(writeTorchTensor(data, [T, H], 'float32'));
    expect(new Uint32Array(decoded.data.buffer)).toEqual(new Uint32Array(data.buffer));
  });

  it('reads from an input Float32Array that is a view into a larger buffer', () => {
    const backing = new Float32Array(T * H + 3);
    backing.set(data, 3);
    const view = backing.subarray(3);
    for (const dtype of EMBEDS_DTYPES) {
      const decoded = readTorchTensor(writeTorchTensor(view, [T, H], dtype));
      expect(
        firstMismatch(
          decoded.data,
          Array.from(data, (x) => referenceRound(x, dtype)),
        ),
      ).toBeUndefined();
    }
  });

  it('handles scalar and empty tensors', () => {
    expect(readTorchTensor(writeTorchTensor(new Float32Array([2.5]), [], 'bfloat16'))).toEqual({
      data: new Float32Array([2.5]),
      shape: [],
      dtype: 'bfloat16',
    });
    expect(readTorchTensor(writeTorchTensor(new Float32Array(0), [0, 8], 'float16'))).toEqual({
      data: new Float32Array(0),
      shape: [0, 8],
      dtype: 'float16',
    });
  });
});

describe('float32 -> 16-bit rounding', () => {
  const cases: [number, EmbedsDtype, number][] = [
    [1 + 2 ** -8, 'bfloat16', 1], // tie, even is down
    [1 + 3 * 2 ** -8, 'bfloat16', 1 + 2 ** -6], // tie, even is up
    [1 + 2 ** -8 + 2 ** -20, 'bfloat16', 1 + 2 ** -7], // just above the tie
    [f32(0x7f7fffff), 'bfloat16', Infinity], // f32 max rounds past bf16 max
    [f32(0x7f7f7fff), 'bfloat16', f32(0x7f7f0000)],
    [f32(0x00000001), 'bfloat16', 0],
    [f32(0x807fffff), 'bfloat16', -f32(0x00800000)], // largest subnormal rounds up to -min normal
    [65504, 'float16', 65504],
    [65519.99, 'float16', 65504],
    [65520, 'float16', Infinity],
    [-1e9, 'float16', -Infinity],
    [2 ** -24, 'float16', 2 ** -24], // smallest subnormal
    [2 ** -25, 'float16', 0], // tie with zero, even is zero
    [2 ** -25 * (1 + 2 ** -23), 'float16', 2 ** -24],
    [3 * 2 ** -25, 'float16', 2 ** -23], // tie between 1 and 2 units, even is 2
    [5 * 2 ** -25, 'float16', 2 ** -23], // tie between 2 and 3 units, even is 2
    [2 ** -14 - 2 ** -25, 'float16', 2 ** -14], // rounds up out of the subnormals
    [1 + 2 ** -11, 'float16', 1],
    [1 + 3 * 2 ** -11, 'float16', 1 + 2 ** -9],
    [-0, 'float16', -0],
    [-0, 'bfloat16', -0],
  ];
  it.each(cases)('%d as %s is %d', (input, dtype, expected) => {
    const [decoded] = readTorchTensor(writeTorchTensor(new Float32Array([input]), [1], dtype)).data;
    expect(Object.is(decoded, Math.fround(expected))).toBe(true);
    expect(Object.is(referenceRound(Math.fround(input), dtype), Math.fround(expected))).toBe(true);
  });

  it('keeps NaN as NaN (never an infinity) for NaNs with payload only in the low bits', () => {
    const nans = new Float32Array(new Uint32Array([0x7f800001, 0xff800001, 0x7fc00000, 0x7f80ffff]).buffer);
    for (const dtype of ['bfloat16', 'float16'] as const) {
      for (const x of readTorchTensor(writeTorchTensor(nans, [4], dtype)).data) expect(x).toBeNaN();
    }
  });

  it('matches the float64 reference on 200k pseudo-random values', () => {
    const data = pseudoRandomFloats(200_000, 7);
    for (const dtype of ['bfloat16', 'float16'] as const) {
      const decoded = readTorchTensor(writeTorchTensor(data, [data.length], dtype)).data;
      expect(
        firstMismatch(
          decoded,
          Array.from(data, (x) => referenceRound(x, dtype)),
        ),
      ).toBeUndefined();
    }
  });
});

describe('archive layout (docs/prompt-embeds.md)', () => {
  const file = writeTorchTensor(new Float32Array(6).fill(1), [2, 3], 'float32');

  it('has the four entries, STORED, with correct CRCs and 64-byte aligned data', () => {
    const entries = listZip(file);
    expect(entries.map((e) => e.name)).toEqual([
      'archive/data.pkl',
      'archive/byteorder',
      'archive/data/0',
      'archive/version',
    ]);
    for (const e of entries) {
      expect(e.method).toBe(0);
      expect(e.flags & 0x8).toBe(0); // no data descriptor: sizes are in the local header
      expect(e.dataOffset % 64).toBe(0);
      expect(Buffer.from(e.localExtra.subarray(0, 2)).toString('latin1')).toBe('FB');
      expect(e.crc).toBe(crc32(file.subarray(e.dataOffset, e.dataOffset + e.size)));
    }
    expect(Buffer.from(entryData(file, 'archive/byteorder')).toString()).toBe('little');
    expect(Buffer.from(entryData(file, 'archive/version')).toString()).toBe('3\n');
    expect(entryData(file, 'archive/data/0')).toEqual(new Uint8Array(new Float32Array(6).fill(1).buffer));
  });

  it('writes exactly the opcode sequence of the contract', () => {
    const expected = bytesOf(
      OP.PROTO,
      2,
      ...global('torch._utils', '_rebuild_tensor_v2'),
      OP.MARK,
      OP.MARK,
      ...unicode('storage'),
      ...global('torch', 'FloatStorage'),
      ...unicode('0'),
      ...unicode('cpu'),
      ...int(6),
      0x74,
      OP.BINPERSID,
      ...int(0),
      ...int(2),
      ...int(3),
      OP.TUPLE2,
      ...int(3),
      ...int(1),
      OP.TUPLE2,
      OP.NEWFALSE,
      ...global('collections', 'OrderedDict'),
      OP.EMPTY_TUPLE,
      OP.REDUCE,
      0x74,
      OP.REDUCE,
      OP.STOP,
    );
    expect(entryData(file, 'archive/data.pkl')).toEqual(expected);
  });

  it('names the storage class of each dtype and picks BININT2/BININT for larger sizes', () => {
    const pkl = (dtype: EmbedsDtype, shape: number[]): string =>
      Buffer.from(
        entryData(
          writeTorchTensor(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape, dtype),
          'archive/data.pkl',
        ),
      ).toString('latin1');
    expect(pkl('bfloat16', [1, 2])).toContain('torch\nBFloat16Storage\n');
    expect(pkl('float16', [1, 2])).toContain('torch\nHalfStorage\n');
    const big = pkl('float16', [2, 40_000]);
    expect(big).toContain(Buffer.from(bytesOf(...int(80_000))).toString('latin1')); // numel: BININT
    expect(big).toContain(Buffer.from(bytesOf(...int(40_000), ...int(1), OP.TUPLE2)).toString('latin1')); // stride: BININT2
  });

  it('is deterministic and little-endian', () => {
    const data = new Float32Array([1.5, -2]);
    expect(writeTorchTensor(data, [2], 'bfloat16')).toEqual(writeTorchTensor(data, [2], 'bfloat16'));
    expect(Array.from(entryData(writeTorchTensor(data, [2], 'bfloat16'), 'archive/data/0'))).toEqual([
      0xc0, 0x3f, 0x00, 0xc0,
    ]);
    expect(bitsOfF32(1.5) >>> 16).toBe(0x3fc0);
  });

  it('emits standard padded base64 with no newlines', () => {
    for (const n of [1, 2, 3, 100, 3000]) {
      const b64 = encodePromptEmbeds(new Float32Array(n), [n], 'float16');
      expect(b64).toMatch(/^[A-Za-z0-9+/]+={0,2}$/);
      expect(b64.length % 4).toBe(0);
      expect(Buffer.from(b64, 'base64')).toEqual(Buffer.from(writeTorchTensor(new Float32Array(n), [n], 'float16')));
    }
  });
});

describe('writer input validation', () => {
  it('rejects a shape that does not match the data', () => {
    expect(() => writeTorchTensor(new Float32Array(6), [2, 4], 'float32')).toThrow(
      /shape \[2, 4\] has 8 elements but data has 6/,
    );
    expect(() => writeTorchTensor(new Float32Array(6), [-2, -3], 'float32')).toThrow(/invalid tensor shape/);
    expect(() => writeTorchTensor(new Float32Array(6), [2.5, 2.4], 'float32')).toThrow(/invalid tensor shape/);
  });

  it('rejects an unknown dtype', () => {
    expect(() => writeTorchTensor(new Float32Array(1), [1], 'float64' as EmbedsDtype)).toThrow(
      /unsupported embeds dtype float64/,
    );
  });

  it('refuses tensors past the size limit before allocating', () => {
    // Only `length` is read before the size check, so a stand-in avoids allocating 2 GiB here.
    const huge = { length: 2 ** 29 + 1 } as unknown as Float32Array;
    expect(() => writeTorchTensor(huge, [2 ** 29 + 1], 'float32')).toThrow(RangeError);
    expect(() => encodePromptEmbeds(huge, [2 ** 29 + 1], 'bfloat16')).toThrow(/string limit/);
  });
});
