import { randomUUID } from 'node:crypto';
import type { Logger } from '../logging/index.js';
import {
  SSE_HEADERS,
  checkCompletionChunk,
  completionToChatCompletion,
  type CompletionChunk,
  type OutputPlan,
} from '../stream/index.js';
import type { RequestContext } from '../http/index.js';
import { planChat, type ChatOptions, type ChatPlan } from './chat-options.js';
import { readAnswerJson, type UpstreamPool, type UpstreamResponse } from '../upstream/index.js';
import { OUTPUT_PROTECTION_VERSION_HEADER, decryptBody } from '../protection/index.js';
import { chatStreamBody } from './chat-stream.js';
import type { ProtectedAnswer, ProxyOutputProtection } from '../protection/index.js';
import { InvalidRequestError } from '../errors/index.js';
import type { PromptEmbedder } from '../prompt/index.js';
import { toChatMessages, type ChatCompletionRequest } from './schemas.js';
import type { ChatTelemetry, GenAiRequestFacts, RequestTelemetry } from '../telemetry/index.js';

export interface ChatCompletionsDeps {
  embedder: PromptEmbedder;
  protection: ProxyOutputProtection;
  upstream: UpstreamPool;
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
  /** The request's context: its logger, and the access line a stream reports its end to. */
  context: RequestContext;
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
  plan: ChatPlan,
): Record<string, unknown> {
  const stream = request.stream === true;
  const body: Record<string, unknown> = {
    ...plan.upstreamFields,
    model,
    prompt_embeds: promptEmbeds,
    max_tokens: maxTokensOf(request, maxNewTokens),
    stream,
  };
  // Always asked for, so that completion tokens are counted; the client gets the usage chunk only when it asked.
  if (stream) body.stream_options = { include_usage: true };
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
  const id = `chatcmpl-${randomUUID()}`;
  const telemetry = call.telemetry.chat('chat', model);
  telemetry.describe(genAiFacts(request, maxTokensOf(request, deps.maxNewTokens), id));
  // Before the transform: a bad client key is the client's 400, not a wasted transform and an upstream error.
  const protectedCall = deps.protection.begin(call.clientHeaders);
  refuseProtectedLogprobs(request, protectedCall.upstreamHeaders);
  const plan = planChat(request, deps.chat);
  const started = performance.now();
  const prompt = await telemetry.transform(() =>
    deps.embedder.embed(toChatMessages(request.messages), request.seed, call.signal, plan.template),
  );
  const transformMs = performance.now() - started;
  call.context.logger.debug(
    { prompt_tokens: prompt.tokens, transform_ms: Math.round(transformMs) },
    'prompt transformed',
  );

  const body = upstreamBody(request, model, prompt.promptEmbeds, deps.maxNewTokens, plan);
  const upstream = await telemetry.upstreamCall('text_completion', (traceHeaders) =>
    deps.upstream.postJson('/v1/completions', body, {
      headers: { ...call.upstreamHeaders, ...traceHeaders, ...protectedCall.upstreamHeaders },
      signal: call.signal,
    }),
  );
  const answer = acceptOrRelease(upstream, () => checkLogprobsVersion(request, protectedCall.accept(upstream.headers)));
  const output = readableOutput(plan, answer, call.context.logger);
  if (request.stream === true) {
    return streamResponse(upstream, answer, {
      id,
      model,
      output,
      ...mappingOptions(request, answer),
      includeUsage: request.stream_options?.include_usage === true,
      keepAliveIntervalMs: deps.keepAliveIntervalMs,
      maxUpstreamEventBytes: deps.maxUpstreamEventBytes,
      context: call.context,
      telemetry,
    });
  }
  const opened = await readAnswer(upstream, answer, telemetry);
  return Response.json(completionToChatCompletion(opened, { id, model, output, ...mappingOptions(request, answer) }), {
    headers: answer.clientHeaders,
  });
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

function mappingOptions(
  request: ChatCompletionRequest,
  answer: ProtectedAnswer,
): { topLogprobs?: number; sealed?: boolean } {
  // Ciphertext relayed for the client's key: its sealed fields go on as they are, for the client to open.
  const sealed = answer.version !== undefined && answer.recipient === undefined ? { sealed: true } : {};
  return request.logprobs === true ? { topLogprobs: request.top_logprobs ?? 0, ...sealed } : sealed;
}

const LOGPROBS_NEED_V2 =
  "'logprobs' under output protection needs wire format v2 (v1 encrypts only the text, so the tokens would travel in plaintext)";

/**
 * Logprobs are answer tokens: only wire format v2 seals them. The proxy, when it decrypts, always
 * asks for v2; a client that relays its own key must ask for it (x-output-protection-version: 2).
 */
function refuseProtectedLogprobs(request: ChatCompletionRequest, protectionHeaders: Record<string, string>): void {
  if (request.logprobs !== true || Object.keys(protectionHeaders).length === 0) return;
  if (protectionHeaders[OUTPUT_PROTECTION_VERSION_HEADER] === '2') return;
  throw new InvalidRequestError(`${LOGPROBS_NEED_V2}: send the header ${OUTPUT_PROTECTION_VERSION_HEADER}: 2.`, {
    param: 'logprobs',
    code: 'unsupported_parameter',
  });
}

/** An upstream that speaks only v1 answers v1 to a request for v2: its logprobs tokens are not sealed. */
function checkLogprobsVersion(request: ChatCompletionRequest, answer: ProtectedAnswer): ProtectedAnswer {
  if (request.logprobs !== true || answer.version !== 1) return answer;
  throw new InvalidRequestError(`${LOGPROBS_NEED_V2}, and the upstream answered in v1: it cannot give logprobs.`, {
    param: 'logprobs',
    code: 'unsupported_parameter',
  });
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
  sealed?: boolean;
  includeUsage: boolean;
  keepAliveIntervalMs: number;
  maxUpstreamEventBytes: number;
  context: RequestContext;
  telemetry: ChatTelemetry;
}

/**
 * The streamed answer. Its end goes on the request's one access line (outcome, chunks, first token);
 * a stream that ended with an error event also gets a warning line with the error's code.
 */
function streamResponse(upstream: UpstreamResponse, answer: ProtectedAnswer, options: StreamOptions): Response {
  const { context } = options;
  const observer = options.telemetry.streamStarted();
  let ended!: (fields: Record<string, unknown>) => void;
  context.streamEnd = new Promise((resolve) => (ended = resolve));
  const body = chatStreamBody(upstream.body, {
    id: options.id,
    model: options.model,
    output: options.output,
    ...(options.topLogprobs !== undefined ? { topLogprobs: options.topLogprobs } : {}),
    ...(options.sealed ? { sealed: true } : {}),
    includeUsage: options.includeUsage,
    ...(answer.recipient ? { recipient: answer.recipient } : {}),
    keepAliveIntervalMs: options.keepAliveIntervalMs,
    maxUpstreamEventBytes: options.maxUpstreamEventBytes,
    onChunk: (chunk) => {
      if (context.firstTokenAt === undefined && chunk.choices.some((choice) => choice.text !== ''))
        context.firstTokenAt = performance.now();
      observer.onChunk(chunk);
    },
    onEnd: (end) => {
      observer.onEnd(end);
      if (end.outcome !== 'failed') return ended({ outcome: end.outcome, chunks: end.chunks });
      ended({ outcome: end.outcome, chunks: end.chunks, error_code: end.error.code });
      context.logger.warn(
        { chunks: end.chunks, status: end.error.status, code: end.error.code, err_message: end.error.message },
        'stream ended with an error event',
      );
    },
  });
  return new Response(body, { status: 200, headers: { ...SSE_HEADERS, ...answer.clientHeaders } });
}

async function readCompletionBody(upstream: UpstreamResponse): Promise<CompletionChunk> {
  return checkCompletionChunk(await readAnswerJson(upstream.body), 'an answer');
}
