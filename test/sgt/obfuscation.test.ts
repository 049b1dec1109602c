/**
 * Calibration of the demo SGT against the nearest-neighbour attack (docs/sgt-artifact.md) on the fixed
 * prompt set src/privacy/audit-prompts.json: with the default noise the attack recovers
 * almost nothing, with noise scale 0 it recovers everything.
 */
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSgt, obfuscationScore, type ChatMessage, type Sgt } from '../../src/sgt/index.js';
import { DEMO_SGT_DIR, IDENTITY_SGT_DIR, REPO_ROOT } from '../support/artifacts.js';
import { testNoiseKey } from '../support/noise.js';

interface FixturePrompt {
  id: string;
  category: string;
  messages: ChatMessage[];
}

let prompts: FixturePrompt[];
let demo: Sgt;
let identity: Sgt;

beforeAll(async () => {
  prompts = JSON.parse(await readFile(`${REPO_ROOT}src/privacy/audit-prompts.json`, 'utf8')) as FixturePrompt[];
  [demo, identity] = await Promise.all([loadSgt(DEMO_SGT_DIR), loadSgt(IDENTITY_SGT_DIR)]);
});
afterAll(async () => {
  await Promise.all([demo.close(), identity.close()]);
});

/** Per-prompt scores (one fixed noise seed per prompt) and the aggregate over all tokens. */
async function scores(sgt: Sgt): Promise<{ perPrompt: number[]; aggregate: number; tokens: number }> {
  const ids = prompts.map((p) => sgt.tokenize(sgt.renderPrompt(p.messages)));
  // All at once: the transforms share batches, as they would under load.
  const transformed = await Promise.all(ids.map((x, i) => sgt.transform(x, { noise: testNoiseKey(BigInt(1000 + i)) })));
  const perPrompt: number[] = [];
  let hidden = 0;
  let tokens = 0;
  for (const [i, result] of transformed.entries()) {
    const guessed = await sgt.nearestTokens(result.embeds, result.tokens);
    const score = obfuscationScore(ids[i] ?? [], guessed);
    perPrompt.push(score);
    hidden += score * result.tokens;
    tokens += result.tokens;
  }
  return { perPrompt, aggregate: hidden / tokens, tokens };
}

const quantile = (sorted: readonly number[], q: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;

describe('obfuscation fixture', () => {
  it('has at least 50 varied prompts: code, fake PII, chit-chat, CJK, Arabic, emoji', () => {
    expect(prompts.length).toBeGreaterThanOrEqual(50);
    expect(new Set(prompts.map((p) => p.id)).size).toBe(prompts.length);
    const categories = new Set(prompts.map((p) => p.category));
    for (const category of ['code', 'pii', 'chat', 'multilingual', 'emoji']) expect(categories).toContain(category);
    const text = prompts.flatMap((p) => p.messages.map((m) => m.content)).join('\n');
    expect(text).toMatch(/\p{Script=Han}/u);
    expect(text).toMatch(/\p{Script=Hangul}/u);
    expect(text).toMatch(/\p{Script=Arabic}/u);
    expect(text).toMatch(/\p{Extended_Pictographic}/u);
    expect(prompts.some((p) => p.messages.length > 1)).toBe(true);
  });
});

describe('demo SGT calibration (nearest-neighbour attack)', () => {
  it('default noise: obfuscation score ≥ 0.95 overall and for 90% of the prompts, ≥ 0.9 for every prompt', async () => {
    const { perPrompt, aggregate, tokens } = await scores(demo);
    const sorted = [...perPrompt].sort((a, b) => a - b);
    expect(tokens).toBeGreaterThan(2000);
    expect(aggregate).toBeGreaterThanOrEqual(0.95);
    expect(quantile(sorted, 0.1)).toBeGreaterThanOrEqual(0.95);
    expect(sorted[0]).toBeGreaterThanOrEqual(0.9);
  });

  it('noise scale 0: obfuscation score ≤ 0.01 (every token recovered)', async () => {
    const { perPrompt, aggregate } = await scores(identity);
    expect(aggregate).toBeLessThanOrEqual(0.01);
    expect(Math.max(...perPrompt)).toBe(0);
  });
});
