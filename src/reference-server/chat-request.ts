import { z } from 'zod';
import { schemaError, sharedRequestFields } from './request-fields.js';
import { requestValidationError, type VllmError } from './vllm-errors.js';

/**
 * The `POST /v1/chat/completions` body, as vLLM's `ChatCompletionRequest` types it — the plain-text
 * route a gateway without `prompt_embeds` support talks to. Unknown fields are accepted and
 * ignored, like vLLM (`extra="allow"`). Only the fields this server reads or must reject are listed.
 */
const contentPart = z.looseObject({ type: z.string(), text: z.string().nullish() });

const chatMessage = z.looseObject({
  role: z.string(),
  content: z.union([z.string(), z.array(contentPart)]).nullish(),
});

export const chatRequestSchema = z.looseObject({
  ...sharedRequestFields,
  messages: z.array(chatMessage),
  logprobs: z.boolean().nullish(),
  top_logprobs: z.number().int().nullish(),
  // max_tokens is deprecated by OpenAI in favour of max_completion_tokens; vLLM reads both.
  max_completion_tokens: z.number().int().nullish(),
});

export type ChatRequest = z.infer<typeof chatRequestSchema>;

/** Parses the JSON body; failures are what vLLM's RequestValidationError handler sends (400). */
export function parseChatRequest(body: unknown): ChatRequest {
  const result = chatRequestSchema.safeParse(body);
  if (!result.success) throw schemaError(result.error);
  const request = result.data;
  const failure = checkStreamOptions(request) ?? checkMessages(request) ?? checkLogprobs(request);
  if (failure) throw failure;
  return request;
}

/** vLLM's `check_stream_options` validator (Python truthiness: `{}` passes without `stream`). */
function checkStreamOptions(request: ChatRequest): VllmError | undefined {
  const options = request.stream_options;
  if (options != null && Object.keys(options).length > 0 && !request.stream) {
    return requestValidationError('Stream options can only be defined when `stream=True`.', 'stream_options');
  }
  return undefined;
}

/** vLLM lets `[]` through pydantic and fails in the chat template; there is no template here. */
function checkMessages(request: ChatRequest): VllmError | undefined {
  if (request.messages.length === 0)
    return requestValidationError('messages: at least one message is required', 'messages');
  return undefined;
}

/** Not vLLM (it computes them): this server has no distribution to report, and `null` would lie. */
function checkLogprobs(request: ChatRequest): VllmError | undefined {
  if (request.logprobs === true || request.top_logprobs != null) {
    return requestValidationError('The reference server does not compute logprobs; leave `logprobs` out.', 'logprobs');
  }
  return undefined;
}

/**
 * `usage.prompt_tokens` of a plain-text chat request. This server has no model tokenizer on this
 * route (and tokenizing would make the load-test upstream do work vLLM does on a GPU), so it is an
 * ESTIMATE: whitespace-separated words of every message's text, plus the role of each message.
 */
export function estimatePromptTokens(request: ChatRequest): number {
  let tokens = 0;
  for (const message of request.messages) {
    tokens += 1 + wordCount(messageText(message.content));
  }
  return tokens;
}

/** Every message's text, one message per line: what a scripted reply's `match` is looked for in. */
export function messagesText(request: ChatRequest): string {
  return request.messages.map((message) => messageText(message.content)).join('\n');
}

function messageText(content: ChatRequest['messages'][number]['content']): string {
  if (typeof content === 'string') return content;
  return (content ?? []).map((part) => part.text ?? '').join(' ');
}

function wordCount(text: string): number {
  return text.match(/\S+/g)?.length ?? 0;
}

/**
 * vLLM's `get_max_tokens`: `max_completion_tokens`, else `max_tokens`, else what is left of the
 * context. (vLLM chains them with Python's `or`, so an explicit 0 silently means "the rest of the
 * context" there; here it stays 0 and is refused by the sampling checks.)
 */
export function chatMaxTokens(request: ChatRequest, promptTokens: number, maxModelLen: number): number {
  return request.max_completion_tokens ?? request.max_tokens ?? maxModelLen - promptTokens;
}
