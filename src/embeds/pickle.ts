/**
 * A restricted unpickler for the pickles torch.save writes (protocol 2). It builds no Python
 * objects: globals, persistent ids and REDUCE calls are handed to hooks that allow a fixed list,
 * so a hostile file can at worst produce an error. Every length is checked against the bytes that
 * remain before anything is read, so nothing is allocated on a size the file merely claims.
 */
import { TorchFormatError } from './errors.js';

export class PyTuple {
  constructor(readonly items: readonly PyValue[]) {}
}

export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get path(): string {
    return `${this.module}.${this.name}`;
  }
}

export class PyDict {
  readonly entries = new Map<string | number, PyValue>();
  constructor(readonly className: 'dict' | 'collections.OrderedDict') {}
}

/** Values built by the hooks (storages, tensors); `typeName` names them in error messages. */
export abstract class PyHostObject {
  abstract readonly typeName: string;
}

export type PyValue = null | boolean | number | string | PyTuple | PyGlobal | PyDict | PyHostObject;

export interface UnpickleHooks {
  /** Returns the global or throws TorchFormatError when it is not allowed. */
  resolveGlobal(module: string, name: string): PyGlobal;
  persistentLoad(pid: PyValue): PyValue;
  reduce(callable: PyGlobal, args: readonly PyValue[]): PyValue;
}

/** A single-tensor data.pkl is about 160 bytes; anything near this is not a torch.save of one tensor. */
export const MAX_PICKLE_BYTES = 1 << 20;
const MAX_GLOBAL_LINE = 256;
const HIGHEST_PROTOCOL = 2;

/** Names for the opcodes we refuse, so an error says what the file contained. */
const REFUSED_OPCODES: Readonly<Record<number, string>> = {
  0x30: 'POP',
  0x31: 'POP_MARK',
  0x32: 'DUP',
  0x42: 'BINBYTES',
  0x43: 'SHORT_BINBYTES',
  0x46: 'FLOAT',
  0x47: 'BINFLOAT',
  0x49: 'INT',
  0x4c: 'LONG',
  0x50: 'PERSID',
  0x53: 'STRING',
  0x54: 'BINSTRING',
  0x55: 'SHORT_BINSTRING',
  0x56: 'UNICODE',
  0x5d: 'EMPTY_LIST',
  0x61: 'APPEND',
  0x62: 'BUILD',
  0x64: 'DICT',
  0x65: 'APPENDS',
  0x67: 'GET',
  0x69: 'INST',
  0x6c: 'LIST',
  0x6f: 'OBJ',
  0x70: 'PUT',
  0x81: 'NEWOBJ',
  0x82: 'EXT1',
  0x83: 'EXT2',
  0x84: 'EXT4',
  0x8b: 'LONG4',
  0x8d: 'BINUNICODE8 (protocol 4)',
  0x8e: 'BINBYTES8 (protocol 4)',
  0x8f: 'EMPTY_SET (protocol 4)',
  0x91: 'FROZENSET (protocol 4)',
  0x92: 'NEWOBJ_EX (protocol 4)',
  0x93: 'STACK_GLOBAL (protocol 4)',
  0x94: 'MEMOIZE (protocol 4)',
  0x95: 'FRAME (protocol 4)',
  0x96: 'BYTEARRAY8 (protocol 5)',
  0x97: 'NEXT_BUFFER (protocol 5)',
  0x98: 'READONLY_BUFFER (protocol 5)',
};

export function unpickle(bytes: Uint8Array, hooks: UnpickleHooks): PyValue {
  if (bytes.length > MAX_PICKLE_BYTES) {
    throw new TorchFormatError(`pickle: data.pkl is ${bytes.length} bytes, more than the ${MAX_PICKLE_BYTES} allowed`);
  }
  return new Unpickler(bytes, hooks).run();
}

export function describePyValue(value: PyValue): string {
  if (value === null) return 'None';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'number') return 'int';
  if (typeof value === 'string') return 'str';
  if (value instanceof PyTuple) return `tuple of ${value.items.length}`;
  if (value instanceof PyGlobal) return value.path;
  if (value instanceof PyDict) return value.className;
  return value.typeName;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

