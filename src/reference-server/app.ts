import { randomUUID } from 'node:crypto';
import { Hono, type Context } from 'hono';
import type { Logger } from 'pino';
import {
  encryptBody,
  getOutputProtection,
  userPublicKeyMiddleware,
  type OutputProtectionMode,
} from '../protection/index.js';
import { SSE_HEADERS } from '../stream/sse-encoder.js';
import { chatChunkFormat, collectChatCompletion } from './chat-output.js';
import { chatMaxTokens, estimatePromptTokens, parseChatRequest, type ChatRequest } from './chat-request.js';
import {
  collectCompletion,
  completionEventStream,
  pacedEventStream,
  type CompletionRun,
  type GenerationEnd,
  type StreamOptions,
} from './completion-output.js';
import { parseCompletionRequest, type CompletionRequest } from './completion-request.js';
import { usageReporting } from './request-fields.js';
import { readJsonBody, requireJsonContentType } from './json-body.js';
import { loadPromptEmbeds, type PromptEmbeds } from './prompt-embeds.js';
import { findRequestContext, requestContext, requestContextOf } from '../http/index.js';
import {
  checkContextLength,
  checkModel,
  checkOutputBudget,
  checkSamplingParams,
  embedsOnlyPrompt,
  requestedMaxTokens,
} from './serving-checks.js';
import { planEcho, planPaced, type ReferenceSgt, type TokenPlan } from './token-plan.js';
import { VllmError, badRequest, httpError, internalError } from './vllm-errors.js';

export type GenerationMode = 'echo' | 'paced';

export interface GenerationEndEvent extends GenerationEnd {
  requestId: string;
  stream: boolean;
}

export interface ReferenceServerOptions {
  /** Any `Sgt` will do; only its metadata and nearest-token search are used. */
  sgt: ReferenceSgt;
  mode: GenerationMode;
  /** Pause before each generated token (both modes); 0 sends tokens as fast as the client reads. */
  tokenIntervalMs: number;
  logger: Logger;
  /** Largest request body accepted, in bytes; larger ones get 413. Default 64 MiB. */
  maxBodyBytes?: number;
  /** Told when a generation ends — completed, aborted by the client, or failed (tests, metrics). */
  onGenerationEnd?: (event: GenerationEndEvent) => void;
  /** docs/output-protection.md: `optional` (default) encrypts when the client sent a key; `required` insists on one. */
  outputProtection?: OutputProtectionMode;
  /** SG_CLIENT_PUBLIC_KEY_HEADER_NAME / SG_SERVER_PUBLIC_KEY_HEADER_NAME. */
  protectionHeaders?: { client: string; server: string };
}

export const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;

/** Options are checked once, here, so a bad value fails at start-up and not on the first request. */
function validateOptions(options: ReferenceServerOptions): Required<Pick<ReferenceServerOptions, 'maxBodyBytes'>> {
  if (options.mode !== 'echo' && options.mode !== 'paced') {
    throw new TypeError(`reference server: mode must be "echo" or "paced", got ${String(options.mode)}`);
  }
  if (!Number.isFinite(options.tokenIntervalMs) || options.tokenIntervalMs < 0) {
    throw new TypeError(
      `reference server: tokenIntervalMs must be a finite number >= 0, got ${options.tokenIntervalMs}`,
    );
  }
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  if (!Number.isSafeInteger(maxBodyBytes) || maxBodyBytes < 1) {
    throw new TypeError(`reference server: maxBodyBytes must be a positive integer, got ${maxBodyBytes}`);
  }
  return { maxBodyBytes };
}

/** A vLLM-OpenAI-API-compatible server that reads prompt embeddings back instead of running an LLM. */
export function createReferenceServerApp(options: ReferenceServerOptions): Hono {
  const { maxBodyBytes } = validateOptions(options);
  const app = new Hono();
  app.use(requestContext(options.logger));
  app.use(
    userPublicKeyMiddleware({
      mode: options.outputProtection ?? 'optional',
      clientKeyHeader: options.protectionHeaders?.client,
      serverKeyHeader: options.protectionHeaders?.server,
    }),
  );
  app.get('/health', (c) => c.body(null, 200));
  app.get('/v1/models', (c) => c.json(modelList(options.sgt)));
  app.post('/v1/completions', (c) => handleCompletion(c, options, maxBodyBytes));
  app.post('/v1/chat/completions', (c) => handleChat(c, options, maxBodyBytes));
  app.notFound((c) => c.json(httpError(404, 'Not Found').toEnvelope(), 404));
  app.onError((err, c) => errorResponse(c, err, options.logger));
  return app;
}

