import { pythonLen } from './python-strings.js';
import type { TokenPlan } from './token-plan.js';
import type { ReferenceSgt } from './token-plan.js';

/** vLLM's completions `logprobs` object: one entry per token in each list. */
export interface CompletionLogprobs {
  text_offset: number[];
  token_logprobs: number[];
  tokens: string[];
  top_logprobs: Array<Record<string, number>>;
}

/** vLLM's `--max-logprobs` default. */
export const MAX_LOGPROBS = 20;

/** What vLLM sends for a probability of 0 (`max(-inf, -9999.0)`). */
const IMPOSSIBLE = -9999;

/**
 * Logprobs of a server that is not a sampler: each token was certain (logprob 0); `top_logprobs`
 * holds it and, up to `logprobs` entries (vLLM: at least one), other vocabulary tokens at
 * probability 0. The alternatives are the first distinct non-empty tokens of the vocabulary.
 */
export class Logprobs {
  private alternatives: string[] | undefined;

  constructor(private readonly sgt: ReferenceSgt) {}

  /** The logprobs of `plan`'s tokens `from` to `to`, the first at text offset `offset`. */
  of(plan: TokenPlan, requested: number, from: number, to: number, offset: number): CompletionLogprobs {
    const out: CompletionLogprobs = { text_offset: [], token_logprobs: [], tokens: [], top_logprobs: [] };
    let at = offset;
    for (let index = from; index < to; index += 1) {
      const token = plan.token(index);
      out.text_offset.push(at);
      out.token_logprobs.push(0);
      out.tokens.push(token);
      out.top_logprobs.push(this.top(token, requested));
      at += pythonLen(token);
    }
    return out;
  }

  private top(token: string, requested: number): Record<string, number> {
    const entries: Array<[string, number]> = [[token, 0]];
    for (const alternative of this.vocabulary()) {
      if (entries.length >= Math.max(requested, 1)) break;
      if (alternative !== token) entries.push([alternative, IMPOSSIBLE]);
    }
    // fromEntries defines own properties, so a token named "__proto__" is a key like any other.
    return Object.fromEntries(entries);
  }

  private vocabulary(): string[] {
    if (this.alternatives) return this.alternatives;
    const found = new Set<string>();
    for (let id = 0; id < this.sgt.metadata.vocabSize && found.size < MAX_LOGPROBS; id += 1) {
      const token = this.sgt.decode([id]);
      if (token !== '') found.add(token);
    }
    this.alternatives = [...found];
    return this.alternatives;
  }
}
