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
import {
  chatMaxTokens,
  estimatePromptTokens,
  messagesText,
  parseChatRequest,
  type ChatRequest,
} from './chat-request.js';
import {
  collectCompletion,
  completionEventStream,
  pacedEventStream,
  type CompletionRun,
  type GenerationEnd,
  type LogprobsRequest,
  type PromptRun,
  type StreamOptions,
} from './completion-output.js';
import { parseCompletionRequest, type CompletionRequest } from './completion-request.js';
import { usageReporting } from './request-fields.js';
import { readJsonBody, requireJsonContentType } from './json-body.js';
import { Logprobs } from './logprobs.js';
import { checkTokenPrompts, loadPrompts, promptTokens, type RequestPrompt } from './prompts.js';
import { findRequestContext, requestContext, requestContextOf } from '../http/index.js';
import { ScriptedReplies, type ScriptedRepliesFile } from './scripted.js';
import {
  checkContextLength,
  checkLogprobsLimit,
  checkModel,
  checkOutputBudget,
  checkPromptFeatures,
  checkSamplingParams,
  requestedMaxTokens,
  stopStrings,
} from './serving-checks.js';
import { applyStop } from './stop-strings.js';
import { planEcho, planPaced, planReply, planTokenEcho, type ReferenceSgt, type TokenPlan } from './token-plan.js';
import { VllmError, badRequest, httpError, internalError } from './vllm-errors.js';

export type GenerationMode = 'echo' | 'paced' | 'scripted';

export interface GenerationEndEvent extends GenerationEnd {
  requestId: string;
  stream: boolean;
}

