import { randomUUID } from 'node:crypto';
import type { Logger } from '../logging/index.js';
import {
  SSE_HEADERS,
  checkCompletionChunk,
  completionToChatCompletion,
  type CompletionChunk,
} from '../stream/index.js';
import { readAnswerJson, type UpstreamClient, type UpstreamResponse } from '../upstream/index.js';
import { decryptBody } from '../protection/index.js';
import { chatStreamBody } from './chat-stream.js';
import type { ProtectedAnswer, ProxyOutputProtection } from '../protection/index.js';
import type { PromptEmbedder } from '../prompt/index.js';
import { toChatMessages, type ChatCompletionRequest } from './schemas.js';
import type { ChatTelemetry, GenAiRequestFacts, RequestTelemetry } from '../telemetry/index.js';

export interface ChatCompletionsDeps {
  embedder: PromptEmbedder;
  protection: ProxyOutputProtection;
  upstream: UpstreamClient;
  defaultModel: string;
  maxNewTokens: number;
  keepAliveIntervalMs: number;
  maxUpstreamEventBytes: number;
}

export interface ChatCall {
  request: ChatCompletionRequest;
  /** Headers for the upstream request (auth, request id): decided by the route, not here. */
  upstreamHeaders: Record<string, string>;
  clientHeaders: Headers;
  signal: AbortSignal;
  logger: Logger;
  telemetry: RequestTelemetry;
}

function maxTokensOf(request: ChatCompletionRequest, maxNewTokens: number): number {
  return request.max_completion_tokens ?? request.max_tokens ?? maxNewTokens;
}

/** The vLLM completions request that carries the obfuscated prompt. */
function upstreamBody(
  request: ChatCompletionRequest,
  model: string,
  promptEmbeds: string,
  maxNewTokens: number,
): Record<string, unknown> {
  const stream = request.stream === true;
  const body: Record<string, unknown> = {
    model,
    prompt_embeds: promptEmbeds,
    max_tokens: maxTokensOf(request, maxNewTokens),
    stream,
  };
  // Always asked for, so that completion tokens are counted; the client gets the usage chunk only when it asked.
  if (stream) body.stream_options = { include_usage: true };
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
  const id = `chatcmpl-${randomUUID()}`;
  const telemetry = call.telemetry.chat('chat', model);
  telemetry.describe(genAiFacts(request, maxTokensOf(request, deps.maxNewTokens), id));
  // Before the transform: a bad client key is the client's 400, not a wasted transform and an upstream error.
  const protectedCall = deps.protection.begin(call.clientHeaders);
  const started = performance.now();
  const prompt = await telemetry.transform(() =>
    deps.embedder.embed(toChatMessages(request.messages), request.seed, call.signal),
  );
  const transformMs = performance.now() - started;
  call.logger.debug({ prompt_tokens: prompt.tokens, transform_ms: Math.round(transformMs) }, 'prompt transformed');

  const body = upstreamBody(request, model, prompt.promptEmbeds, deps.maxNewTokens);
  const upstream = await telemetry.upstreamCall('text_completion', (traceHeaders) =>
    deps.upstream.postJson('/v1/completions', body, {
      headers: { ...call.upstreamHeaders, ...traceHeaders, ...protectedCall.upstreamHeaders },
      signal: call.signal,
    }),
  );
  const answer = acceptOrRelease(upstream, () => protectedCall.accept(upstream.headers));
  if (request.stream === true) {
    return streamResponse(upstream, answer, {
      id,
      model,
      includeUsage: request.stream_options?.include_usage === true,
      keepAliveIntervalMs: deps.keepAliveIntervalMs,
      maxUpstreamEventBytes: deps.maxUpstreamEventBytes,
      logger: call.logger,
      telemetry,
    });
  }
  const opened = await readAnswer(upstream, answer, telemetry);
  return Response.json(completionToChatCompletion(opened, { id, model }), { headers: answer.clientHeaders });
}

/** What the span records of the request: the sampling parameters as sent upstream, never the messages. */
function genAiFacts(request: ChatCompletionRequest, maxTokens: number, id: string): GenAiRequestFacts {
  return {
    maxTokens,
    temperature: request.temperature,
    topP: request.top_p,
    seed: request.seed,
    choices: request.n,
    presencePenalty: request.presence_penalty,
    frequencyPenalty: request.frequency_penalty,
    stream: request.stream === true,
    responseId: id,
  };
}

/** A non-stream answer, read and (with the proxy's key) opened; a failure is counted before it is rethrown. */
async function readAnswer(
  upstream: UpstreamResponse,
  answer: ProtectedAnswer,
  telemetry: ChatTelemetry,
): Promise<CompletionChunk> {
  try {
    const sealed = await readCompletionBody(upstream);
    const body = answer.recipient ? decryptBody(sealed, answer.recipient) : sealed;
    telemetry.answered(body);
    return body;
  } catch (err) {
    telemetry.failed(err, 'body');
    throw err;
  }
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
  includeUsage: boolean;
  keepAliveIntervalMs: number;
  maxUpstreamEventBytes: number;
  logger: Logger;
  telemetry: ChatTelemetry;
}

function streamResponse(upstream: UpstreamResponse, answer: ProtectedAnswer, options: StreamOptions): Response {
  const started = performance.now();
  const observer = options.telemetry.streamStarted();
  const body = chatStreamBody(upstream.body, {
    id: options.id,
    model: options.model,
    includeUsage: options.includeUsage,
    ...(answer.recipient ? { recipient: answer.recipient } : {}),
    keepAliveIntervalMs: options.keepAliveIntervalMs,
    maxUpstreamEventBytes: options.maxUpstreamEventBytes,
    onChunk: observer.onChunk,
    onEnd: (end) => {
      observer.onEnd(end);
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
