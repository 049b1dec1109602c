import type { Sgt } from '../sgt/index.js';
import type { PromptEmbeds } from './prompt-embeds.js';

/** What the reference server needs of an SGT: its metadata, its tokenizer and the attacker's nearest-neighbour view. */
export type ReferenceSgt = Pick<Sgt, 'metadata' | 'nearestTokens' | 'createStreamingDecoder' | 'tokenize' | 'decode'>;

export type FinishReason = 'stop' | 'length';

/** The tokens every choice of one prompt emits, decided before the first byte goes out. */
export interface TokenPlan {
  readonly count: number;
  readonly finishReason: FinishReason;
  /** vLLM's `stop_reason`: the stop string that ended the output; null when it ended otherwise. */
  readonly stopReason: string | null;
  /** The text sent with token `index`: the token's, unless a stop string holds it back or cuts it. */
  text(index: number): string;
  /** Token `index` itself, as logprobs name it. */
  token(index: number): string;
}

/**
 * The EOS token's text: vLLM counts EOS in `completion_tokens` and sends it as a last empty chunk
 * with `finish_reason: "stop"`.
 */
const EOS_TEXT = '';

/** Pieces as a plan: cut at `maxTokens` ("length"), else ending as `complete`. */
export function planOf(pieces: readonly string[], maxTokens: number, complete: FinishReason): TokenPlan {
  const count = Math.min(pieces.length, maxTokens);
  const piece = (index: number): string => pieces[index] ?? '';
  return {
    count,
    finishReason: count === pieces.length ? complete : 'length',
    stopReason: null,
    text: piece,
    token: piece,
  };
}

/** A reading that ends like a model's answer: an EOS token after it. */
function readingPlan(prefix: string, pieces: readonly string[], maxTokens: number): TokenPlan {
  return planOf([...words(prefix), ...pieces, '"', EOS_TEXT], maxTokens, 'stop');
}

/**
 * Echo mode, prompt embeddings: `received T prompt embeddings; nearest-token reading: "…"`. Its
 * tokens are the words of the fixed prefix, one token per nearest-neighbour id (the streaming
 * decoder's piece, possibly "" while a multi-byte character is incomplete), the closing quote and EOS.
 */
export async function planEcho(sgt: ReferenceSgt, embeds: PromptEmbeds, maxTokens: number): Promise<TokenPlan> {
  const ids = await sgt.nearestTokens(embeds.data, embeds.tokens);
  const decode = sgt.createStreamingDecoder();
  const prefix = `received ${embeds.tokens} prompt embeddings; nearest-token reading: "`;
  return readingPlan(prefix, ids.map(decode), maxTokens);
}

/** Echo mode, a text or token prompt: `received T prompt tokens; token reading: "…"`, the same way. */
export function planTokenEcho(sgt: ReferenceSgt, ids: readonly number[], maxTokens: number): TokenPlan {
  const decode = sgt.createStreamingDecoder();
  return readingPlan(`received ${ids.length} prompt tokens; token reading: "`, ids.map(decode), maxTokens);
}

/** Paced mode (load tests): exactly `maxTokens` distinct, countable tokens " tok0", " tok1", … */
export function planPaced(maxTokens: number): TokenPlan {
  const piece = (index: number): string => ` tok${index}`;
  return { count: maxTokens, finishReason: 'length', stopReason: null, text: piece, token: piece };
}

/** A scripted reply's tokens, with an EOS token when it ends as a model's answer does. */
export function planReply(pieces: readonly string[], finish: FinishReason, maxTokens: number): TokenPlan {
  return planOf(finish === 'stop' ? [...pieces, EOS_TEXT] : pieces, maxTokens, finish);
}

/** "a b  c" → ["a", " b", "  c"]: each word with the spaces before it, so the pieces join back exactly. */
function words(text: string): string[] {
  return text.match(/\s*\S+/g) ?? [];
}
