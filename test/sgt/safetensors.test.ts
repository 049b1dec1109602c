import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SgtArtifactError,
  readSafetensorsFloat,
  readSafetensorsHeader,
  writeSafetensors,
} from '../../src/sgt/index.js';
import { readSafetensorsFloatRows, streamSafetensors } from '../../src/sgt/safetensors.js';
import { GaussianStream } from '../../src/sgt/seeded-normal.js';
import { float16BitsToFloat32, float32ArrayToFloat16Bits, float32ToFloat16Bits } from '../../src/sgt/float16.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sgt-safetensors-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const bytes = (view: ArrayBufferView): Uint8Array => new Uint8Array(view.buffer, view.byteOffset, view.byteLength);

async function expectArtifactError(promise: Promise<unknown>, file: string, pattern: RegExp): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SgtArtifactError);
  expect((error as SgtArtifactError).file).toBe(file);
  expect((error as SgtArtifactError).message).toMatch(pattern);
  expect((error as SgtArtifactError).message).toContain(file);
}

describe('safetensors', () => {
  it('round-trips F32, F16 and BF16 tensors with metadata', async () => {
    const path = join(dir, 'round-trip.safetensors');
    const f32 = Float32Array.from([1, -2.5, 3.25, 0, 0.125, 65504]);
    const f16 = float32ArrayToFloat16Bits(f32);
    // bfloat16 by truncation: the top 16 bits of each float32 (65504 becomes 65280).
    const bf16 = Uint16Array.from(new Uint32Array(f32.buffer.slice(0)), (b) => b >>> 16);
    await writeSafetensors(
      path,
      [
        { name: 'a', dtype: 'F32', shape: [2, 3], data: bytes(f32) },
        { name: 'b', dtype: 'F16', shape: [3, 2], data: bytes(f16) },
        { name: 'c', dtype: 'BF16', shape: [6], data: bytes(bf16) },
      ],
      { format: 'pt' },
    );
    const header = await readSafetensorsHeader(path);
    expect(header.metadata).toEqual({ format: 'pt' });
    expect([...header.tensors.keys()]).toEqual(['a', 'b', 'c']);
    // The reference writer pads the JSON so the data starts 8-byte aligned.
    expect(header.tensors.get('a')?.start).toSatisfy((n: number) => n % 8 === 0);
    expect((await readSafetensorsFloat(path, 'a')).data).toEqual(f32);
    const half = await readSafetensorsFloat(path, 'b');
    expect(half.shape).toEqual([3, 2]);
    expect(half.data).toEqual(f32); // all values are exact in float16
    expect((await readSafetensorsFloat(path, 'c')).data).toEqual(Float32Array.from([1, -2.5, 3.25, 0, 0.125, 65280]));
  });

  it('writes the layout of the format: u64 LE header length, JSON header, data', async () => {
    const path = join(dir, 'layout.safetensors');
    await writeSafetensors(path, [{ name: 'w', dtype: 'F32', shape: [1], data: bytes(Float32Array.of(1.5)) }]);
    const raw = await readFile(path);
    const headerLength = Number(raw.readBigUInt64LE(0));
    expect(JSON.parse(raw.subarray(8, 8 + headerLength).toString('utf8'))).toEqual({
      w: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
    });
    expect(raw.readFloatLE(8 + headerLength)).toBe(1.5);
    expect(raw.length).toBe(8 + headerLength + 4);
  });

  describe('rejects malformed files, naming the file', () => {
    const cases: [string, () => Buffer, RegExp][] = [
      ['empty file', () => Buffer.alloc(0), /truncated/],
      ['header length beyond the file', () => headerBuffer(1000, '{}'), /header length 1000/],
      ['header not JSON', () => headerBuffer(undefined, '{"w": '), /not valid JSON/],
      ['header not an object', () => headerBuffer(undefined, '[1,2]'), /not a JSON object/],
      [
        'unknown dtype',
        () => headerBuffer(undefined, '{"w":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}}', 1),
        /unknown dtype "Q4"/,
      ],
      [
        'byte count not matching the shape',
        () => headerBuffer(undefined, '{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', 4),
        /needs 8 bytes/,
      ],
      [
        'data running past the end',
        () => headerBuffer(undefined, '{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}', 8),
        /truncated: tensor "w"/,
      ],
      [
        'bad shape',
        () => headerBuffer(undefined, '{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}', 4),
        /shape/,
      ],
    ];
    for (const [name, make, pattern] of cases) {
      it(name, async () => {
        const path = join(dir, `${name.replaceAll(' ', '-')}.safetensors`);
        await writeFile(path, make());
        await expectArtifactError(readSafetensorsHeader(path), path, pattern);
      });
    }

    it('missing file', async () => {
      const path = join(dir, 'nope.safetensors');
      await expectArtifactError(readSafetensorsHeader(path), path, /missing/);
    });

    it('a tensor that is not there, or not a float', async () => {
      const path = join(dir, 'ints.safetensors');
      await writeSafetensors(path, [{ name: 'i', dtype: 'I64', shape: [1], data: bytes(BigInt64Array.of(1n)) }]);
      await expectArtifactError(readSafetensorsFloat(path, 'weight'), path, /no tensor named "weight"/);
      await expectArtifactError(readSafetensorsFloat(path, 'i'), path, /dtype I64/);
    });
  });
});

