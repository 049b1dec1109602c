/**
 * torch.save's zip layout for a single tensor (docs/prompt-embeds.md): `archive/data.pkl` rebuilds the tensor
 * through `torch._utils._rebuild_tensor_v2` from persistent storage `archive/data/0`.
 */
import {
  DTYPE_INFO,
  EMBEDS_DTYPES,
  UNSUPPORTED_STORAGE_DTYPES,
  assertLittleEndianHost,
  decodeToFloat32,
  dtypeOfStorageClass,
  encodeFromFloat32,
  type EmbedsDtype,
} from './dtype.js';
import { TorchFormatError } from './errors.js';
import { PickleWriter } from './pickle-writer.js';
import {
  PyDict,
  PyGlobal,
  PyHostObject,
  PyTuple,
  describePyValue,
  unpickle,
  type PyValue,
  type UnpickleHooks,
} from './pickle.js';
import { readStoredZip, writeStoredZip, type ZipEntrySource } from './zip.js';

export interface DecodedTensor {
  data: Float32Array;
  shape: number[];
  dtype: EmbedsDtype;
}

/** 2 GiB of tensor data keeps the archive inside plain (non-Zip64) zip offsets with room to spare. */
export const MAX_TENSOR_BYTES = 2 ** 31;
const MAX_RANK = 64;
const REBUILD = new PyGlobal('torch._utils', '_rebuild_tensor_v2');
const ORDERED_DICT = new PyGlobal('collections', 'OrderedDict');
const encoder = new TextEncoder();

export function writeTorchTensor(data: Float32Array, shape: readonly number[], dtype: EmbedsDtype): Uint8Array {
  assertLittleEndianHost();
  if (!EMBEDS_DTYPES.includes(dtype))
    throw new TypeError(`unsupported embeds dtype ${String(dtype)}; expected ${EMBEDS_DTYPES.join(', ')}`);
  const numel = checkWriteShape(data, shape);
  const { itemSize, storageClass } = DTYPE_INFO[dtype];
  const nbytes = numel * itemSize;
  if (nbytes > MAX_TENSOR_BYTES)
    throw new RangeError(`tensor of ${nbytes} bytes exceeds the ${MAX_TENSOR_BYTES}-byte limit`);
  return writeStoredZip([
    fixedEntry('archive/data.pkl', tensorPickle(storageClass, numel, shape)),
    fixedEntry('archive/byteorder', encoder.encode('little')),
    { name: 'archive/data/0', size: nbytes, fill: (target) => encodeFromFloat32(data, dtype, target) },
    fixedEntry('archive/version', encoder.encode('3\n')),
  ]);
}

function checkWriteShape(data: Float32Array, shape: readonly number[]): number {
  if (shape.length > MAX_RANK) throw new RangeError(`tensor rank ${shape.length} exceeds ${MAX_RANK}`);
  let numel = 1;
  for (const dim of shape) {
    if (!Number.isSafeInteger(dim) || dim < 0) throw new RangeError(`invalid tensor shape [${shape.join(', ')}]`);
    numel *= dim;
  }
  if (numel !== data.length) {
    throw new RangeError(`shape [${shape.join(', ')}] has ${numel} elements but data has ${data.length}`);
  }
  return numel;
}

function fixedEntry(name: string, bytes: Uint8Array): ZipEntrySource {
  return { name, size: bytes.length, fill: (target) => target.set(bytes) };
}

/** The opcode sequence torch.save emits for one tensor, minus its memo (BINPUT) bookkeeping. */
function tensorPickle(storageClass: string, numel: number, shape: readonly number[]): Uint8Array {
  return new PickleWriter()
    .proto(2)
    .global(REBUILD.module, REBUILD.name)
    .mark()
    .mark()
    .string('storage')
    .global('torch', storageClass)
    .string('0')
    .string('cpu')
    .int(numel)
    .tuple()
    .binPersId()
    .int(0)
    .intTuple(shape)
    .intTuple(contiguousStrides(shape))
    .newFalse()
    .global(ORDERED_DICT.module, ORDERED_DICT.name)
    .emptyTuple()
    .reduce()
    .tuple()
    .reduce()
    .stop();
}

/** Row-major strides as torch computes them: size-0 dimensions count as 1. */
function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let step = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = step;
    step *= Math.max(shape[i]!, 1);
  }
  return strides;
}

export function readTorchTensor(bytes: Uint8Array): DecodedTensor {
  assertLittleEndianHost();
  const archive = new TorchArchive(readStoredZip(bytes));
  const loader = new SingleTensorLoader(archive);
  const result = unpickle(archive.require('data.pkl'), loader);
  if (!(result instanceof TensorRef)) {
    throw new TorchFormatError(`data.pkl holds a ${describePyValue(result)}, not a single tensor`);
  }
  return result.materialize();
}

