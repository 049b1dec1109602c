/** Prompts of a chosen token length for the SGT benchmark, built from the obfuscation fixture. */
import { readFile } from 'node:fs/promises';
import type { ChatMessage, Sgt } from '../../src/sgt/index.js';

export const FIXTURE = 'src/privacy/audit-prompts.json';

export interface FixturePrompt {
  readonly id: string;
  readonly category: string;
  readonly messages: ChatMessage[];
}

export async function readFixture(): Promise<FixturePrompt[]> {
  return JSON.parse(await readFile(FIXTURE, 'utf8')) as FixturePrompt[];
}

/** One benchmark request: a conversation, and its templated ids cut or extended to exactly `tokens`. */
export interface BenchPrompt {
  readonly messages: ChatMessage[];
  readonly ids: number[];
  readonly tokens: number;
}

/**
 * Makes prompts of `tokens` templated tokens (±a few for the conversation, exactly for `ids`):
 * a user message cut from the fixture corpus at a different offset for each prompt.
 */
export class PromptFactory {
  private readonly corpusIds: number[];
  private readonly overhead: number;

  constructor(
    private readonly sgt: Sgt,
    fixture: readonly FixturePrompt[],
  ) {
    const corpus = fixture.flatMap((p) => p.messages.map((m) => m.content)).join('\n\n');
    this.corpusIds = sgt.tokenize(corpus);
    this.overhead = sgt.tokenize(sgt.renderPrompt([{ role: 'user', content: '' }])).length;
  }

  make(tokens: number, variant: number): BenchPrompt {
    const body = Math.max(1, tokens - this.overhead);
    const offset = (variant * 7919) % this.corpusIds.length;
    const slice = this.take(offset, body);
    const messages: ChatMessage[] = [{ role: 'user', content: this.sgt.decode(slice) }];
    const templated = this.sgt.tokenize(this.sgt.renderPrompt(messages));
    const ids =
      templated.length >= tokens
        ? templated.slice(0, tokens)
        : [...templated, ...this.take(offset, tokens - templated.length)];
    return { messages, ids, tokens };
  }

  private take(offset: number, count: number): number[] {
    const out: number[] = [];
    while (out.length < count) out.push(this.corpusIds[(offset + out.length) % this.corpusIds.length] as number);
    return out;
  }
}

/** Deterministic lengths, log-uniform in [min, max] (a mix of short chats and long documents). */
export function mixedLengths(count: number, min: number, max: number, seed = 1): number[] {
  let state = seed >>> 0 || 1;
  const next = (): number => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
  return Array.from({ length: count }, () =>
    Math.round(Math.exp(Math.log(min) + next() * (Math.log(max) - Math.log(min)))),
  );
}
