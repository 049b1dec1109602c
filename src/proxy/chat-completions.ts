import { randomUUID } from 'node:crypto';
import type { Logger } from '../logging/index.js';
import {
  SSE_HEADERS,
  checkCompletionChunk,
  completionToChatCompletion,
  type CompletionChunk,
  type OutputPlan,
} from '../stream/index.js';
import { planChat, type ChatOptions, type ChatPlan } from './chat-options.js';
import { readAnswerJson, type UpstreamClient, type UpstreamResponse } from '../upstream/index.js';
import { decryptBody } from '../protection/index.js';
import { chatStreamBody } from './chat-stream.js';
import type { ProtectedAnswer, ProxyOutputProtection } from '../protection/index.js';
import { InvalidRequestError } from '../errors/index.js';
import type { PromptEmbedder } from '../prompt/index.js';
import { toChatMessages, type ChatCompletionRequest } from './schemas.js';

export interface ChatCompletionsDeps {
  embedder: PromptEmbedder;
  protection: ProxyOutputProtection;
  upstream: UpstreamClient;
  defaultModel: string;
  maxNewTokens: number;
  keepAliveIntervalMs: number;
  maxUpstreamEventBytes: number;
  chat: ChatOptions;
}

export interface ChatCall {
  request: ChatCompletionRequest;
  /** Headers for the upstream request (auth, request id): decided by the route, not here. */
  upstreamHeaders: Record<string, string>;
  clientHeaders: Headers;
  signal: AbortSignal;
  logger: Logger;
}

/** The vLLM completions request that carries the obfuscated prompt. */
function upstreamBody(
  request: ChatCompletionRequest,
  model: string,
  promptEmbeds: string,
  maxNewTokens: number,
  plan: ChatPlan,
): Record<string, unknown> {
  const stream = request.stream === true;
  const body: Record<string, unknown> = {
    ...plan.upstreamFields,
    model,
    prompt_embeds: promptEmbeds,
    max_tokens: request.max_completion_tokens ?? request.max_tokens ?? maxNewTokens,
    stream,
  };
  if (stream && request.stream_options?.include_usage) body.stream_options = { include_usage: true };
  if (request.logprobs === true) body.logprobs = request.top_logprobs ?? 0;
  for (const key of [
    'temperature',
    'top_p',
    'seed',
    'stop',
    'n',
    'presence_penalty',
    'frequency_penalty',
    'user',
  ] as const) {
    const value = request[key];
    if (value !== undefined && value !== null) body[key] = value;
  }
  return body;
}

export async function chatCompletions(deps: ChatCompletionsDeps, call: ChatCall): Promise<Response> {
  const { request } = call;
  const model = request.model ?? deps.defaultModel;
  // Before the transform: a bad client key is the client's 400, not a wasted transform and an upstream error.
  const protectedCall = deps.protection.begin(call.clientHeaders);
  refuseProtectedLogprobs(request, protectedCall.upstreamHeaders);
  const plan = planChat(request, deps.chat);
  const started = performance.now();
  const prompt = await deps.embedder.embed(toChatMessages(request.messages), request.seed, call.signal, plan.template);
  const transformMs = performance.now() - started;
  call.logger.debug({ prompt_tokens: prompt.tokens, transform_ms: Math.round(transformMs) }, 'prompt transformed');

  const upstream = await deps.upstream.postJson(
    '/v1/completions',
    upstreamBody(request, model, prompt.promptEmbeds, deps.maxNewTokens, plan),
    { headers: { ...call.upstreamHeaders, ...protectedCall.upstreamHeaders }, signal: call.signal },
  );
  const answer = acceptOrRelease(upstream, () => protectedCall.accept(upstream.headers));
  const id = `chatcmpl-${randomUUID()}`;
  const output = readableOutput(plan, answer, call.logger);
  if (request.stream === true) {
    return streamResponse(upstream, answer, {
      id,
      model,
      output,
      ...logprobsOption(request),
      includeUsage: request.stream_options?.include_usage === true,
      keepAliveIntervalMs: deps.keepAliveIntervalMs,
      maxUpstreamEventBytes: deps.maxUpstreamEventBytes,
      logger: call.logger,
    });
  }
  const sealed = await readCompletionBody(upstream);
  const body = answer.recipient ? decryptBody(sealed, answer.recipient) : sealed;
  return Response.json(completionToChatCompletion(body, { id, model, output, ...logprobsOption(request) }), {
    headers: answer.clientHeaders,
  });
}

