import { describe, expect, it } from 'vitest';
import { TorchFormatError, readTorchTensor, writeTorchTensor } from '../../src/embeds/index.js';
import {
  OP,
  bytesOf,
  craftTorchFile,
  craftZip,
  entryData,
  global,
  int,
  intTuple,
  listZip,
  tensorCall,
  tensorPickle,
  unicode,
  type TensorCall,
} from './helpers.js';

const f32Bytes = (values: number[]): Uint8Array => new Uint8Array(new Float32Array(values).buffer);
const six = f32Bytes([0, 1, 2, 3, 4, 5]);

function fileFor(
  call: TensorCall,
  storage: Uint8Array = six,
  extra: Partial<Parameters<typeof craftTorchFile>[0]> = {},
): Uint8Array {
  return craftTorchFile({ pickle: tensorPickle(call), storages: { [call.key ?? '0']: storage }, ...extra });
}

function rejects(bytes: Uint8Array, message: RegExp): void {
  expect(() => readTorchTensor(bytes)).toThrow(TorchFormatError);
  expect(() => readTorchTensor(bytes)).toThrow(message);
}

describe('readTorchTensor accepts what torch.save writes', () => {
  it('reads an independently built torch-1.13-style file (memo ops, no byteorder)', () => {
    const file = fileFor({ numel: 6, size: [2, 3] }, six, { byteorder: null });
    expect(readTorchTensor(file)).toEqual({
      data: new Float32Array([0, 1, 2, 3, 4, 5]),
      shape: [2, 3],
      dtype: 'float32',
    });
  });

  it('takes the archive folder name from the first entry, whatever it is', () => {
    const file = fileFor({ numel: 6, size: [1, 2, 3] }, six, { prefix: 'my_embeds' });
    expect(readTorchTensor(file).shape).toEqual([1, 2, 3]);
  });

  it('ignores the extra entries newer torch writes and reads .data/version', () => {
    const file = fileFor({ numel: 6, size: [2, 3] }, six, {
      version: null,
      extra: {
        '.data/version': bytesOf('3\n'),
        '.format_version': bytesOf('1'),
        '.storage_alignment': bytesOf('64'),
        '.data/serialization_id': bytesOf('1234567890'),
      },
    });
    expect(readTorchTensor(file).data).toEqual(new Float32Array([0, 1, 2, 3, 4, 5]));
  });

  it('honours a storage offset into a larger storage (a saved row slice)', () => {
    const file = fileFor({ numel: 6, size: [2, 2], offset: 2 });
    expect(readTorchTensor(file)).toEqual({ data: new Float32Array([2, 3, 4, 5]), shape: [2, 2], dtype: 'float32' });
  });

  it('accepts any stride on size-1 dimensions, as torch.is_contiguous does', () => {
    const file = fileFor({ numel: 6, size: [1, 2, 3], stride: [999, 3, 1] });
    expect(readTorchTensor(file).shape).toEqual([1, 2, 3]);
  });

  it('accepts requires_grad=True and a CUDA location (vLLM maps it to cpu)', () => {
    const file = fileFor({ numel: 6, size: [6], requiresGrad: true, location: 'cuda:0' });
    expect(readTorchTensor(file).shape).toEqual([6]);
  });

  it('decodes 16-bit storages from a misaligned input buffer', () => {
    const file = writeTorchTensor(new Float32Array([1, -2, 0.5]), [3], 'bfloat16');
    const shifted = new Uint8Array(file.length + 1);
    shifted.set(file, 1);
    expect(readTorchTensor(shifted.subarray(1)).data).toEqual(new Float32Array([1, -2, 0.5]));
    const half = writeTorchTensor(new Float32Array([1, -2, 0.5]), [3], 'float16');
    const shiftedHalf = new Uint8Array(half.length + 1);
    shiftedHalf.set(half, 1);
    expect(readTorchTensor(shiftedHalf.subarray(1)).data).toEqual(new Float32Array([1, -2, 0.5]));
  });

  it('does not check CRC-32, like torch (corrupt CRCs load; torch can write CRC-less files)', () => {
    const file = writeTorchTensor(new Float32Array([1, 2, 3]), [3], 'float32');
    const corrupted = file.slice();
    const view = new DataView(corrupted.buffer);
    for (const entry of listZip(corrupted)) view.setUint32(entry.headerOffset + 14, 0, true);
    const central = view.getUint32(corrupted.length - 6, true);
    view.setUint32(central + 16, 0xdeadbeef, true);
    expect(readTorchTensor(corrupted).data).toEqual(new Float32Array([1, 2, 3]));
  });
});