/** Entries under the archive's top folder, whose name torch takes from the first entry. */
class TorchArchive {
  private readonly prefix: string;

  constructor(private readonly entries: Map<string, Uint8Array>) {
    const first = entries.keys().next().value;
    const slash = first?.indexOf('/') ?? -1;
    if (first === undefined) throw new TorchFormatError('not a torch.save archive: the zip is empty');
    if (slash <= 0) {
      throw new TorchFormatError('not a torch.save archive: entries are not inside a top-level folder');
    }
    this.prefix = first.slice(0, slash + 1);
    this.checkVersion();
    this.checkByteOrder();
  }

  get(name: string): Uint8Array | undefined {
    return this.entries.get(this.prefix + name);
  }

  require(name: string): Uint8Array {
    const entry = this.get(name);
    if (entry === undefined) throw new TorchFormatError(`not a torch.save archive: ${this.prefix}${name} is missing`);
    return entry;
  }

  /** Newer torch moved `version` to `.data/version`; it reads either, and so do we. */
  private checkVersion(): void {
    const raw = this.get('version') ?? this.get('.data/version');
    if (raw === undefined) throw new TorchFormatError(`not a torch.save archive: ${this.prefix}version is missing`);
    const text = new TextDecoder().decode(raw).trim();
    if (!/^[1-9][0-9]{0,3}$/.test(text))
      throw new TorchFormatError(`torch archive version ${JSON.stringify(text)} is not a positive integer`);
  }

  private checkByteOrder(): void {
    const raw = this.get('byteorder');
    if (raw === undefined) return; // older torch (1.13 included) writes none and means little-endian
    const order = new TextDecoder().decode(raw);
    if (order !== 'little')
      throw new TorchFormatError(
        `tensor byte order ${JSON.stringify(order)} is not supported; only little-endian files are`,
      );
  }
}

class StorageRef extends PyHostObject {
  readonly typeName = 'storage';
  constructor(
    readonly key: string,
    readonly dtype: EmbedsDtype,
    readonly numel: number,
    readonly bytes: Uint8Array,
  ) {
    super();
  }
}

class TensorRef extends PyHostObject {
  readonly typeName = 'tensor';
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly shape: number[],
    readonly numel: number,
  ) {
    super();
  }

  materialize(): DecodedTensor {
    const { dtype, bytes } = this.storage;
    const start = this.offset * DTYPE_INFO[dtype].itemSize;
    return { data: decodeToFloat32(bytes.subarray(start), dtype, this.numel), shape: this.shape, dtype };
  }
}

/** Unpickle hooks that allow exactly what a torch.save of one float tensor needs. */
class SingleTensorLoader implements UnpickleHooks {
  private storage: StorageRef | undefined;
  private tensors = 0;

  constructor(private readonly archive: TorchArchive) {}

  resolveGlobal(module: string, name: string): PyGlobal {
    if (module === REBUILD.module && name === REBUILD.name) return REBUILD;
    if (module === ORDERED_DICT.module && name === ORDERED_DICT.name) return ORDERED_DICT;
    if (module === 'torch' && dtypeOfStorageClass(name) !== undefined) return new PyGlobal(module, name);
    const unsupported = module === 'torch' ? UNSUPPORTED_STORAGE_DTYPES.get(name) : undefined;
    if (unsupported !== undefined) {
      throw new TorchFormatError(
        `unsupported tensor dtype ${unsupported} (torch.${name}); expected ${EMBEDS_DTYPES.join(', ')}`,
      );
    }
    throw new TorchFormatError(
      `pickle: global ${module}.${name} is not allowed; only ${REBUILD.path}, torch.FloatStorage, torch.BFloat16Storage, torch.HalfStorage and ${ORDERED_DICT.path} are`,
    );
  }

  persistentLoad(pid: PyValue): PyValue {
    const [kind, storageClass, key, location, numel] = expectTuple(pid, 5, 'persistent id');
    if (kind !== 'storage')
      throw new TorchFormatError(`persistent id kind ${describePyValue(kind ?? null)} is not 'storage'`);
    const dtype =
      storageClass instanceof PyGlobal && storageClass.module === 'torch'
        ? dtypeOfStorageClass(storageClass.name)
        : undefined;
    if (dtype === undefined)
      throw new TorchFormatError(`persistent id names ${describePyValue(storageClass ?? null)}, not a storage class`);
    if (typeof key !== 'string' || typeof location !== 'string')
      throw new TorchFormatError('persistent id key and location must be strings');
    if (this.storage !== undefined) {
      if (this.storage.key === key) return this.storage;
      throw new TorchFormatError('the file holds more than one storage; prompt_embeds must be a single tensor');
    }
    this.storage = this.loadStorage(key, dtype, expectCount(numel ?? null, 'storage numel'));
    return this.storage;
  }

