/**
 * The contract's oracle is real torch (docs/prompt-embeds.md): our files must load with
 * `torch.load(..., weights_only=True)` and torch.save's files must load with our reader. All cases
 * go through one Python process to keep the suite fast. TORCH_PYTHON overrides the interpreter
 * (default: Debian's /usr/bin/python3 with python3-torch).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  EMBEDS_DTYPES,
  TorchFormatError,
  encodePromptEmbeds,
  readTorchTensor,
  writeTorchTensor,
  type EmbedsDtype,
} from '../../src/embeds/index.js';
import { EDGE_VALUES, bitsOfF32, entryData, listZip, pseudoRandomFloats } from './helpers.js';

const PYTHON = process.env.TORCH_PYTHON ?? '/usr/bin/python3';
const ORACLE = fileURLToPath(new URL('./torch_oracle.py', import.meta.url));

const probe = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
const torchAvailable = probe.status === 0;
const mustRun = process.env.CI === 'true';
const skip = !torchAvailable && !mustRun;
const SKIP_REASON =
  `python3-torch unavailable (${PYTHON} -c "import torch" failed: ${(probe.error?.message ?? probe.stderr ?? '').trim().split('\n').at(-1) ?? ''}); ` +
  'install python3-torch to run these; under CI=true they run and fail instead';

interface TorchTensor {
  ok: boolean;
  error?: string;
  dtype?: string;
  shape?: number[];
  bits?: number[] | null;
}

interface SavedByTorch extends TorchTensor {
  b64: string;
  torch_loads: boolean;
}

interface OracleReply {
  torch: string;
  loaded: Record<string, TorchTensor>;
  converted: Record<'bfloat16' | 'float16', number[]>;
  saved: Record<string, SavedByTorch>;
}

interface OurCase {
  id: string;
  file: Uint8Array;
  b64: string;
}

const T = 7;
const H = 33;

function ourCases(): OurCase[] {
  const data = pseudoRandomFloats(T * H, 3);
  data.set(EDGE_VALUES);
  const specs: [string, Float32Array, number[], EmbedsDtype][] = [];
  for (const dtype of EMBEDS_DTYPES) {
    specs.push([`${dtype}-[T,H]`, data, [T, H], dtype], [`${dtype}-[1,T,H]`, data, [1, T, H], dtype]);
  }
  specs.push(['large-dims', new Float32Array(80_000).fill(0.5), [2, 40_000], 'float16']);
  specs.push(['scalar', new Float32Array([-1.25]), [], 'bfloat16']);
  specs.push(['empty', new Float32Array(0), [0, H], 'float32']);
  const cases = specs.map(([id, values, shape, dtype]) => {
    const file = writeTorchTensor(values, shape, dtype);
    return { id, file, b64: encodePromptEmbeds(values, shape, dtype) };
  });
  const zeroed = zeroCrcs(writeTorchTensor(data, [T, H], 'bfloat16'));
  return [...cases, { id: 'crc-zeroed', file: zeroed, b64: Buffer.from(zeroed).toString('base64') }];
}

/** CRC fields set to 0, as torch writes them with `set_crc32_options(False)`. */
function zeroCrcs(file: Uint8Array): Uint8Array {
  const copy = file.slice();
  const view = new DataView(copy.buffer);
  const centralStart = view.getUint32(copy.length - 6, true);
  let p = centralStart;
  for (const entry of listZip(copy)) {
    view.setUint32(entry.headerOffset + 14, 0, true);
    view.setUint32(p + 16, 0, true);
    p += 46 + Buffer.byteLength(entry.name);
  }
  return copy;
}

/** Bit patterns of what we stored in data/0, widened to unsigned ints like the oracle's. */
function storedBits(file: Uint8Array, dtype: EmbedsDtype): number[] {
  const raw = entryData(file, 'archive/data/0').slice();
  return Array.from(dtype === 'float32' ? new Uint32Array(raw.buffer) : new Uint16Array(raw.buffer));
}

const isNaNBits = (b: number, dtype: EmbedsDtype): boolean =>
  dtype === 'float32'
    ? (b & 0x7fffffff) > 0x7f800000
    : dtype === 'bfloat16'
      ? (b & 0x7fff) > 0x7f80
      : (b & 0x7fff) > 0x7c00;

/** Bit-exact except that NaNs only need to be NaNs (torch's vectorised bf16 cast writes 0xFFFF). */
function firstBitMismatch(
  actual: readonly number[],
  expected: readonly number[],
  dtype: EmbedsDtype,
): string | undefined {
  if (actual.length !== expected.length) return `length ${actual.length} != ${expected.length}`;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (a !== e && !(isNaNBits(a, dtype) && isNaNBits(e, dtype)))
      return `index ${i}: 0x${a.toString(16)} != 0x${e.toString(16)}`;
  }
  return undefined;
}

