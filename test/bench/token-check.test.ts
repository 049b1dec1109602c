import { describe, expect, it } from 'vitest';
import { TokenTally, isExact } from '../../bench/lib/token-check.js';

function tally(expected: number, deltas: string[]): ReturnType<TokenTally['verdict']> {
  const t = new TokenTally(expected);
  for (const d of deltas) t.add(d);
  return t.verdict();
}

const paced = (n: number): string[] => Array.from({ length: n }, (_, i) => ` tok${i}`);

describe('TokenTally: paced tokens checked against max_tokens', () => {
  it('every token once, in order, one per delta: exact', () => {
    const v = tally(64, paced(64));
    expect(v).toEqual({ deltas: 64, expected: 64, lost: 0, duplicated: 0, outOfOrder: 0, unexpected: 0, merged: 0 });
    expect(isExact(v)).toBe(true);
  });

  it('a lost token', () => {
    const deltas = paced(10).filter((_, i) => i !== 4);
    const v = tally(10, deltas);
    expect(v).toMatchObject({ deltas: 9, lost: 1, duplicated: 0, outOfOrder: 1 });
    expect(isExact(v)).toBe(false);
  });

  it('a duplicated token, even when the count matches max_tokens', () => {
    const deltas = [...paced(9), ' tok8'];
    const v = tally(10, deltas);
    expect(v).toMatchObject({ deltas: 10, lost: 1, duplicated: 1 });
    expect(isExact(v)).toBe(false);
  });

  it('two tokens merged into one delta', () => {
    const v = tally(3, [' tok0', ' tok1 tok2']);
    expect(v).toMatchObject({ deltas: 2, lost: 0, merged: 1 });
    expect(isExact(v)).toBe(false);
  });

  it('reordered tokens', () => {
    const v = tally(3, [' tok0', ' tok2', ' tok1']);
    expect(v).toMatchObject({ lost: 0, duplicated: 0, outOfOrder: 2 });
    expect(isExact(v)).toBe(false);
  });

  it('text that is not a paced token (ciphertext that was not decrypted), and indices past max_tokens', () => {
    expect(tally(2, ['q83vEjRWeJ==', ' tok1'])).toMatchObject({ unexpected: 1, lost: 1 });
    expect(tally(2, [' tok0', ' tok1', ' tok2'])).toMatchObject({ unexpected: 1, deltas: 3 });
  });

  it('nothing received: every token lost', () => {
    expect(tally(5, [])).toMatchObject({ deltas: 0, lost: 5 });
  });
});