function errorResponse(c: Context, err: unknown, logger: Logger): Response {
  const error = err instanceof VllmError ? err : internalError(err);
  if (error.status >= 500) {
    (findRequestContext(c)?.logger ?? logger).error({ err: error.cause ?? error }, 'request failed');
  }
  // The status is one this server chose (400/404/413/500): Response.json takes it as a number, no cast.
  return Response.json(error.toEnvelope(), { status: error.status });
}

/** vLLM's `ModelList` with one `ModelCard`, the artifact's base model. */
function modelList(sgt: ReferenceSgt): object {
  const created = Math.floor(Date.now() / 1000);
  const { baseModel, maxSequenceLength } = sgt.metadata;
  return {
    object: 'list',
    data: [
      {
        id: baseModel,
        object: 'model',
        created,
        owned_by: 'vllm',
        root: baseModel,
        parent: null,
        max_model_len: maxSequenceLength,
        permission: [modelPermission(created)],
      },
    ],
  };
}

function modelPermission(created: number): object {
  return {
    id: `modelperm-${randomUUID().replaceAll('-', '')}`,
    object: 'model_permission',
    created,
    allow_create_engine: false,
    allow_sampling: true,
    allow_logprobs: true,
    allow_search_indices: false,
    allow_view: true,
    allow_fine_tuning: false,
    organization: '*',
    group: null,
    is_blocking: false,
  };
}

interface ValidatedCompletion {
  request: CompletionRequest;
  embeds: PromptEmbeds;
  maxTokens: number;
}

/** Every check before any generation, in vLLM's order, so an invalid request never gets a 200. */
async function validateCompletion(c: Context, sgt: ReferenceSgt, maxBodyBytes: number): Promise<ValidatedCompletion> {
  requireJsonContentType(c.req.header('content-type'));
  const request = parseCompletionRequest(await readJsonBody(c.req.raw, maxBodyBytes));
  const { baseModel, hiddenSize, maxSequenceLength } = sgt.metadata;
  checkModel(request, baseModel);
  const base64 = embedsOnlyPrompt(request);
  const maxTokens = requestedMaxTokens(request);
  checkOutputBudget(maxTokens, maxSequenceLength);
  const embeds = loadPromptEmbeds(base64, hiddenSize);
  checkContextLength(embeds.tokens, maxTokens, maxSequenceLength);
  checkSamplingParams(request, maxTokens);
  return { request, embeds, maxTokens };
}

// `temperature`, `top_p`, `seed`, `stop` and the penalties are validated but do not change the
// output: this server is not a sampler, and its answers are deterministic by design.
async function handleCompletion(c: Context, options: ReferenceServerOptions, maxBodyBytes: number): Promise<Response> {
  const { request, embeds, maxTokens } = await validateCompletion(c, options.sgt, maxBodyBytes);
  const plan = await makePlan(options, embeds, maxTokens);
  const requestId = requestContextOf(c).requestId;
  const run: CompletionRun = {
    id: `cmpl-${requestId}`,
    created: Math.floor(Date.now() / 1000),
    model: options.sgt.metadata.baseModel,
    promptTokens: embeds.tokens,
    choices: request.n ?? 1,
    plan,
    tokenIntervalMs: options.tokenIntervalMs,
  };
  const report = (end: GenerationEnd, stream: boolean): void => reportEnd(options, { ...end, requestId, stream });
  return request.stream
    ? streamCompletion(c, run, request, report)
    : respondWhole(c, await collectCompletion(run, c.req.raw.signal), report);
}

function makePlan(
  options: ReferenceServerOptions,
  embeds: PromptEmbeds,
  maxTokens: number,
): Promise<TokenPlan> | TokenPlan {
  return options.mode === 'echo' ? planEcho(options.sgt, embeds, maxTokens) : planPaced(maxTokens);
}

function reportEnd(options: ReferenceServerOptions, event: GenerationEndEvent): void {
  if (event.outcome !== 'completed') {
    options.logger.info(
      { request_id: event.requestId, outcome: event.outcome, completion_tokens: event.completionTokens },
      'generation ended early',
    );
  }
  options.onGenerationEnd?.(event);
}

/**
 * The stream options every streamed route shares: the request's abort, the end report, and the
 * request scope's stream end and first-token time (the access log line carries both).
 */
