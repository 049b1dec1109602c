/** The OpenAI wire shapes the response pipeline reads (vLLM completions) and writes (chat). */

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface CompletionChoice {
  index: number;
  text: string;
  finish_reason: string | null;
}

/** One event of vLLM's `/v1/completions` stream, or its whole non-stream body (`checkCompletionChunk`). */
export interface CompletionChunk {
  id: string;
  created: number;
  model: string;
  choices: CompletionChoice[];
  usage?: Usage;
}

export interface ChatChunkChoice {
  index: number;
  delta: { role?: 'assistant'; content?: string };
  logprobs: null;
  finish_reason: string | null;
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
    message: { role: 'assistant'; content: string; refusal: null };
    logprobs: null;
    finish_reason: string | null;
  }[];
  usage?: Usage;
}