class Unpickler {
  private pos = 0;
  private stack: PyValue[] = [];
  /** Stacks saved by MARK, as CPython's unpickler does: a MARK never lives on the value stack. */
  private readonly metastack: PyValue[][] = [];
  private readonly memo = new Map<number, PyValue>();
  private opStart = 0;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly hooks: UnpickleHooks,
  ) {}

  run(): PyValue {
    for (;;) {
      this.opStart = this.pos;
      const op = this.u8();
      if (op === 0x2e) return this.stop();
      this.step(op);
    }
  }

  private step(op: number): void {
    switch (op) {
      case 0x80:
        return this.proto();
      case 0x63:
        return this.push(this.global());
      case 0x28:
        return this.mark();
      case 0x58:
        return this.push(this.text(this.u32()));
      case 0x8c:
        return this.push(this.text(this.u8()));
      case 0x4a:
        return this.push(this.i32());
      case 0x4b:
        return this.push(this.u8());
      case 0x4d:
        return this.push(this.u16());
      case 0x8a:
        return this.push(this.long1());
      case 0x74:
        return this.push(new PyTuple(this.popMark()));
      case 0x29:
        return this.push(new PyTuple([]));
      case 0x85:
        return this.push(new PyTuple(this.popN(1)));
      case 0x86:
        return this.push(new PyTuple(this.popN(2)));
      case 0x87:
        return this.push(new PyTuple(this.popN(3)));
      case 0x51:
        return this.push(this.hooks.persistentLoad(this.pop()));
      case 0x89:
        return this.push(false);
      case 0x88:
        return this.push(true);
      case 0x4e:
        return this.push(null);
      case 0x52:
        return this.reduce();
      case 0x7d:
        return this.push(new PyDict('dict'));
      case 0x73:
        return this.setItems(this.popN(2));
      case 0x75:
        return this.setItems(this.popMark());
      case 0x71:
        return this.put(this.u8());
      case 0x72:
        return this.put(this.u32());
      case 0x68:
        return this.push(this.get(this.u8()));
      case 0x6a:
        return this.push(this.get(this.u32()));
      default:
        throw this.error(`unsupported opcode ${opcodeName(op)}`);
    }
  }

  private error(message: string): TorchFormatError {
    return new TorchFormatError(`pickle: ${message} at offset ${this.opStart}`);
  }

  private need(n: number): number {
    const at = this.pos;
    if (n > this.bytes.length - at) throw this.error('data ends in the middle of an opcode (truncated pickle?)');
    this.pos = at + n;
    return at;
  }

  private u8(): number {
    return this.bytes[this.need(1)]!;
  }

  private u16(): number {
    const at = this.need(2);
    return this.bytes[at]! | (this.bytes[at + 1]! << 8);
  }

  private u32(): number {
    return this.i32() >>> 0;
  }

  private i32(): number {
    const at = this.need(4);
    const b = this.bytes;
    return b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24);
  }

  private text(length: number): string {
    return this.decodeUtf8(this.need(length), length);
  }

  private decodeUtf8(at: number, length: number): string {
    try {
      return utf8.decode(this.bytes.subarray(at, at + length));
    } catch (cause) {
      throw new TorchFormatError(`pickle: string at offset ${this.opStart} is not valid UTF-8`, { cause });
    }
  }

  /** Little-endian two's complement; torch only needs this for sizes beyond 2^31. */
  private long1(): number {
    const n = this.u8();
    if (n > 8) throw this.error(`LONG1 of ${n} bytes is too large for a tensor size`);
    const at = this.need(n);
    let value = 0n;
    for (let i = n - 1; i >= 0; i--) value = (value << 8n) | BigInt(this.bytes[at + i]!);
    if (n > 0 && (this.bytes[at + n - 1]! & 0x80) !== 0) value -= 1n << BigInt(8 * n);
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw this.error(`integer ${value} is beyond 2^53`);
    }
    return Number(value);
  }

  private line(): string {
    const start = this.pos;
    const limit = Math.min(this.bytes.length, start + MAX_GLOBAL_LINE);
    const end = this.bytes.subarray(start, limit).indexOf(0x0a);
    if (end < 0) throw this.error('GLOBAL name is unterminated or too long');
    this.pos = start + end + 1;
    return this.decodeUtf8(start, end);
  }

  private proto(): void {
    const version = this.u8();
    if (version > HIGHEST_PROTOCOL) {
      throw this.error(
        `pickle protocol ${version} is not supported (torch.save writes protocol 2, and torch's weights-only loader refuses newer opcodes)`,
      );
    }
  }

  private global(): PyGlobal {
    const module = this.line();
    return this.hooks.resolveGlobal(module, this.line());
  }

  private mark(): void {
    this.metastack.push(this.stack);
    this.stack = [];
  }

  private popMark(): PyValue[] {
    const items = this.stack;
    const outer = this.metastack.pop();
    if (outer === undefined) throw this.error('no MARK to pop to');
    this.stack = outer;
    return items;
  }

  private push(value: PyValue): void {
    this.stack.push(value);
  }

  private pop(): PyValue {
    if (this.stack.length === 0) throw this.error('stack underflow');
    return this.stack.pop()!;
  }

  private popN(n: number): PyValue[] {
    if (this.stack.length < n) throw this.error('stack underflow');
    return this.stack.splice(this.stack.length - n, n);
  }

  private top(): PyValue {
    if (this.stack.length === 0) throw this.error('stack underflow');
    return this.stack[this.stack.length - 1]!;
  }

  private reduce(): void {
    const args = this.pop();
    const callable = this.pop();
    if (!(callable instanceof PyGlobal)) throw this.error(`REDUCE on ${describePyValue(callable)}, not a global`);
    if (!(args instanceof PyTuple)) throw this.error(`REDUCE arguments are ${describePyValue(args)}, not a tuple`);
    this.push(this.hooks.reduce(callable, args.items));
  }

  private setItems(items: PyValue[]): void {
    const target = this.top();
    if (!(target instanceof PyDict)) throw this.error(`SETITEMS on ${describePyValue(target)}, not a dict`);
    if (items.length % 2 !== 0) throw this.error('SETITEMS with an odd number of items');
    for (let i = 0; i < items.length; i += 2) {
      const key = items[i]!;
      if (typeof key !== 'string' && typeof key !== 'number')
        throw this.error(`dict key of type ${describePyValue(key)}`);
      target.entries.set(key, items[i + 1]!);
    }
  }

  private put(index: number): void {
    this.memo.set(index, this.top());
  }

  private get(index: number): PyValue {
    const value = this.memo.get(index);
    if (value === undefined) throw this.error(`memo entry ${index} was never stored`);
    return value;
  }

  private stop(): PyValue {
    const result = this.pop();
    if (this.stack.length !== 0 || this.metastack.length !== 0) throw this.error('STOP with values left on the stack');
    if (this.pos !== this.bytes.length) throw this.error(`${this.bytes.length - this.pos} bytes after STOP`);
    return result;
  }
}

function opcodeName(op: number): string {
  const hex = `0x${op.toString(16).padStart(2, '0')}`;
  const name = REFUSED_OPCODES[op];
  return name === undefined ? hex : `${name} (${hex})`;
}
