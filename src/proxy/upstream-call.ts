/**
 * What the chat and the legacy completions routes share once they have a prompt: the transform,
 * the upstream `/v1/completions` call with its output protection, and the answer read or streamed
 * back. Each route only says how its prompt is embedded and how the upstream's chunks reach its
 * client (chat-completions.ts, completions.ts).
 */
import { SSE_HEADERS, checkCompletionChunk, type CompletionChunk, type SseDialect } from '../stream/index.js';
import { directResponse, type RequestContext } from '../http/index.js';
import { readAnswerJson, type UpstreamPool, type UpstreamResponse } from '../upstream/index.js';
import { OUTPUT_PROTECTION_VERSION_HEADER, decryptBody } from '../protection/index.js';
import { answerStreamBody } from './chat-stream.js';
import type { ProtectedAnswer, ProxyOutputProtection } from '../protection/index.js';
import { InvalidRequestError } from '../errors/index.js';
import type { EmbeddedPrompt, PromptEmbedder } from '../prompt/index.js';
import type { ChatTelemetry, GenAiRequestFacts, RequestTelemetry } from '../telemetry/index.js';

export interface UpstreamCallDeps {
  embedder: PromptEmbedder;
  protection: ProxyOutputProtection;
  upstream: UpstreamPool;
  defaultModel: string;
  maxNewTokens: number;
  keepAliveIntervalMs: number;
  maxUpstreamEventBytes: number;
}

/** One client request, as the route hands it over. */
export interface ProxiedCall {
  /** Headers for the upstream request (auth, request id): decided by the route, not here. */
  upstreamHeaders: Record<string, string>;
  clientHeaders: Headers;
  signal: AbortSignal;
  /** The request's context: its logger, and the access line a stream reports its end to. */
  context: RequestContext;
  telemetry: RequestTelemetry;
}

/** The sampling parameters both request shapes have, passed upstream as they are. */
export interface SamplingParameters {
  temperature?: number | null | undefined;
  top_p?: number | null | undefined;
  seed?: number | null | undefined;
  stop?: string | string[] | null | undefined;
  n?: number | null | undefined;
  presence_penalty?: number | null | undefined;
  frequency_penalty?: number | null | undefined;
  user?: string | null | undefined;
  stream?: boolean | null | undefined;
}

const SAMPLING_KEYS = [
  'temperature',
  'top_p',
  'seed',
  'stop',
  'n',
  'presence_penalty',
  'frequency_penalty',
  'user',
] as const;

const utf8 = new TextEncoder();
const EMBEDS_OPEN = utf8.encode('{"prompt_embeds":"');

/**
 * The vLLM completions request that carries the obfuscated prompt, as JSON text in pieces;
 * `fields` add the route's own. `prompt_embeds` goes in as the bytes the transform's thread
 * encoded (base64 needs no JSON escaping), so its megabytes are never a string on the event loop.
 */
export function upstreamBody(
  request: SamplingParameters,
  model: string,
  promptEmbeds: Uint8Array,
  maxTokens: number,
  fields: Record<string, unknown>,
): Uint8Array[] {
  const stream = request.stream === true;
  const body: Record<string, unknown> = { ...fields, model, max_tokens: maxTokens, stream };
  delete body.prompt_embeds; // only ever the transform's
  // Always asked for, so that completion tokens are counted; the client gets the usage chunk only when it asked.
  if (stream) body.stream_options = { include_usage: true };
  for (const key of SAMPLING_KEYS) {
    const value = request[key];
    if (value !== undefined && value !== null) body[key] = value;
  }
  // `{"model":…}` without its `{`: the members after prompt_embeds (there is always `model`).
  const rest = JSON.stringify(body).slice(1);
  return [EMBEDS_OPEN, promptEmbeds, utf8.encode(`",${rest}`)];
}