function ourF32Bits(values: Float32Array): number[] {
  return Array.from(new Uint32Array(values.buffer, values.byteOffset, values.length));
}

describe('interop with real torch (torch.load weights_only=True)', () => {
  const cases = skip ? [] : ourCases();
  const conversionInputs = [...Array.from(EDGE_VALUES, bitsOfF32), ...ourF32Bits(pseudoRandomFloats(65_536, 11))];
  let reply: OracleReply;

  beforeAll(() => {
    if (skip) return;
    if (!torchAvailable) throw new Error(`CI=true requires real torch: ${SKIP_REASON}`);
    const request = { load: cases.map(({ id, b64 }) => ({ id, b64 })), convert_f32_bits: conversionInputs };
    const run = spawnSync(PYTHON, [ORACLE], {
      input: JSON.stringify(request),
      encoding: 'utf8',
      maxBuffer: 64 << 20,
      timeout: 120_000,
    });
    if (run.status !== 0) throw new Error(`torch oracle failed (${run.status ?? run.signal}): ${run.stderr}`);
    reply = JSON.parse(run.stdout) as OracleReply;
  });

  it('loads every file we write with the right dtype, shape and bits', (ctx) => {
    ctx.skip(skip, SKIP_REASON);
    for (const { id, file } of cases) {
      const ours = readTorchTensor(file);
      const theirs = reply.loaded[id];
      expect(theirs, id).toMatchObject({ ok: true, dtype: ours.dtype, shape: ours.shape });
      expect(firstBitMismatch(theirs!.bits!, storedBits(file, ours.dtype), ours.dtype), id).toBeUndefined();
    }
  });

  it('rounds float32 to bfloat16 and float16 exactly as torch does', (ctx) => {
    ctx.skip(skip, SKIP_REASON);
    for (const dtype of ['bfloat16', 'float16'] as const) {
      const file = writeTorchTensor(
        new Float32Array(new Uint32Array(conversionInputs).buffer),
        [conversionInputs.length],
        dtype,
      );
      expect(firstBitMismatch(storedBits(file, dtype), reply.converted[dtype], dtype), dtype).toBeUndefined();
    }
  });

  it('reads what torch.save wrote, for every dtype and both shapes, slices and named files', (ctx) => {
    ctx.skip(skip, SKIP_REASON);
    const readable = Object.entries(reply.saved).filter(([id]) => !/col-slice|float64|dict|protocol4/.test(id));
    expect(readable.length).toBeGreaterThanOrEqual(12);
    for (const [id, saved] of readable) {
      const ours = readTorchTensor(Buffer.from(saved.b64, 'base64'));
      expect({ dtype: ours.dtype, shape: ours.shape }, id).toEqual({ dtype: saved.dtype, shape: saved.shape });
      const widened = ourF32Bits(ours.data);
      const expected = saved.bits!.map((b) => (ours.dtype === 'float32' ? b : b << 16));
      if (ours.dtype === 'float16') {
        // Compare float16 through torch's own widening: round-tripping back to half must be exact.
        const back = storedBits(writeTorchTensor(ours.data, ours.shape, 'float16'), 'float16');
        expect(firstBitMismatch(back, saved.bits!, 'float16'), id).toBeUndefined();
      } else {
        expect(
          firstBitMismatch(
            widened,
            expected.map((b) => b >>> 0),
            'float32',
          ),
          id,
        ).toBeUndefined();
      }
    }
  });

  it('rejects what it must, agreeing with torch where torch rejects too', (ctx) => {
    ctx.skip(skip, SKIP_REASON);
    const expectations: [string, RegExp, boolean][] = [
      ['protocol4', /pickle protocol 4 is not supported/, false],
      ['float64', /unsupported tensor dtype float64/, true],
      ['dict', /more than one storage|holds a dict/, true],
      ['float32-col-slice', /not contiguous/, true], // torch loads a strided view; vLLM wants a plain [T, H]
    ];
    for (const [id, message, torchLoads] of expectations) {
      const saved = reply.saved[id]!;
      expect(saved.torch_loads, id).toBe(torchLoads);
      const bytes = Buffer.from(saved.b64, 'base64');
      expect(() => readTorchTensor(bytes), id).toThrow(TorchFormatError);
      expect(() => readTorchTensor(bytes), id).toThrow(message);
    }
  });
});
