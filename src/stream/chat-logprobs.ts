import type { ChatLogprobs, ChatTokenLogprob, CompletionLogprobs } from '../chat-output/chunks.js';

const utf8 = new TextEncoder();

/**
 * vLLM's completions logprobs in the chat shape: each token with its UTF-8 bytes and its
 * `top` most likely candidates (highest first). A missing logprob (vLLM's null) is reported as
 * -9999, vLLM's own stand-in for a probability of 0.
 */
export function chatLogprobs(logprobs: CompletionLogprobs, top: number): ChatTokenLogprob[] {
  return logprobs.tokens.map((token, i) => ({
    token,
    logprob: logprobs.token_logprobs[i] ?? -9999,
    bytes: [...utf8.encode(token)],
    top_logprobs: Object.entries(logprobs.top_logprobs[i] ?? {})
      .sort(([, a], [, b]) => b - a)
      .slice(0, top)
      .map(([candidate, logprob]) => ({ token: candidate, logprob, bytes: [...utf8.encode(candidate)] })),
  }));
}

/**
 * Sealed completions logprobs (pass-through, wire format v2) in the chat shape, for the client to
 * open: the tokens stay the ciphertexts they came as, and in the order they were sealed — each
 * sampled token, then every key of its `top_logprobs` in JSON order, none sorted, none dropped
 * (dropping or reordering one would make every later field fail to open). `bytes` is null: the
 * UTF-8 of a token cannot be known without opening it; the client library sets it.
 */
export function sealedChatLogprobs(logprobs: CompletionLogprobs): ChatTokenLogprob[] {
  return logprobs.tokens.map((token, i) => ({
    token,
    logprob: logprobs.token_logprobs[i] ?? -9999,
    bytes: null,
    top_logprobs: Object.entries(logprobs.top_logprobs[i] ?? {}).map(([candidate, logprob]) => ({
      token: candidate,
      logprob,
      bytes: null,
    })),
  }));
}

export function chatLogprobsOf(content: ChatTokenLogprob[]): ChatLogprobs {
  return { content, refusal: null };
}
