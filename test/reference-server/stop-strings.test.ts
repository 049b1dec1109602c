/**
 * `applyStop` against vLLM's detokenizer semantics: fixed cases worked out by hand, then properties
 * on random token streams and stop lists.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyStop } from '../../src/reference-server/stop-strings.js';
import { planOf, planPaced, type TokenPlan } from '../../src/reference-server/token-plan.js';

function texts(plan: TokenPlan): string[] {
  return Array.from({ length: plan.count }, (_, i) => plan.text(i));
}

const paced = (stops: string[], include = false): TokenPlan => applyStop(planPaced(5), stops, include);

describe('stop strings', () => {
  it('cut before the string, which the held-back text never reached', () => {
    // " tok0 tok1 tok2": 'tok2' (4 characters) holds back 3 until the end.
    const plan = paced(['tok2']);
    expect(texts(plan)).toEqual([' t', 'ok0 t', 'ok1 ']);
    expect(plan).toMatchObject({ count: 3, finishReason: 'stop', stopReason: 'tok2' });
    expect(plan.token(2)).toBe(' tok2');
  });

  it('include_stop_str_in_output: nothing held back, the string kept', () => {
    const plan = paced(['tok2'], true);
    expect(texts(plan)).toEqual([' tok0', ' tok1', ' tok2']);
    expect(plan).toMatchObject({ count: 3, finishReason: 'stop', stopReason: 'tok2' });
  });

  it('a string across token boundaries', () => {
    const plan = paced(['0 t']);
    expect(texts(plan).join('')).toBe(' tok');
    expect(plan).toMatchObject({ count: 2, stopReason: '0 t' });
  });

  it('the first in list order wins, not the earliest in the text', () => {
    // After "abcd", 'd' (at 3) and 'bc' (at 1) are both complete: 'd' is first in the list.
    const plan = applyStop(planOf(['ab', 'cd'], 5, 'stop'), ['d', 'bc'], false);
    expect(plan).toMatchObject({ count: 2, stopReason: 'd' });
    expect(texts(plan).join('')).toBe('abc');
  });

  it('a stop that never comes: the held-back text is sent with the last token', () => {
    const plan = paced(['nope!']);
    expect(texts(plan).join('')).toBe(' tok0 tok1 tok2 tok3 tok4');
    expect(plan.text(4).length).toBeGreaterThan(' tok4'.length);
    expect(plan).toMatchObject({ count: 5, finishReason: 'length', stopReason: null });
  });

  it('holds back code points, not UTF-16 units', () => {
    // '😀x' is 2 code points: 1 is held back; the emoji is never split.
    const plan = applyStop(planOf(['a😀', 'b', 'c'], 5, 'stop'), ['😀x'], false);
    expect(texts(plan)).toEqual(['a', '😀', 'bc']);
  });

  it('no stop strings: the plan as it was', () => {
    const plan = planPaced(2);
    expect(applyStop(plan, [], false)).toBe(plan);
  });
});

describe('stop strings on random outputs', () => {
  const piece = fc.array(fc.constantFrom('a', 'b', 'ab', 'ba', '😀', ' '), { maxLength: 3 }).map((p) => p.join(''));
  const pieces = fc.array(piece, { maxLength: 12 });
  const stops = fc.array(
    fc.array(fc.constantFrom('a', 'b', '😀', ' '), { minLength: 1, maxLength: 3 }).map((p) => p.join('')),
    { minLength: 1, maxLength: 3 },
  );

  it('the text sent is the output cut at the stop; no stop occurs before the last token', () => {
    fc.assert(
      fc.property(pieces, stops, fc.boolean(), (tokens, stopList, include) => {
        const plan = applyStop(planOf(tokens, 100, 'stop'), stopList, include);
        const joined = tokens.slice(0, plan.count).join('');
        const beforeLast = tokens.slice(0, plan.count - 1).join('');
        const sent = texts(plan).join('');
        for (const stop of stopList) expect(beforeLast.includes(stop)).toBe(false);
        if (plan.stopReason === null) {
          expect(plan.count).toBe(tokens.length);
          expect(sent).toBe(joined);
        } else {
          const at = joined.indexOf(plan.stopReason);
          expect(at).toBeGreaterThanOrEqual(0);
          expect(sent).toBe(joined.slice(0, include ? at + plan.stopReason.length : at));
          // The one chosen is the first of the list that the last token completed.
          const earlier = stopList.slice(0, stopList.indexOf(plan.stopReason));
          for (const stop of earlier) expect(joined.includes(stop)).toBe(false);
        }
      }),
      { numRuns: 3000 },
    );
  });
});
