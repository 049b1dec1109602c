/** Unit checks of the pickle layer that the public API cannot reach (LONG1 needs > 2^31 elements). */
import { describe, expect, it } from 'vitest';
import { PickleWriter } from '../../src/embeds/pickle-writer.js';
import { PyGlobal, PyTuple, unpickle, type UnpickleHooks } from '../../src/embeds/pickle.js';

// What CPython's pickle.dumps(v, protocol=2) emits for each int, opcode through argument.
const CPYTHON_INTS: [number, string][] = [
  [0, '4b00'],
  [255, '4bff'],
  [256, '4d0001'],
  [65535, '4dffff'],
  [65536, '4a00000100'],
  [2 ** 31 - 1, '4affffff7f'],
  [2 ** 31, '8a050000008000'],
  [2 ** 32, '8a050000000001'],
  [2 ** 40 + 5, '8a06050000000001'],
  [2 ** 53 - 1, '8a07ffffffffffff1f'],
];

const noGlobals: UnpickleHooks = {
  resolveGlobal: (module, name) => {
    throw new Error(`unexpected global ${module}.${name}`);
  },
  persistentLoad: () => null,
  reduce: () => null,
};

describe('pickle ints', () => {
  it.each(CPYTHON_INTS)('%d is written as CPython writes it', (value, hex) => {
    const bytes = new PickleWriter().proto(2).int(value).stop();
    expect(Buffer.from(bytes).toString('hex')).toBe(`8002${hex}2e`);
    expect(unpickle(bytes, noGlobals)).toBe(value);
  });

  it('reads negative LONG1 and BININT values', () => {
    expect(unpickle(Uint8Array.from([0x80, 2, 0x8a, 1, 0xff, 0x2e]), noGlobals)).toBe(-1);
    expect(unpickle(Uint8Array.from([0x80, 2, 0x4a, 0xfe, 0xff, 0xff, 0xff, 0x2e]), noGlobals)).toBe(-2);
    expect(unpickle(Uint8Array.from([0x80, 2, 0x8a, 0, 0x2e]), noGlobals)).toBe(0);
  });

  it('refuses LONG1 values beyond 2^53', () => {
    expect(() => unpickle(Uint8Array.from([0x80, 2, 0x8a, 8, 0, 0, 0, 0, 0, 0, 0x20, 0, 0x2e]), noGlobals)).toThrow(
      /beyond 2\^53/,
    );
  });

  it('refuses to write what it cannot represent', () => {
    expect(() => new PickleWriter().int(-1)).toThrow(RangeError);
    expect(() => new PickleWriter().int(2 ** 53)).toThrow(RangeError);
  });

  it('writes tuples in the forms CPython uses', () => {
    const hooks: UnpickleHooks = { ...noGlobals, resolveGlobal: (m, n) => new PyGlobal(m, n) };
    for (const values of [[], [1], [1, 2], [1, 2, 3], [1, 2, 3, 4, 5]]) {
      const result = unpickle(new PickleWriter().proto(2).intTuple(values).stop(), hooks);
      expect(result).toBeInstanceOf(PyTuple);
      expect((result as PyTuple).items).toEqual(values);
    }
  });
});
