import { OpenAPIHono, type z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import {
  NotFoundError,
  OverloadedError,
  PayloadTooLargeError,
  UnsupportedMediaTypeError,
  UpstreamHttpError,
  UpstreamProtocolError,
  toApiError,
  toErrorResponse,
} from '../errors/index.js';
import type { Logger } from '../logging/index.js';
import { REQUEST_ID_HEADER, findRequestContext, requestContext, requestContextOf } from '../http/index.js';
import type { Sgt } from '../sgt/index.js';
import { readAnswerJson, type UpstreamPool } from '../upstream/index.js';
import { requireBearerKey } from './auth.js';
import type { ProxyOutputProtection } from '../protection/index.js';
import { chatCompletions, type ChatCompletionsDeps } from './chat-completions.js';
import { completions } from './completions.js';
import type { ProxiedCall } from './upstream-call.js';
import { requireJsonContentType } from './content-type.js';
import { cors, type CorsOrigins } from './cors.js';
import { DEFAULT_CHAT_OPTIONS, type ChatOptions } from './chat-options.js';
import { registerDocs } from './docs.js';
import type { PromptEmbedder } from '../prompt/index.js';
import { playground } from './playground/index.js';
import { readiness } from './readiness.js';
import { boundedBody, fromHttpException, rejectInvalidRequest } from './request-validation.js';
import { responses } from './responses.js';
import {
  chatCompletionsRoute,
  completionsRoute,
  livezRoute,
  modelsRoute,
  readyzRoute,
  responsesRoute,
  stainedGlassRoute,
} from './routes.js';
import { modelListSchema } from './schemas.js';
import { stainedGlass } from './stainedglass.js';
import { telemetryOf, type Telemetry } from '../telemetry/index.js';

export interface ProxySettings {
  /** When set, clients must send it as a Bearer token. */
  apiKey?: string;
  /** The Bearer token `GET /metrics` needs (SGP_METRICS_API_KEY); unset: `apiKey`'s rule. */
  metricsApiKey?: string;
  /** Whether the upstream gets Basic auth from configuration (then the client's Authorization is never forwarded). */
  upstreamBasicAuth: boolean;
  maxNewTokens: number;
  maxRequestBytes: number;
  keepAliveIntervalMs: number;
  /** Largest upstream SSE event accepted (the rest of the stream is then an error event). */
  maxUpstreamEventBytes: number;
  defaultModel: string;
  /** SGP_CORS_ORIGINS; unset: no CORS headers, and an OPTIONS is routed like any request. */
  corsOrigins?: CorsOrigins;
  /** Output parsing and structured outputs (SGP_TOOL_PARSER, …); defaults: chat-options.ts. */
  chat?: Partial<ChatOptions>;
}

export interface ProxyAppDeps {
  settings: ProxySettings;
  sgt: Sgt;
  protection: ProxyOutputProtection;
  embedder: PromptEmbedder;
  upstream: UpstreamPool;
  logger: Logger;
  telemetry: Telemetry;
}

export function createProxyApp(deps: ProxyAppDeps): OpenAPIHono {
  const { settings } = deps;
  const app = new OpenAPIHono({ defaultHook: rejectInvalidRequest });

  app.use('*', requestContext(deps.logger));
  app.use('*', deps.telemetry.middleware);
  // Before authentication: a browser's preflight never carries the API key.
  if (settings.corsOrigins !== undefined) app.use('*', cors(settings.corsOrigins, deps.protection.headerNames));
  if (settings.apiKey !== undefined) app.use('/v1/*', requireBearerKey(settings.apiKey));
  const metricsKey = settings.metricsApiKey ?? settings.apiKey;
  if (metricsKey !== undefined) app.use('/metrics', requireBearerKey(metricsKey));
  app.get('/metrics', () => deps.telemetry.scrape());
  for (const route of [chatCompletionsRoute, completionsRoute, responsesRoute, stainedGlassRoute]) {
    app.on(route.method, route.getRoutingPath(), requireJsonContentType(), boundedBody(settings.maxRequestBytes));
  }

  app.get('/', playground({ apiKeyRequired: settings.apiKey !== undefined }));

  app.openapi(livezRoute, (c) => c.json({ status: 'ok' as const }, 200));
  app.openapi(readyzRoute, async (c) => {
    const { body, status } = await readiness(deps.upstream);
    return status === 200 ? c.json(body, 200) : c.json(body, 503);
  });

  const chatDeps: ChatCompletionsDeps = {
    embedder: deps.embedder,
    protection: deps.protection,
    upstream: deps.upstream,
    defaultModel: settings.defaultModel,
    maxNewTokens: settings.maxNewTokens,
    keepAliveIntervalMs: settings.keepAliveIntervalMs,
    maxUpstreamEventBytes: settings.maxUpstreamEventBytes,
    chat: { ...DEFAULT_CHAT_OPTIONS, ...settings.chat },
  };
  app.openapi(chatCompletionsRoute, (c) =>
    chatCompletions(chatDeps, { request: c.req.valid('json'), ...proxiedCall(c, settings) }),
  );
  app.openapi(completionsRoute, (c) =>
    completions(chatDeps, { request: c.req.valid('json'), ...proxiedCall(c, settings) }),
  );
  app.openapi(responsesRoute, (c) =>
    responses(chatDeps, { request: c.req.valid('json'), ...proxiedCall(c, settings) }),
  );

  app.openapi(stainedGlassRoute, async (c) =>
    c.json(await stainedGlass(deps.sgt, deps.embedder, c.req.valid('json'), c.req.raw.signal), 200),
  );

  app.openapi(modelsRoute, async (c) => {
    const upstream = await deps.upstream.get('/v1/models', {
      headers: upstreamHeaders(c, settings),
      signal: c.req.raw.signal,
    });
    return c.json(checkModelList(await readAnswerJson(upstream.body)), 200);
  });

  registerDocs(app);

  app.notFound((c) => toErrorResponse(new NotFoundError(`Unknown route: ${c.req.method} ${c.req.path}`)));
  app.onError((err, c) => errorResponse(err, c, deps.logger));
  return app;
}

/** The one place an error becomes an HTTP response. */
function errorResponse(err: unknown, c: Context, fallback: Logger): Response {
  const error = err instanceof HTTPException ? fromHttpException(err) : toApiError(err);
  const logger = findRequestContext(c)?.logger ?? fallback;
  if (error.status >= 500) logger.error({ err, status: error.status }, 'request failed');
  else logger.info({ status: error.status, code: error.code, param: error.param }, 'request rejected');
  const headers: Record<string, string> = {};
  if (error instanceof OverloadedError) headers['retry-after'] = String(error.retryAfterSeconds);
  if (error instanceof UpstreamHttpError && error.retryAfter !== undefined) headers['retry-after'] = error.retryAfter;
  // The rest of an oversized body (or of one refused for its type) is never read: keeping the connection would leave it unread on the
  // socket, which Node then resets under the client's next request. Closing says so first.
  if (error instanceof PayloadTooLargeError || error instanceof UnsupportedMediaTypeError) headers.connection = 'close';
  return toErrorResponse(error, headers);
}

/** The upstream's model list, relayed only once it is one. */
function checkModelList(payload: unknown): z.infer<typeof modelListSchema> {
  const result = modelListSchema.safeParse(payload);
  if (!result.success) {
    throw new UpstreamProtocolError('The upstream answered /v1/models with something that is not a model list.');
  }
  return result.data;
}

/** What a prompt route's handler needs of the request besides its body. */
function proxiedCall(c: Context, settings: ProxySettings): ProxiedCall {
  return {
    upstreamHeaders: upstreamHeaders(c, settings),
    clientHeaders: c.req.raw.headers,
    signal: c.req.raw.signal,
    context: requestContextOf(c),
    telemetry: telemetryOf(c),
  };
}

function upstreamHeaders(c: Context, settings: ProxySettings): Record<string, string> {
  const headers: Record<string, string> = { [REQUEST_ID_HEADER]: requestContextOf(c).requestId };
  const authorization = c.req.header('authorization');
  // With a proxy API key, the client's Authorization is *our* secret and must not travel on.
  if (authorization && !settings.upstreamBasicAuth && settings.apiKey === undefined)
    headers.authorization = authorization;
  return headers;
}