describe('readTorchTensor rejects malformed archives', () => {
  it('rejects every truncation of a valid file with TorchFormatError', () => {
    const file = writeTorchTensor(new Float32Array([1, 2, 3, 4]), [2, 2], 'bfloat16');
    for (let length = 0; length < file.length; length++) {
      expect(() => readTorchTensor(file.subarray(0, length)), `length ${length}`).toThrow(TorchFormatError);
    }
  });

  it('rejects input that is not a zip', () => {
    rejects(new Uint8Array(0), /not a zip archive/);
    rejects(bytesOf('{"prompt": "hello, this is JSON and not a torch file"}'), /not a zip archive/);
    rejects(bytesOf(0x80, 0x02, ...Array.from({ length: 40 }, () => 0x4e), 0x2e), /not a zip archive/);
  });

  it('rejects compressed entries', () => {
    const zip = craftZip([{ name: 'archive/data.pkl', data: tensorPickle({ numel: 6, size: [6] }), method: 8 }]);
    rejects(zip, /compression method 8/);
  });

  it('rejects duplicate entry names', () => {
    const pkl = tensorPickle({ numel: 6, size: [6] });
    rejects(
      craftZip([
        { name: 'archive/data.pkl', data: pkl },
        { name: 'archive/data.pkl', data: pkl },
      ]),
      /duplicate entry archive\/data.pkl/,
    );
  });

  it('rejects entries outside a folder', () => {
    rejects(craftZip([{ name: 'data.pkl', data: tensorPickle({ numel: 6, size: [6] }) }]), /top-level folder/);
  });

  it('names the missing entry: data.pkl, version, data/0', () => {
    rejects(
      craftZip([
        { name: 'archive/version', data: bytesOf('3\n') },
        { name: 'archive/data/0', data: six },
      ]),
      /archive\/data.pkl is missing/,
    );
    rejects(fileFor({ numel: 6, size: [6] }, six, { version: null }), /archive\/version is missing/);
    rejects(craftTorchFile({ pickle: tensorPickle({ numel: 6, size: [6] }) }), /archive\/data\/0 is missing/);
  });

  it('rejects a bad version and a big-endian byte order', () => {
    rejects(fileFor({ numel: 6, size: [6] }, six, { version: 'three' }), /version "three"/);
    rejects(fileFor({ numel: 6, size: [6] }, six, { byteorder: 'big' }), /byte order "big"/);
  });
});