export interface ReferenceServerOptions {
  /** Any `Sgt` will do; only its metadata and nearest-token search are used. */
  sgt: ReferenceSgt;
  mode: GenerationMode;
  /** Scripted mode's replies (`readScriptedReplies`); required in that mode, refused in the others. */
  replies?: ScriptedRepliesFile;
  /** Pause before each generated token (every mode); 0 sends tokens as fast as the client reads. */
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

/** What one server instance keeps between requests. */
interface ServerState {
  options: ReferenceServerOptions;
  maxBodyBytes: number;
  replies: ScriptedReplies | undefined;
  logprobs: Logprobs;
}

const MODES: readonly GenerationMode[] = ['echo', 'paced', 'scripted'];

/** Options are checked once, here, so a bad value fails at start-up and not on the first request. */
function validateOptions(options: ReferenceServerOptions): ServerState {
  if (!MODES.includes(options.mode)) {
    throw new TypeError(`reference server: mode must be "echo", "paced" or "scripted", got ${String(options.mode)}`);
  }
  if ((options.mode === 'scripted') !== (options.replies !== undefined)) {
    throw new TypeError('reference server: replies are given in scripted mode, and only there');
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
  const replies = options.replies && new ScriptedReplies(options.replies, options.sgt);
  return { options, maxBodyBytes, replies, logprobs: new Logprobs(options.sgt) };
}

/** A vLLM-OpenAI-API-compatible server that reads prompt embeddings back instead of running an LLM. */
export function createReferenceServerApp(options: ReferenceServerOptions): Hono {
  const state = validateOptions(options);
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
  app.post('/v1/completions', (c) => handleCompletion(c, state));
  app.post('/v1/chat/completions', (c) => handleChat(c, state));
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
  prompts: RequestPrompt[];
  maxTokens: number;
}

/** Every check before any generation, in vLLM's order, so an invalid request never gets a 200. */
async function validateCompletion(c: Context, state: ServerState): Promise<ValidatedCompletion> {
  requireJsonContentType(c.req.header('content-type'));
  const request = parseCompletionRequest(await readJsonBody(c.req.raw, state.maxBodyBytes));
  const sgt = state.options.sgt;
  const { baseModel, maxSequenceLength, vocabSize } = sgt.metadata;
  checkModel(request, baseModel);
  checkPromptFeatures(request, getOutputProtection(c) !== undefined);
  const maxTokens = requestedMaxTokens(request);
  checkOutputBudget(maxTokens, maxSequenceLength);
  const prompts = loadPrompts(request, sgt, maxTokens);
  checkSamplingParams(request, maxTokens);
  checkTokenPrompts(prompts, vocabSize);
  checkLogprobsLimit(request, vocabSize);
  return { request, prompts, maxTokens };
}

// `temperature`, `top_p`, `seed` and the penalties are validated but do not change the output:
// this server is not a sampler, and its answers are deterministic by design. `stop` applies.
async function handleCompletion(c: Context, state: ServerState): Promise<Response> {
  const validated = await validateCompletion(c, state);
  const { request } = validated;
  const requestId = requestContextOf(c).requestId;
  const run = await completionRun(state, `cmpl-${requestId}`, validated);
  const logprobs: LogprobsRequest | undefined =
    request.logprobs == null ? undefined : { requested: request.logprobs, table: state.logprobs };
  const report = (end: GenerationEnd, stream: boolean): void => reportEnd(state.options, { ...end, requestId, stream });
  if (request.stream) {
    const body = completionEventStream(run, streamOptions(c, usageReporting(request), report), logprobs);
    return new Response(body, { status: 200, headers: SSE_HEADERS });
  }
  return respondWhole(c, await collectCompletion(run, c.req.raw.signal, logprobs), report);
}

async function completionRun(
  state: ServerState,
  id: string,
  { request, prompts, maxTokens }: ValidatedCompletion,
): Promise<CompletionRun> {
  const runs: PromptRun[] = [];
  // One after the other: scripted replies are taken in turn, in the prompts' order.
  for (const prompt of prompts) {
    const plan = await completionPlan(state, prompt, maxTokens);
    runs.push({ promptTokens: promptTokens(prompt), plan: withStop(plan, request) });
  }
  return {
    id,
    created: Math.floor(Date.now() / 1000),
    model: state.options.sgt.metadata.baseModel,
    prompts: runs,
    n: request.n ?? 1,
    tokenIntervalMs: state.options.tokenIntervalMs,
  };
}

function withStop(plan: TokenPlan, request: Pick<CompletionRequest, 'stop' | 'include_stop_str_in_output'>): TokenPlan {
  return applyStop(plan, stopStrings(request), request.include_stop_str_in_output === true);
}

/** What one prompt of a completion generates, in this server's mode. */
async function completionPlan(state: ServerState, prompt: RequestPrompt, maxTokens: number): Promise<TokenPlan> {
  const sgt = state.options.sgt;
  if (state.options.mode === 'paced') return planPaced(maxTokens);
  if (state.replies) return scriptedPlan(state.replies, await promptReading(state, prompt), maxTokens);
  return prompt.kind === 'embeds' ? planEcho(sgt, prompt.embeds, maxTokens) : planTokenEcho(sgt, prompt.ids, maxTokens);
}

/** The text a scripted reply's `match` is looked for in: what the echo mode would read. */
async function promptReading(state: ServerState, prompt: RequestPrompt): Promise<string> {
  const sgt = state.options.sgt;
  if (!state.replies?.matches) return '';
  if (prompt.kind === 'tokens') return sgt.decode(prompt.ids);
  return sgt.decode(await sgt.nearestTokens(prompt.embeds.data, prompt.embeds.tokens));
}

function scriptedPlan(replies: ScriptedReplies, reading: string, maxTokens: number): TokenPlan {
  const reply = replies.pick(reading);
  if (!reply) {
    throw badRequest('Scripted mode: no reply in the replies file matches this prompt, and none is without `match`.');
  }
  return planReply(reply.pieces, reply.finishReason, maxTokens);
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
 * plaintext would make this server look like something it is not. Plain-text chat is for the
 * paced load-test upstream (so that gateways without `prompt_embeds` support meet the same
 * upstream) and for scripted replies.
 */
function requireTextChatMode(mode: GenerationMode): void {
  if (mode === 'echo') {
    throw badRequest(
      'The reference server answers plain-text chat completions in paced or scripted mode only; ' +
        'in echo mode it reads back prompt embeddings: send those to /v1/completions, as sgt-proxy does.',
    );
  }
}

async function validateChat(c: Context, state: ServerState): Promise<ValidatedChat> {
  requireTextChatMode(state.options.mode);
  requireJsonContentType(c.req.header('content-type'));
  const request = parseChatRequest(await readJsonBody(c.req.raw, state.maxBodyBytes));
  const { baseModel, maxSequenceLength } = state.options.sgt.metadata;
  checkModel(request, baseModel);
  const promptTokens = estimatePromptTokens(request);
  const maxTokens = chatMaxTokens(request, promptTokens, maxSequenceLength);
  checkOutputBudget(maxTokens, maxSequenceLength);
  checkContextLength(promptTokens, maxTokens, maxSequenceLength);
  checkSamplingParams(request, maxTokens);
  return { request, promptTokens, maxTokens };
}

/** Plain-text `POST /v1/chat/completions`: paced tokens or a scripted reply, like the completions route. */
async function handleChat(c: Context, state: ServerState): Promise<Response> {
  const { request, promptTokens, maxTokens } = await validateChat(c, state);
  const { options } = state;
  const requestId = requestContextOf(c).requestId;
  const plan = state.replies ? scriptedPlan(state.replies, messagesText(request), maxTokens) : planPaced(maxTokens);
  const run: CompletionRun = {
    id: `chatcmpl-${requestId}`,
    created: Math.floor(Date.now() / 1000),
    model: options.sgt.metadata.baseModel,
    prompts: [{ promptTokens, plan: withStop(plan, request) }],
    n: request.n ?? 1,
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
