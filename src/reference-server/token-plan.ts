import type { Sgt } from '../sgt/index.js';
import type { PromptEmbeds } from './prompt-embeds.js';

/** What the reference server needs of an SGT: its metadata and the attacker's nearest-neighbour view. */
export type ReferenceSgt = Pick<Sgt, 'metadata' | 'nearestTokens' | 'createStreamingDecoder'>;

export type FinishReason = 'stop' | 'length';

/** The tokens every choice of one completion emits, decided before the first byte goes out. */
export interface TokenPlan {
  readonly count: number;
  readonly finishReason: FinishReason;
  text(index: number): string;
}

/**
 * Echo mode: the answer is `received T prompt embeddings; nearest-token reading: "…"`. Its tokens
 * are the words of the fixed prefix, one token per nearest-neighbour id (the streaming decoder's
 * piece, possibly "" while a multi-byte character is incomplete), the closing quote, and an EOS
 * token with empty text — as vLLM counts EOS in `completion_tokens` and sends it as a last empty
 * chunk with `finish_reason: "stop"`. Cut at `maxTokens`, the finish reason is "length".
 */
export async function planEcho(sgt: ReferenceSgt, embeds: PromptEmbeds, maxTokens: number): Promise<TokenPlan> {
  const ids = await sgt.nearestTokens(embeds.data, embeds.tokens);
  const decode = sgt.createStreamingDecoder();
  const prefix = `received ${embeds.tokens} prompt embeddings; nearest-token reading: "`;
  const pieces = [...words(prefix), ...ids.map((id) => decode(id)), '"', EOS_TEXT];
  const count = Math.min(pieces.length, maxTokens);
  return {
    count,
    finishReason: count === pieces.length ? 'stop' : 'length',
    text: (index) => pieces[index] ?? '',
  };
}

const EOS_TEXT = '';

/** Paced mode (load tests): exactly `maxTokens` distinct, countable tokens " tok0", " tok1", … */
export function planPaced(maxTokens: number): TokenPlan {
  return { count: maxTokens, finishReason: 'length', text: (index) => ` tok${index}` };
}

/** "a b  c" → ["a", " b", "  c"]: each word with the spaces before it, so the pieces join back exactly. */
function words(text: string): string[] {
  return text.match(/\s*\S+/g) ?? [];
}
