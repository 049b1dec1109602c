import type { CompletionChoice, CompletionChunk, CompletionLogprobs, Usage } from '../chat-output/chunks.js';

/** OpenAI's legacy completions `logprobs`: vLLM's, with `text_offset` (where each token starts in the text). */
export interface TextCompletionLogprobs {
  tokens: string[];
  token_logprobs: (number | null)[];
  top_logprobs: Record<string, number>[];
  text_offset: number[];
}

export interface TextCompletionChoice {
  index: number;
  text: string;
  logprobs: TextCompletionLogprobs | null;
  finish_reason: string | null;
}

/**
 * OpenAI's `CreateCompletionResponse`, the one shape of both a non-stream answer and each stream
 * chunk. No `system_fingerprint`: the proxy has none to give.
 */
export interface TextCompletion {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
  choices: TextCompletionChoice[];
  usage?: Usage;
}

export interface TextCompletionOptions {
  /** The id and model the client sees (the upstream's own id is an implementation detail). */
  id: string;
  model: string;
  /** Whether the request asked for `logprobs`: otherwise every choice's is null. */
  logprobs: boolean;
}

/**
 * Maps vLLM completion chunks, one at a time, to the client's: the same choices under the proxy's
 * id and model; the usage chunk (`choices: []`) relayed only when asked for.
 */
export function textCompletionMapper(
  options: TextCompletionOptions & { includeUsage: boolean },
): (chunk: CompletionChunk) => TextCompletion[] {
  // Per choice, how much text came before: where its next token starts.
  const offsets = new Map<number, number>();
  return (chunk) => {
    if (chunk.choices.length === 0)
      return chunk.usage && options.includeUsage ? [{ ...envelope(options, chunk.created), usage: chunk.usage }] : [];
    const choices = chunk.choices.map((choice) => {
      const out = textChoice(choice, options.logprobs, offsets.get(choice.index) ?? 0);
      offsets.set(choice.index, (offsets.get(choice.index) ?? 0) + codePoints(choice.text));
      return out;
    });
    return [{ ...envelope(options, chunk.created), choices }];
  };
}

/** A whole non-stream answer. */
export function toTextCompletion(body: CompletionChunk, options: TextCompletionOptions): TextCompletion {
  const completion: TextCompletion = {
    ...envelope(options, body.created),
    choices: body.choices.map((choice) => textChoice(choice, options.logprobs, 0)),
  };
  if (body.usage) completion.usage = body.usage;
  return completion;
}

function envelope(options: TextCompletionOptions, created: number): TextCompletion {
  return { id: options.id, object: 'text_completion', created, model: options.model, choices: [] };
}

function textChoice(choice: CompletionChoice, logprobs: boolean, offset: number): TextCompletionChoice {
  return {
    index: choice.index,
    text: choice.text,
    logprobs: logprobs && choice.logprobs ? withOffsets(choice.logprobs, offset) : null,
    finish_reason: choice.finish_reason,
  };
}

/** Offsets counted in code points, as vLLM (Python) counts them. */
function withOffsets(logprobs: CompletionLogprobs, start: number): TextCompletionLogprobs {
  let offset = start;
  const text_offset = logprobs.tokens.map((token) => {
    const at = offset;
    offset += codePoints(token);
    return at;
  });
  return {
    tokens: logprobs.tokens,
    token_logprobs: logprobs.token_logprobs,
    // OpenAI's schema has an object per token; vLLM may send null where it has no candidates.
    top_logprobs: logprobs.top_logprobs.map((top) => top ?? {}),
    text_offset,
  };
}

function codePoints(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}