function headerBuffer(declaredLength: number | undefined, json: string, dataBytes = 0): Buffer {
  const header = Buffer.from(json, 'utf8');
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(declaredLength ?? header.length));
  return Buffer.concat([length, header, Buffer.alloc(dataBytes)]);
}

describe('float16', () => {
  const roundTrip = (x: number): number => float16BitsToFloat32(Uint16Array.of(float32ToFloat16Bits(x)))[0] as number;

  it('converts exactly representable values, limits and specials', () => {
    for (const x of [0, 1, -1, 0.5, 2048, 65504, -65504, 2 ** -14, 2 ** -24, 1 + 2 ** -10])
      expect(roundTrip(x)).toBe(x);
    expect(roundTrip(65520)).toBe(Infinity); // rounds past the largest finite half
    expect(roundTrip(-1e9)).toBe(-Infinity);
    expect(roundTrip(Infinity)).toBe(Infinity);
    expect(roundTrip(NaN)).toBeNaN();
    expect(Object.is(roundTrip(-0), -0)).toBe(true);
  });

  it('rounds to nearest, ties to even (normal and subnormal)', () => {
    expect(roundTrip(1 + 2 ** -11)).toBe(1); // tie → even mantissa (…0)
    expect(roundTrip(1 + 3 * 2 ** -11)).toBe(1 + 2 * 2 ** -10); // tie → even (…10)
    expect(roundTrip(1 + 2 ** -11 + 2 ** -20)).toBe(1 + 2 ** -10); // above the tie → up
    expect(roundTrip(2 ** -25)).toBe(0); // half the smallest subnormal: tie → 0
    expect(roundTrip(1.5 * 2 ** -25)).toBe(2 ** -24);
    expect(roundTrip(3 * 2 ** -25)).toBe(2 * 2 ** -24); // tie between 1 and 2 subnormal units → 2
    expect(roundTrip(2 ** -30)).toBe(0);
  });

  it('agrees with a reference rounding over many random values', () => {
    const values = Float32Array.from({ length: 10_000 }, (_, i) => Math.sin(i * 12.9898) * 10 ** ((i % 10) - 5));
    const halves = float16BitsToFloat32(float32ArrayToFloat16Bits(values));
    for (let i = 0; i < values.length; i++) {
      const x = values[i] as number;
      const y = halves[i] as number;
      // Relative error of a float16 normal is at most 2^-11; subnormals have absolute error ≤ 2^-25.
      expect(Math.abs(y - x)).toBeLessThanOrEqual(Math.max(Math.abs(x) * 2 ** -11, 2 ** -25) * (1 + 1e-9));
    }
  });

  it('bulk conversion equals the scalar one, bit for bit, over every float16 value and random float32s', () => {
    const every = float16BitsToFloat32(Uint16Array.from({ length: 65536 }, (_, i) => i));
    const random = new Float32Array(200_000);
    new GaussianStream(3n).fill(random);
    const bits = new Uint32Array(random.buffer);
    for (let i = 0; i < bits.length; i += 2) bits[i] = Math.floor(Math.random() * 2 ** 32); // any bit pattern
    for (const values of [every, random]) {
      const bulk = float32ArrayToFloat16Bits(values);
      const scalar = Uint16Array.from(values, (v) => float32ToFloat16Bits(v));
      const differ = bulk.findIndex(
        (b, i) => b !== scalar[i] && !(Number.isNaN(values[i]) && (b & 0x7c00) === 0x7c00 && (b & 0x3ff) !== 0),
      );
      expect(differ).toBe(-1);
    }
    // Every finite half round-trips exactly (NaN payloads are not preserved, only NaN-ness).
    const back = float32ArrayToFloat16Bits(every);
    for (let i = 0; i < 65536; i++) if ((i & 0x7c00) !== 0x7c00 || (i & 0x3ff) === 0) expect(back[i]).toBe(i);
    expect(() => float32ArrayToFloat16Bits(new Float32Array(4), new Uint16Array(3))).toThrow(RangeError);
  });
});

