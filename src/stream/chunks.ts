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
  stop_reason?: string | number | null;
}

/** One event of vLLM's `/v1/completions` stream, or its whole non-stream body. */
export interface CompletionChunk {
  id: string;
  created: number;
  model: string;
  choices: CompletionChoice[];
  usage?: Usage | null;
}

export interface ChatChunkChoice {
  index: number;
  delta: { role?: 'assistant'; content?: string };
  logprobs: null;
  finish_reason: string | null;
}

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  system_fingerprint: null;
  choices: ChatChunkChoice[];
  usage?: Usage | null;
}

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  system_fingerprint: null;
  choices: {
    index: number;
    message: { role: 'assistant'; content: string };
    logprobs: null;
    finish_reason: string | null;
  }[];
  usage: Usage | null;
}