function logprobsOption(request: ChatCompletionRequest): { topLogprobs?: number } {
  return request.logprobs === true ? { topLogprobs: request.top_logprobs ?? 0 } : {};
}

/**
 * Logprobs carry every token of the answer in plaintext, outside the encrypted text: with output
 * protection on (the proxy's key or the client's goes upstream) they are refused until the
 * protected wire format carries them.
 */
function refuseProtectedLogprobs(request: ChatCompletionRequest, protectionHeaders: Record<string, string>): void {
  if (request.logprobs !== true || Object.keys(protectionHeaders).length === 0) return;
  throw new InvalidRequestError(
    "'logprobs' is not available while output protection is on: the tokens would leave the upstream in plaintext.",
    { param: 'logprobs', code: 'unsupported_parameter' },
  );
}

/**
 * The output plan when the proxy reads the answer (plaintext, or decrypted here); when it relays
 * ciphertext (the client's own key) the text is opaque to it, and the client parses it itself.
 */
function readableOutput(plan: ChatPlan, answer: ProtectedAnswer, logger: Logger): OutputPlan {
  const readable = answer.recipient !== undefined || Object.keys(answer.clientHeaders).length === 0;
  if (!readable) return { parallelToolCalls: true };
  return {
    ...plan.output,
    // Without the block's text: it is model output.
    onMalformedToolCall: (problem) =>
      logger.warn(problem, 'a tool-call block is not a valid call: passed on as content'),
  };
}

/** An answer we refuse (e.g. not protected) must still free the upstream connection. */
function acceptOrRelease(upstream: UpstreamResponse, accept: () => ProtectedAnswer): ProtectedAnswer {
  try {
    return accept();
  } catch (err) {
    void upstream.body.cancel().catch(() => undefined);
    throw err;
  }
}

interface StreamOptions {
  id: string;
  model: string;
  output: OutputPlan;
  topLogprobs?: number;
  includeUsage: boolean;
  keepAliveIntervalMs: number;
  maxUpstreamEventBytes: number;
  logger: Logger;
}

function streamResponse(upstream: UpstreamResponse, answer: ProtectedAnswer, options: StreamOptions): Response {
  const started = performance.now();
  const body = chatStreamBody(upstream.body, {
    id: options.id,
    model: options.model,
    output: options.output,
    ...(options.topLogprobs !== undefined ? { topLogprobs: options.topLogprobs } : {}),
    includeUsage: options.includeUsage,
    ...(answer.recipient ? { recipient: answer.recipient } : {}),
    keepAliveIntervalMs: options.keepAliveIntervalMs,
    maxUpstreamEventBytes: options.maxUpstreamEventBytes,
    onEnd: (end) => {
      const line = { outcome: end.outcome, chunks: end.chunks, duration_ms: Math.round(performance.now() - started) };
      if (end.outcome === 'failed') {
        options.logger.warn(
          { ...line, status: end.error.status, code: end.error.code, err_message: end.error.message },
          'stream ended with an error event',
        );
      } else {
        options.logger.info(line, 'stream ended');
      }
    },
  });
  return new Response(body, { status: 200, headers: { ...SSE_HEADERS, ...answer.clientHeaders } });
}

async function readCompletionBody(upstream: UpstreamResponse): Promise<CompletionChunk> {
  return checkCompletionChunk(await readAnswerJson(upstream.body), 'an answer');
}
