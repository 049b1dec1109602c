import { describe, expect, it } from 'vitest';
import { promptText, sizePrompt } from '../../bench/lib/prompts.js';

/** A tokenizer stand-in: a fixed template overhead plus a cost per word that varies by word. */
function counter(overhead: number): { count: (text: string) => Promise<number>; calls: () => number } {
  let calls = 0;
  return {
    count: async (text) => {
      calls += 1;
      const words = text.split(' ');
      return overhead + words.reduce((n, w) => n + (w.length > 8 ? 2 : 1), 0);
    },
    calls: () => calls,
  };
}

describe('prompt sizing against the gateway’s own count', () => {
  it.each([128, 512, 2048])('reaches %i tokens within 1 % in a few counts', async (target) => {
    const c = counter(14);
    const p = await sizePrompt(target, c.count);
    expect(Math.abs(p.tokens - target)).toBeLessThanOrEqual(Math.max(1, Math.round(target * 0.01)));
    expect(p.target).toBe(target);
    expect(await c.count(p.text)).toBe(p.tokens);
    expect(c.calls()).toBeLessThanOrEqual(9);
  });

  it('keeps the closest when whole words cannot hit the target exactly', async () => {
    // Every word costs 3 tokens: 100 is not reachable; 99 (33 words) or 102 (34) are the closest.
    const p = await sizePrompt(100, async (text) => text.split(' ').length * 3);
    expect([99, 102]).toContain(p.tokens);
  });

  it('text of n words, cycled from the corpus', async () => {
    expect(promptText(3).split(' ')).toHaveLength(3);
    expect(promptText(500).split(' ')).toHaveLength(500);
    await expect(sizePrompt(10, async () => 1, 0)).rejects.toThrow(/maxTries/);
  });
});
