/**
 * The known-plaintext attacker's training set: "public prompts" whose text the server knows.
 * Built from the artifact's own vocabulary (word-like tokens drawn by a fixed seed), so that any
 * artifact can be audited with no data set to download; any K can be asked for.
 */
import type { Sgt } from '../sgt/index.js';
import type { AuditPrompt } from './prompts.js';

/** Ids scanned for word-like tokens (the start of a BPE vocabulary holds the common words). */
const SCAN_IDS = 60_000;
const WORD = /^ [a-z]{3,}$/;

/** mulberry32: a tiny seeded generator; the corpus is public, so nothing here needs to be secret. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** Prompts of 8-40 words whose templated tokens add up to at least `minTokens`. */
export function publicCorpus(sgt: Sgt, minTokens: number, seed = 1): AuditPrompt[] {
  const words: string[] = [];
  const limit = Math.min(SCAN_IDS, sgt.metadata.vocabSize);
  for (let id = 0; id < limit; id++) {
    const text = sgt.decode([id]);
    if (WORD.test(text)) words.push(text);
  }
  if (words.length < 100)
    throw new RangeError(`the tokenizer has only ${words.length} word-like tokens among its first ${limit} ids`);
  const random = seeded(seed);
  const pick = (): string => words[Math.floor(random() * words.length)] as string;
  const prompts: AuditPrompt[] = [];
  for (let tokens = 0; tokens < minTokens;) {
    const length = 8 + Math.floor(random() * 33);
    const content = Array.from({ length }, pick).join('').trim();
    const messages =
      prompts.length % 4 === 0
        ? [
            { role: 'system' as const, content: 'You are a helpful assistant.' },
            { role: 'user' as const, content },
          ]
        : [{ role: 'user' as const, content }];
    prompts.push({ id: `public-${prompts.length}`, messages, secrets: [] });
    tokens += sgt.tokenize(sgt.renderPrompt(messages)).length;
  }
  return prompts;
}