function streamOptions(
  c: Context,
  usage: { include: boolean; continuous: boolean },
  report: (end: GenerationEnd, stream: boolean) => void,
): StreamOptions {
  const scope = requestContextOf(c);
  let settle: (end: GenerationEnd) => void = () => {};
  scope.streamEnd = new Promise<GenerationEnd>((resolve) => (settle = resolve)).then((end) => ({
    outcome: end.outcome,
    completion_tokens: end.completionTokens,
  }));
  return {
    includeUsage: usage.include,
    continuousUsage: usage.continuous,
    signal: c.req.raw.signal,
    onEnd: (end) => {
      settle(end);
      report(end, true);
    },
    onFirstToken: () => (scope.firstTokenAt = performance.now()),
    protect: sealerFor(c),
  };
}

/** Encrypts a chunk's or a body's texts with this response's HPKE context, if it has one. */
function sealerFor(c: Context): (<T extends object>(value: T) => T) | undefined {
  const protection = getOutputProtection(c);
  return protection ? (value) => encryptBody(value, protection.context) : undefined;
}

function protectedBody<T extends object>(c: Context, body: T): T {
  return sealerFor(c)?.(body) ?? body;
}

function streamCompletion(
  c: Context,
  run: CompletionRun,
  request: CompletionRequest,
  report: (end: GenerationEnd, stream: boolean) => void,
): Response {
  const body = completionEventStream(run, streamOptions(c, usageReporting(request), report));
  return new Response(body, { status: 200, headers: SSE_HEADERS });
}

/** A whole (non-stream) answer, or what vLLM answers when the client left before it was ready. */
function respondWhole<T extends { usage: { completion_tokens: number } }>(
  c: Context,
  response: T | undefined,
  report: (end: GenerationEnd, stream: boolean) => void,
): Response {
  if (!response) {
    report({ outcome: 'aborted', completionTokens: 0 }, false);
    // What vLLM answers a non-streamed request whose client left; nobody is there to read it.
    throw badRequest('Client disconnected');
  }
  report({ outcome: 'completed', completionTokens: response.usage.completion_tokens }, false);
  return c.json(protectedBody(c, response));
}

interface ValidatedChat {
  request: ChatRequest;
  promptTokens: number;
  maxTokens: number;
}

/**
 * Echo mode reads prompt embeddings back; a plain-text prompt has none, and answering with the
 * plaintext would make this server look like something it is not. Plain-text chat is the paced
 * load-test upstream only (so that gateways without `prompt_embeds` support meet the same upstream).
 */
function requirePacedMode(mode: GenerationMode): void {
  if (mode !== 'paced') {
    throw badRequest(
      'The reference server answers plain-text chat completions in paced mode only (--mode paced); ' +
        'in echo mode it reads back prompt embeddings: send those to /v1/completions, as sgt-proxy does.',
    );
  }
}

async function validateChat(c: Context, options: ReferenceServerOptions, maxBodyBytes: number): Promise<ValidatedChat> {
  requirePacedMode(options.mode);
  requireJsonContentType(c.req.header('content-type'));
  const request = parseChatRequest(await readJsonBody(c.req.raw, maxBodyBytes));
  const { baseModel, maxSequenceLength } = options.sgt.metadata;
  checkModel(request, baseModel);
  const promptTokens = estimatePromptTokens(request);
  const maxTokens = chatMaxTokens(request, promptTokens, maxSequenceLength);
  checkOutputBudget(maxTokens, maxSequenceLength);
  checkContextLength(promptTokens, maxTokens, maxSequenceLength);
  checkSamplingParams(request, maxTokens);
  return { request, promptTokens, maxTokens };
}

/** Plain-text `POST /v1/chat/completions` (paced mode): `max_tokens` countable tokens, like the completions route. */
async function handleChat(c: Context, options: ReferenceServerOptions, maxBodyBytes: number): Promise<Response> {
  const { request, promptTokens, maxTokens } = await validateChat(c, options, maxBodyBytes);
  const requestId = requestContextOf(c).requestId;
  const run: CompletionRun = {
    id: `chatcmpl-${requestId}`,
    created: Math.floor(Date.now() / 1000),
    model: options.sgt.metadata.baseModel,
    promptTokens,
    choices: request.n ?? 1,
    plan: planPaced(maxTokens),
    tokenIntervalMs: options.tokenIntervalMs,
  };
  const report = (end: GenerationEnd, stream: boolean): void => reportEnd(options, { ...end, requestId, stream });
  if (request.stream) {
    const usage = usageReporting(request);
    const body = pacedEventStream(run, chatChunkFormat(run, usage.continuous), streamOptions(c, usage, report));
    return new Response(body, { status: 200, headers: SSE_HEADERS });
  }
  return respondWhole(c, await collectChatCompletion(run, c.req.raw.signal), report);
}
