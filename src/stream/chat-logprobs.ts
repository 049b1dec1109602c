import type { ChatLogprobs, ChatTokenLogprob, CompletionLogprobs } from './chunks.js';

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

export function chatLogprobsOf(content: ChatTokenLogprob[]): ChatLogprobs {
  return { content, refusal: null };
}