describe('readTorchTensor rejects pickles outside the allow-list', () => {
  const withPickle = (pickle: Uint8Array): Uint8Array => craftTorchFile({ pickle, storages: { '0': six } });

  it('refuses a forbidden global before calling anything', () => {
    const evil = bytesOf(
      OP.PROTO,
      2,
      ...global('os', 'system'),
      ...unicode('touch /tmp/pwned'),
      OP.TUPLE1,
      OP.REDUCE,
      OP.STOP,
    );
    rejects(withPickle(evil), /global os\.system is not allowed/);
    rejects(
      withPickle(bytesOf(OP.PROTO, 2, ...global('builtins', 'eval'), OP.STOP)),
      /global builtins\.eval is not allowed/,
    );
    rejects(
      withPickle(bytesOf(OP.PROTO, 2, ...global('torch', 'constructor'), OP.STOP)),
      /global torch\.constructor is not allowed/,
    );
  });

  it('refuses protocol 4 and its opcodes', () => {
    rejects(withPickle(tensorPickle({ numel: 6, size: [6] }, 4)), /pickle protocol 4 is not supported/);
    rejects(
      withPickle(bytesOf(OP.PROTO, 2, OP.FRAME, 0, 0, 0, 0, 0, 0, 0, 0, OP.STOP)),
      /unsupported opcode FRAME \(protocol 4\) \(0x95\)/,
    );
  });

  it('refuses opcodes torch.save never emits for a tensor', () => {
    rejects(withPickle(bytesOf(OP.PROTO, 2, OP.EMPTY_LIST, OP.STOP)), /unsupported opcode EMPTY_LIST/);
    rejects(
      withPickle(bytesOf(OP.PROTO, 2, OP.BINFLOAT, 0, 0, 0, 0, 0, 0, 0, 0, OP.STOP)),
      /unsupported opcode BINFLOAT/,
    );
  });

  it('names an unsupported dtype', () => {
    const f64 = craftTorchFile({
      pickle: tensorPickle({ numel: 3, size: [3], storageClass: 'DoubleStorage' }),
      storages: { '0': new Uint8Array(24) },
    });
    rejects(f64, /unsupported tensor dtype float64 \(torch\.DoubleStorage\)/);
    const i64 = craftTorchFile({
      pickle: tensorPickle({ numel: 3, size: [3], storageClass: 'LongStorage' }),
      storages: { '0': new Uint8Array(24) },
    });
    rejects(i64, /unsupported tensor dtype int64/);
  });

  it('rejects structurally broken pickles', () => {
    rejects(withPickle(bytesOf(OP.PROTO, 2, OP.STOP)), /stack underflow/);
    rejects(withPickle(bytesOf(OP.PROTO, 2, OP.NONE, OP.NONE, OP.STOP)), /values left on the stack/);
    rejects(withPickle(bytesOf(OP.PROTO, 2, OP.NONE, OP.STOP, 0)), /1 bytes after STOP/);
    rejects(withPickle(bytesOf(OP.PROTO, 2, OP.BINGET, 7, OP.STOP)), /memo entry 7 was never stored/);
    rejects(withPickle(bytesOf(OP.PROTO, 2, 0x58, 0xff, 0xff, 0xff, 0x7f, 'abc')), /truncated pickle/);
    rejects(withPickle(bytesOf(OP.PROTO, 2, 0x8a, 9, ...new Array<number>(9).fill(1), OP.STOP)), /LONG1 of 9 bytes/);
    rejects(withPickle(bytesOf(OP.PROTO, 2, OP.NONE)), /truncated pickle/);
    rejects(withPickle(bytesOf(OP.PROTO, 2, OP.TUPLE, OP.STOP)), /no MARK/);
  });

  it('rejects a pickle whose result is not a tensor', () => {
    rejects(
      withPickle(bytesOf(OP.PROTO, 2, ...global('collections', 'OrderedDict'), OP.EMPTY_TUPLE, OP.REDUCE, OP.STOP)),
      /holds a collections.OrderedDict, not a single tensor/,
    );
    rejects(
      withPickle(
        bytesOf(
          OP.PROTO,
          2,
          OP.EMPTY_DICT,
          OP.MARK,
          ...unicode('a'),
          ...tensorCall({ numel: 6, size: [6] }),
          0x75,
          OP.STOP,
        ),
      ),
      /holds a dict/,
    );
  });
});

