/** The OpenAI wire shapes the response pipeline reads (vLLM completions) and writes (chat). */

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** vLLM's completions `logprobs` (`logprobs: k`): one entry per token. */
export interface CompletionLogprobs {
  tokens: string[];
  token_logprobs: (number | null)[];
  /** Per token, the top candidates: token → logprob (null where vLLM has none). */
  top_logprobs: (Record<string, number> | null)[];
}

export interface CompletionChoice {
  index: number;
  text: string;
  finish_reason: string | null;
  logprobs?: CompletionLogprobs;
  /** vLLM's: the stop string (sealed under v2) or stop token id that ended the choice. */
  stop_reason?: string | number | null;
}

export interface ChatTokenLogprob {
  token: string;
  logprob: number;
  /** The token's UTF-8 bytes; null when the token is ciphertext (pass-through: the client fills them in). */
  bytes: number[] | null;
  top_logprobs: { token: string; logprob: number; bytes: number[] | null }[];
}

/** OpenAI's chat `logprobs`: `refusal` is required (null: the proxy never refuses). */
export interface ChatLogprobs {
  content: ChatTokenLogprob[];
  refusal: null;
}

/** One event of vLLM's `/v1/completions` stream, or its whole non-stream body (`checkCompletionChunk`). */
export interface CompletionChunk {
  id: string;
  created: number;
  model: string;
  choices: CompletionChoice[];
  usage?: Usage;
}

/** A streamed call's piece: the first names it (id, type, name), the rest add argument text. */
export interface ChatToolCallDelta {
  index: number;
  id?: string;
  type?: 'function';
  function: { name?: string; arguments: string };
}

export interface ChatDelta {
  role?: 'assistant';
  content?: string;
  /** vLLM's name for the model's thinking (SGP_REASONING_PARSER). */
  reasoning_content?: string;
  tool_calls?: ChatToolCallDelta[];
}

export interface ChatToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface ChatMessageOut {
  role: 'assistant';
  /** `null` when the answer is only tool calls, as OpenAI's. */
  content: string | null;
  refusal: null;
  reasoning_content?: string;
  tool_calls?: ChatToolCall[];
}

export interface ChatChunkChoice {
  index: number;
  delta: ChatDelta;
  logprobs: ChatLogprobs | null;
  finish_reason: string | null;
  /** Relayed in pass-through only (`sealed`): a sealed field the client must open in turn. */
  stop_reason?: string | number | null;
}

/**
 * OpenAI's `CreateChatCompletionStreamResponse` as this proxy fills it. No `system_fingerprint`:
 * OpenAI's schema has it a string when present, and the proxy has none to give.
 */
export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: ChatChunkChoice[];
  usage?: Usage;
}

/** OpenAI's `CreateChatCompletionResponse`: `refusal` is required (null), `usage` present only when known. */
export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: {
    index: number;
    message: ChatMessageOut;
    logprobs: ChatLogprobs | null;
    finish_reason: string | null;
    stop_reason?: string | number | null;
  }[];
  usage?: Usage;
}