describe('streaming safetensors', () => {
  it('writes chunked tensors like writeSafetensors, returns their byte ranges, reads rows back', async () => {
    const a = Float32Array.from({ length: 6 * 4 }, (_, i) => i - 3.5);
    const b = Uint16Array.from({ length: 10 }, (_, i) => 0x3c00 + i); // float16 1, 1.0009…
    const streamed = join(dir, 'streamed.safetensors');
    const whole = join(dir, 'whole.safetensors');
    function* chunksOf(bytes: Uint8Array, size: number): Generator<Uint8Array> {
      for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
    }
    const ranges = await streamSafetensors(
      streamed,
      [
        { name: 'a', dtype: 'F32', shape: [6, 4], chunks: chunksOf(bytes(a), 7) },
        {
          name: 'b',
          dtype: 'F16',
          shape: [5, 2],
          chunks: (async function* () {
            yield* chunksOf(bytes(b), 4);
          })(),
        },
      ],
      { format: 'pt' },
    );
    await writeSafetensors(
      whole,
      [
        { name: 'a', dtype: 'F32', shape: [6, 4], data: bytes(a) },
        { name: 'b', dtype: 'F16', shape: [5, 2], data: bytes(b) },
      ],
      { format: 'pt' },
    );
    const file = await readFile(streamed);
    expect(file.equals(await readFile(whole))).toBe(true);
    const rangeA = ranges.get('a') as { start: number; end: number };
    expect(file.subarray(rangeA.start, rangeA.end).equals(Buffer.from(bytes(a)))).toBe(true);
    expect(await readSafetensorsFloatRows(streamed, 'a', 2, 3)).toEqual(a.subarray(8, 20));
    expect(await readSafetensorsFloatRows(streamed, 'b', 4, 1)).toEqual(Float32Array.of(1 + 8 / 1024, 1 + 9 / 1024));
    await expect(readSafetensorsFloatRows(streamed, 'a', 5, 2)).rejects.toThrow(RangeError);
  });

  it('refuses chunks that do not add up to the shape', async () => {
    const path = join(dir, 'short.safetensors');
    await expect(
      streamSafetensors(path, [{ name: 'a', dtype: 'F32', shape: [4], chunks: [new Uint8Array(12)] }]),
    ).rejects.toThrow(/produced 12 bytes, its shape needs 16/);
    await expect(
      streamSafetensors(path, [
        { name: 'a', dtype: 'F32', shape: [1], chunks: [new Uint8Array(4), new Uint8Array(4)] },
      ]),
    ).rejects.toThrow(/produced 8 bytes, its shape needs 4/);
  });
});