describe('readTorchTensor checks tensor metadata against the storage', () => {
  it('rejects a storage whose byte size does not match its declared numel', () => {
    rejects(
      fileFor({ numel: 5, size: [5] }),
      /storage data\/0 has 24 bytes but the pickle declares 5 float32 elements \(20 bytes\)/,
    );
    rejects(fileFor({ numel: 7, size: [7] }), /declares 7 float32 elements/);
  });

  it('rejects sizes that need more elements than the storage holds', () => {
    rejects(fileFor({ numel: 6, size: [2, 4] }), /needs more elements than its storage holds \(6\)/);
    rejects(fileFor({ numel: 6, size: [2 ** 40, 2 ** 40] }), /needs more elements/);
    rejects(fileFor({ numel: 6, size: [2, 2], offset: 3 }), /overruns its storage/);
  });

  it('rejects non-contiguous strides', () => {
    rejects(fileFor({ numel: 6, size: [3, 2], stride: [1, 3] }), /not contiguous \(size \[3, 2\], stride \[1, 3\]\)/);
  });

  it('rejects mismatched size and stride ranks', () => {
    rejects(fileFor({ numel: 6, size: [2, 3], stride: [1] }), /2 sizes but 1 strides/);
  });

  it('rejects more than one tensor, on one storage or two', () => {
    const twoStorages = bytesOf(
      OP.PROTO,
      2,
      OP.MARK,
      ...tensorCall({ numel: 6, size: [6] }),
      ...tensorCall({ numel: 6, size: [6], key: '1' }),
      OP.TUPLE,
      OP.STOP,
    );
    rejects(craftTorchFile({ pickle: twoStorages, storages: { '0': six, '1': six } }), /more than one storage/);
    const sameStorage = bytesOf(
      OP.PROTO,
      2,
      ...tensorCall({ numel: 6, size: [6] }),
      ...tensorCall({ numel: 6, size: [3] }),
      OP.TUPLE2,
      OP.STOP,
    );
    rejects(craftTorchFile({ pickle: sameStorage, storages: { '0': six } }), /more than one tensor/);
  });

  it('rejects a persistent id that is not a storage', () => {
    const pickle = bytesOf(
      OP.PROTO,
      2,
      OP.MARK,
      ...unicode('module'),
      ...global('torch', 'FloatStorage'),
      ...unicode('0'),
      ...unicode('cpu'),
      ...int(6),
      OP.TUPLE,
      OP.BINPERSID,
      OP.STOP,
    );
    rejects(craftTorchFile({ pickle, storages: { '0': six } }), /persistent id kind str is not 'storage'/);
  });

  it('rejects non-empty backward hooks', () => {
    const args = [
      OP.MARK,
      OP.MARK,
      ...unicode('storage'),
      ...global('torch', 'FloatStorage'),
      ...unicode('0'),
      ...unicode('cpu'),
      ...int(6),
      OP.TUPLE,
      OP.BINPERSID,
      ...int(0),
      ...intTuple([6]),
      ...intTuple([1]),
      OP.NEWFALSE,
      OP.EMPTY_DICT,
      OP.MARK,
      ...unicode('hook'),
      OP.NONE,
      0x75,
      OP.TUPLE,
    ];
    const pickle = bytesOf(OP.PROTO, 2, ...global('torch._utils', '_rebuild_tensor_v2'), ...args, OP.REDUCE, OP.STOP);
    rejects(craftTorchFile({ pickle, storages: { '0': six } }), /backward hooks must be an empty OrderedDict/);
  });
});

describe('16-bit decoding is exact for every bit pattern', () => {
  const all = new Uint16Array(65536).map((_, i) => i);
  const storage = new Uint8Array(all.buffer);

  const halfValue = (h: number): number => {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0x1f) return mant === 0 ? sign * Infinity : NaN;
    return sign * (exp === 0 ? mant * 2 ** -24 : (1 + mant / 1024) * 2 ** (exp - 15));
  };

  it('widens all 65536 float16 values exactly and narrows them back to the same bits', () => {
    const file = craftTorchFile({
      pickle: tensorPickle({ numel: 65536, size: [65536], storageClass: 'HalfStorage' }),
      storages: { '0': storage },
    });
    const { data } = readTorchTensor(file);
    for (let h = 0; h < 65536; h++) {
      const expected = halfValue(h);
      if (!(Object.is(data[h], expected) || (Number.isNaN(expected) && Number.isNaN(data[h]))))
        throw new Error(`half 0x${h.toString(16)}: ${data[h]} != ${expected}`);
    }
    const back = new Uint16Array(
      entryData(writeTorchTensor(data, [65536], 'float16'), 'archive/data/0').slice().buffer,
    );
    for (let h = 0; h < 65536; h++) {
      if (!Number.isNaN(halfValue(h)) && back[h] !== h)
        throw new Error(`half 0x${h.toString(16)} came back as 0x${back[h]!.toString(16)}`);
    }
  });

  it('widens all 65536 bfloat16 values and narrows them back to the same bits (NaNs stay NaN)', () => {
    const file = craftTorchFile({
      pickle: tensorPickle({ numel: 65536, size: [65536], storageClass: 'BFloat16Storage' }),
      storages: { '0': storage },
    });
    const { data } = readTorchTensor(file);
    const back = new Uint16Array(
      entryData(writeTorchTensor(data, [65536], 'bfloat16'), 'archive/data/0').slice().buffer,
    );
    for (let b = 0; b < 65536; b++) {
      const isNaN = (b & 0x7fff) > 0x7f80;
      if (isNaN ? !Number.isNaN(data[b]) || back[b] !== 0x7fc0 : back[b] !== b)
        throw new Error(`bfloat16 0x${b.toString(16)} came back as 0x${back[b]!.toString(16)}`);
    }
  });
});