/** What the span records of the request: the sampling parameters as sent upstream, never the prompt. */
export function genAiFacts(request: SamplingParameters, maxTokens: number, id: string): GenAiRequestFacts {
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

export interface PromptCall {
  /** `chat` or `text_completion`: the GenAI operation. */
  operation: string;
  model: string;
  /** The id the client gets. */
  id: string;
  request: SamplingParameters;
  maxTokens: number;
  /** Whether the request asks for logprobs. */
  logprobs: boolean;
  /** Whether the route can relay logprobs sealed for the client's own key (chat); otherwise refused then. */
  sealedLogprobs?: boolean;
  embed: (signal: AbortSignal) => Promise<EmbeddedPrompt>;
  /** The route's fields of the upstream request (logprobs, structured outputs…). */
  upstreamFields: Record<string, unknown>;
}

export interface ForwardedPrompt {
  upstream: UpstreamResponse;
  answer: ProtectedAnswer;
  telemetry: ChatTelemetry;
}

/** Transform the prompt and send it upstream: the answer's status and headers, its body not read yet. */
export async function forwardPrompt(
  deps: UpstreamCallDeps,
  call: ProxiedCall,
  prompt: PromptCall,
): Promise<ForwardedPrompt> {
  const telemetry = call.telemetry.chat(prompt.operation, prompt.model);
  telemetry.describe(genAiFacts(prompt.request, prompt.maxTokens, prompt.id));
  // Before the transform: a bad client key is the client's 400, not a wasted transform and an upstream error.
  const protectedCall = deps.protection.begin(call.clientHeaders);
  if (prompt.logprobs) {
    refuseProtectedLogprobs(protectedCall.upstreamHeaders, deps.protection.decrypts, prompt.sealedLogprobs === true);
  }
  const started = performance.now();
  const embedded = await telemetry.transform(() => prompt.embed(call.signal));
  call.context.logger.debug(
    { prompt_tokens: embedded.tokens, transform_ms: Math.round(performance.now() - started) },
    'prompt transformed',
  );
  const body = upstreamBody(
    prompt.request,
    prompt.model,
    embedded.promptEmbeds,
    prompt.maxTokens,
    prompt.upstreamFields,
  );
  const upstream = await telemetry.upstreamCall('text_completion', (traceHeaders) =>
    deps.upstream.postJson('/v1/completions', body, {
      headers: { ...call.upstreamHeaders, ...traceHeaders, ...protectedCall.upstreamHeaders },
      signal: call.signal,
    }),
  );
  const answer = acceptOrRelease(upstream, () =>
    checkLogprobsVersion(prompt.logprobs, protectedCall.accept(upstream.headers)),
  );
  return { upstream, answer, telemetry };
}

const LOGPROBS_NEED_V2 =
  "'logprobs' under output protection needs wire format v2 (v1 encrypts only the text, so the tokens would travel in plaintext)";

/**
 * Logprobs are answer tokens: only wire format v2 seals them. The proxy, when it decrypts, always
 * asks for v2. When it relays the client's key, the route must be able to pass them on sealed
 * (chat can; the legacy completions shape needs `text_offset` counted on the plaintext), and the
 * client must ask for v2 itself (x-output-protection-version: 2).
 */
function refuseProtectedLogprobs(
  protectionHeaders: Record<string, string>,
  decrypts: boolean,
  sealedOk: boolean,
): void {
  if (Object.keys(protectionHeaders).length === 0 || decrypts) return;
  if (sealedOk && protectionHeaders[OUTPUT_PROTECTION_VERSION_HEADER] === '2') return;
  const message = sealedOk
    ? `${LOGPROBS_NEED_V2}: send the header ${OUTPUT_PROTECTION_VERSION_HEADER}: 2.`
    : "'logprobs' is not available on this route with your own output-protection key: the proxy cannot map tokens it cannot read (use /v1/chat/completions).";
  throw new InvalidRequestError(message, { param: 'logprobs', code: 'unsupported_parameter' });
}

/** An upstream that speaks only v1 answers v1 to a request for v2: its logprobs tokens are not sealed. */
function checkLogprobsVersion(logprobs: boolean, answer: ProtectedAnswer): ProtectedAnswer {
  if (!logprobs || answer.version !== 1) return answer;
  throw new InvalidRequestError(`${LOGPROBS_NEED_V2}, and the upstream answered in v1: it cannot give logprobs.`, {
    param: 'logprobs',
    code: 'unsupported_parameter',
  });
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

/** Whether the proxy can read the answer: plaintext, or decrypted here (not the client's ciphertext). */
export function answerReadable(answer: ProtectedAnswer): boolean {
  return answer.recipient !== undefined || Object.keys(answer.clientHeaders).length === 0;
}

/** A non-stream answer, read and (with the proxy's key) opened; a failure is counted before it is rethrown. */
export async function readAnswer({ upstream, answer, telemetry }: ForwardedPrompt): Promise<CompletionChunk> {
  try {
    const sealed = checkCompletionChunk(await readAnswerJson(upstream.body), 'an answer');
    const body = answer.recipient ? decryptBody(sealed, answer.recipient) : sealed;
    telemetry.answered(body);
    return body;
  } catch (err) {
    telemetry.failed(err, 'body');
    throw err;
  }
}

export interface StreamOptions<P> {
  keepAliveIntervalMs: number;
  maxUpstreamEventBytes: number;
  context: RequestContext;
  /** How the client's SSE is written (the Responses API's named events); absent: `data:` lines and `[DONE]`. */
  dialect?: SseDialect<P>;
}

/**
 * The streamed answer, each upstream chunk (opened) mapped by `toClient`. Its end goes on the
 * request's one access line (outcome, chunks, first token); a stream that ended with an error
 * event also gets a warning line with the error's code.
 */
export function streamResponse<P>(
  { upstream, answer, telemetry }: ForwardedPrompt,
  toClient: (chunk: CompletionChunk) => readonly P[],
  options: StreamOptions<P>,
): Response {
  const { context } = options;
  const observer = telemetry.streamStarted();
  let ended!: (fields: Record<string, unknown>) => void;
  context.streamEnd = new Promise((resolve) => (ended = resolve));
  const body = answerStreamBody(upstream.body, toClient, {
    ...(answer.recipient ? { recipient: answer.recipient } : {}),
    ...(options.dialect ? { dialect: options.dialect } : {}),
    keepAliveIntervalMs: options.keepAliveIntervalMs,
    maxUpstreamEventBytes: options.maxUpstreamEventBytes,
    onChunk: (chunk) => {
      if (context.firstTokenAt === undefined && chunk.choices.some((choice) => choice.text !== ''))
        context.firstTokenAt = performance.now();
      observer.onChunk(chunk);
    },
    logger: context.logger,
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
  return directResponse(body, { status: 200, headers: { ...SSE_HEADERS, ...answer.clientHeaders } });
}