  private loadStorage(key: string, dtype: EmbedsDtype, numel: number): StorageRef {
    const bytes = this.archive.require(`data/${key}`);
    const itemSize = DTYPE_INFO[dtype].itemSize;
    if (bytes.length !== numel * itemSize) {
      throw new TorchFormatError(
        `storage data/${key} has ${bytes.length} bytes but the pickle declares ${numel} ${dtype} elements (${numel * itemSize} bytes)`,
      );
    }
    return new StorageRef(key, dtype, numel, bytes);
  }

  reduce(callable: PyGlobal, args: readonly PyValue[]): PyValue {
    if (callable === ORDERED_DICT) {
      if (args.length !== 0) throw new TorchFormatError('pickle: OrderedDict built with arguments');
      return new PyDict('collections.OrderedDict');
    }
    if (callable === REBUILD) return this.rebuildTensor(args);
    throw new TorchFormatError(`pickle: calling ${callable.path} is not allowed`);
  }

  private rebuildTensor(args: readonly PyValue[]): TensorRef {
    const [storage, offset, size, stride, requiresGrad, hooks] = expectTuple(
      new PyTuple(args),
      6,
      '_rebuild_tensor_v2 arguments',
    );
    if (!(storage instanceof StorageRef))
      throw new TorchFormatError('_rebuild_tensor_v2: first argument is not a storage');
    if (++this.tensors > 1)
      throw new TorchFormatError('the file holds more than one tensor; prompt_embeds must be a single tensor');
    if (typeof requiresGrad !== 'boolean')
      throw new TorchFormatError('_rebuild_tensor_v2: requires_grad is not a bool');
    if (!(hooks instanceof PyDict) || hooks.entries.size !== 0)
      throw new TorchFormatError('_rebuild_tensor_v2: backward hooks must be an empty OrderedDict');
    const shape = expectIntTuple(size ?? null, 'size');
    const strides = expectIntTuple(stride ?? null, 'stride');
    if (strides.length !== shape.length)
      throw new TorchFormatError(`tensor has ${shape.length} sizes but ${strides.length} strides`);
    const start = expectCount(offset ?? null, 'storage offset');
    const numel = checkedNumel(shape, storage.numel);
    checkContiguous(shape, strides);
    if (numel > 0 && start + numel > storage.numel) {
      throw new TorchFormatError(
        `tensor of ${numel} elements at storage offset ${start} overruns its storage of ${storage.numel} elements`,
      );
    }
    return new TensorRef(storage, start, shape, numel);
  }
}

function expectTuple(value: PyValue, length: number, what: string): readonly (PyValue | undefined)[] {
  if (!(value instanceof PyTuple) || value.items.length !== length) {
    throw new TorchFormatError(`${what}: expected a tuple of ${length}, got ${describePyValue(value)}`);
  }
  return value.items;
}

function expectCount(value: PyValue, what: string): number {
  if (typeof value !== 'number' || value < 0)
    throw new TorchFormatError(`${what} is ${describePyValue(value)}, not a non-negative int`);
  return value;
}

function expectIntTuple(value: PyValue, what: string): number[] {
  if (!(value instanceof PyTuple))
    throw new TorchFormatError(`tensor ${what} is ${describePyValue(value)}, not a tuple`);
  if (value.items.length > MAX_RANK)
    throw new TorchFormatError(`tensor rank ${value.items.length} exceeds ${MAX_RANK}`);
  return value.items.map((item) => expectCount(item, `tensor ${what} entry`));
}

/** Product of sizes, refusing (before it can overflow) anything larger than the storage. */
function checkedNumel(shape: readonly number[], storageNumel: number): number {
  if (shape.includes(0)) return 0;
  let numel = 1;
  for (const dim of shape) {
    numel *= dim;
    if (numel > storageNumel) {
      throw new TorchFormatError(
        `tensor size [${shape.join(', ')}] needs more elements than its storage holds (${storageNumel})`,
      );
    }
  }
  return numel;
}

/** torch's own rule: strides of size-1 dimensions, and of empty tensors, do not matter. */
function checkContiguous(shape: readonly number[], strides: readonly number[]): void {
  if (shape.includes(0)) return;
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    const dim = shape[i]!;
    if (dim !== 1 && strides[i] !== expected) {
      throw new TorchFormatError(
        `tensor is not contiguous (size [${shape.join(', ')}], stride [${strides.join(', ')}]); save it with .contiguous()`,
      );
    }
    expected *= dim;
  }
}
