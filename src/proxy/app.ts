import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import {
  ClientClosedError,
  NotFoundError,
  OverloadedError,
  PayloadTooLargeError,
  UnsupportedMediaTypeError,
  UpstreamHttpError,
  toApiError,
  toErrorEnvelope,
} from '../errors/index.js';
import type { Logger } from '../logging/index.js';
import { REQUEST_ID_HEADER, findRequestContext, requestContext, requestContextOf } from '../http/index.js';
import type { Sgt } from '../sgt/index.js';
import { readAtMost } from '../internal/read-at-most.js';
import type { UpstreamClient } from '../upstream/index.js';
import { requireBearerKey } from './auth.js';
import type { ProxyOutputProtection } from '../protection/index.js';
import { chatCompletions } from './chat-completions.js';
import { JSON_BODY_ROUTES, requireJsonContentType } from './content-type.js';
import { cors, type CorsOrigins } from './cors.js';
import { registerDocs } from './docs.js';
import type { PromptEmbedder } from '../prompt/index.js';
import { playground } from './playground/index.js';
import { parseJsonBody, validateChatRequest, validateStainedGlassRequest } from './request-validation.js';
import { stainedGlass } from './stainedglass.js';

export interface ProxySettings {
  /** When set, clients must send it as a Bearer token. */
  apiKey?: string;
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
}

export interface ProxyAppDeps {
  settings: ProxySettings;
  sgt: Sgt;
  protection: ProxyOutputProtection;
  embedder: PromptEmbedder;
  upstream: UpstreamClient;
  logger: Logger;
}

export function createProxyApp(deps: ProxyAppDeps): OpenAPIHono {
  const { settings } = deps;
  const app = new OpenAPIHono();

  app.use('*', requestContext(deps.logger));
  // Before authentication: a browser's preflight never carries the API key.
  if (settings.corsOrigins !== undefined) app.use('*', cors(settings.corsOrigins, deps.protection.headerNames));
  if (settings.apiKey !== undefined) app.use('/v1/*', requireBearerKey(settings.apiKey));
  app.on('POST', JSON_BODY_ROUTES, requireJsonContentType());

  app.get('/', playground({ apiKeyRequired: settings.apiKey !== undefined }));

  app.get('/livez', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', async (c) => {
    const reachable = await isReachable(deps.upstream);
    return c.json(
      { status: reachable ? 'ready' : 'not ready', sgt: 'loaded', upstream: reachable ? 'reachable' : 'unreachable' },
      reachable ? 200 : 503,
    );
  });

  app.post('/v1/chat/completions', async (c) => {
    const request = validateChatRequest(parseJsonBody(await readBody(c, settings.maxRequestBytes)));
    return chatCompletions(
      {
        embedder: deps.embedder,
        protection: deps.protection,
        upstream: deps.upstream,
        defaultModel: settings.defaultModel,
        maxNewTokens: settings.maxNewTokens,
        keepAliveIntervalMs: settings.keepAliveIntervalMs,
        maxUpstreamEventBytes: settings.maxUpstreamEventBytes,
      },
      {
        request,
        upstreamHeaders: upstreamHeaders(c, settings),
        clientHeaders: c.req.raw.headers,
        signal: c.req.raw.signal,
        logger: requestContextOf(c).logger,
      },
    );
  });

  app.post('/v1/stainedglass', async (c) => {
    const request = validateStainedGlassRequest(parseJsonBody(await readBody(c, settings.maxRequestBytes)));
    return c.json(await stainedGlass(deps.sgt, deps.embedder, request, c.req.raw.signal));
  });

  app.get('/v1/models', async (c) => {
    const upstream = await deps.upstream.get('/v1/models', {
      headers: upstreamHeaders(c, settings),
      signal: c.req.raw.signal,
    });
    return new Response(upstream.body, { status: 200, headers: { 'content-type': 'application/json' } });
  });

  registerDocs(app);

  app.notFound((c) => {
    const error = new NotFoundError(`Unknown route: ${c.req.method} ${c.req.path}`);
    return c.json(toErrorEnvelope(error), 404);
  });
  app.onError((err, c) => errorResponse(err, c, deps.logger));
  return app;
}

/** The one place an error becomes an HTTP response. */
function errorResponse(err: unknown, c: Context, fallback: Logger): Response {
  const error = toApiError(err);
  const logger = findRequestContext(c)?.logger ?? fallback;
  if (error.status >= 500) logger.error({ err, status: error.status }, 'request failed');
  else logger.info({ status: error.status, code: error.code, param: error.param }, 'request rejected');
  const headers: Record<string, string> = {};
  if (error instanceof OverloadedError) headers['retry-after'] = String(error.retryAfterSeconds);
  if (error instanceof UpstreamHttpError && error.retryAfter !== undefined) headers['retry-after'] = error.retryAfter;
  // The rest of an oversized body (or of one refused for its type) is never read: keeping the connection would leave it unread on the
  // socket, which Node then resets under the client's next request. Closing says so first.
  if (error instanceof PayloadTooLargeError || error instanceof UnsupportedMediaTypeError) headers.connection = 'close';
  return Response.json(toErrorEnvelope(error), { status: error.status, headers });
}

/**
 * The request body as text, at most `maxBytes` (413 beyond, from the declared length when there is
 * one, before reading anything). A read that fails is the client's connection breaking
 * mid-upload: a closed request (499, logged at info), not our 500.
 */
async function readBody(c: Context, maxBytes: number): Promise<string> {
  const declared = Number(c.req.header('content-length'));
  if (Number.isFinite(declared) && declared > maxBytes) throw new PayloadTooLargeError(maxBytes);
  let body: Awaited<ReturnType<typeof readAtMost>>;
  try {
    body = await readAtMost(c.req.raw.body, maxBytes);
  } catch (err) {
    throw new ClientClosedError({ cause: err });
  }
  if (!body.complete) throw new PayloadTooLargeError(maxBytes);
  return new TextDecoder().decode(body.bytes);
}

function upstreamHeaders(c: Context, settings: ProxySettings): Record<string, string> {
  const headers: Record<string, string> = { [REQUEST_ID_HEADER]: requestContextOf(c).requestId };
  const authorization = c.req.header('authorization');
  // With a proxy API key, the client's Authorization is *our* secret and must not travel on.
  if (authorization && !settings.upstreamBasicAuth && settings.apiKey === undefined)
    headers.authorization = authorization;
  return headers;
}

async function isReachable(upstream: UpstreamClient): Promise<boolean> {
  try {
    const response = await upstream.get('/health', { headers: {}, signal: AbortSignal.timeout(2000) });
    await response.body.cancel();
    return true;
  } catch {
    return false;
  }
}
