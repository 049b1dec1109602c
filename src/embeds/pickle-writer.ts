/**
 * Emits the few protocol-2 opcodes a torch.save of one tensor uses. The pickle is ~200 bytes, so
 * a growable number array is simpler than sizing a buffer up front.
 */

const encoder = new TextEncoder();

export class PickleWriter {
  private readonly out: number[] = [];

  proto(version: number): this {
    return this.op(0x80, version);
  }

  global(module: string, name: string): this {
    return this.op(0x63).raw(encoder.encode(`${module}\n${name}\n`));
  }

  mark(): this {
    return this.op(0x28);
  }

  tuple(): this {
    return this.op(0x74);
  }

  emptyTuple(): this {
    return this.op(0x29);
  }

  /** A tuple of ints in the shortest form, as CPython's pickler chooses it. */
  intTuple(values: readonly number[]): this {
    if (values.length === 0) return this.emptyTuple();
    const small = values.length <= 3;
    if (!small) this.mark();
    for (const v of values) this.int(v);
    return small ? this.op([0x85, 0x86, 0x87][values.length - 1]!) : this.tuple();
  }

  string(value: string): this {
    const utf8 = encoder.encode(value);
    return this.op(0x58).le(utf8.length, 4).raw(utf8);
  }

  /** BININT1/BININT2/BININT for what fits, LONG1 beyond 2^31 (sizes of huge tensors). */
  int(value: number): this {
    if (!Number.isSafeInteger(value) || value < 0)
      throw new RangeError(`cannot pickle ${value}: expected a non-negative safe integer`);
    if (value < 0x100) return this.op(0x4b, value);
    if (value < 0x10000) return this.op(0x4d).le(value, 2);
    if (value < 0x80000000) return this.op(0x4a).le(value, 4);
    return this.long1(value);
  }

  binPersId(): this {
    return this.op(0x51);
  }

  newFalse(): this {
    return this.op(0x89);
  }

  reduce(): this {
    return this.op(0x52);
  }

  stop(): Uint8Array {
    this.op(0x2e);
    return Uint8Array.from(this.out);
  }

  private long1(value: number): this {
    const bytes: number[] = [];
    let rest = BigInt(value);
    // Two's complement needs a clear top bit for a positive number, hence the extra byte check.
    while (rest > 0n || (bytes.length > 0 && bytes[bytes.length - 1]! >= 0x80)) {
      bytes.push(Number(rest & 0xffn));
      rest >>= 8n;
    }
    return this.op(0x8a, bytes.length).raw(bytes);
  }

  private op(...codes: number[]): this {
    this.out.push(...codes);
    return this;
  }

  private le(value: number, width: number): this {
    for (let i = 0; i < width; i++) this.out.push(Math.floor(value / 2 ** (8 * i)) & 0xff);
    return this;
  }

  private raw(data: Iterable<number>): this {
    for (const b of data) this.out.push(b);
    return this;
  }
}
