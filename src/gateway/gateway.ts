import { Hono, type Context } from 'hono';
import { UpstreamProtocolError, toApiError, toErrorResponse } from '../errors/index.js';
import type { Logger } from '../logging/index.js';
import {
  OUTPUT_PROTECTION_VERSION_HEADER,
  encryptBody,
  chunkSealer,
  getOutputProtection,
  userPublicKeyMiddleware,
  type HpkeSenderContext,
  type OutputProtectionEnv,
} from '../protection/index.js';
import { parseEventObject, relaySse } from '../stream/index.js';
import { UpstreamClient, readAnswerJson, type UpstreamResponse } from '../upstream/index.js';
import { toReadableStream } from '../internal/byte-source.js';
import { readAtMost } from '../internal/read-at-most.js';
import { directResponse, requestContext } from '../http/index.js';

export interface ProtectGatewayOptions {
  /** The unmodified vLLM, e.g. http://127.0.0.1:8000 (no trailing slash). */
  upstream: string;
  mode: 'required' | 'optional';
  clientKeyHeader: string;
  serverKeyHeader: string;
  logger: Logger;
  /** Largest upstream SSE event it encrypts; beyond it the stream ends with an error event. Default 1 MiB. */
  maxUpstreamEventBytes?: number;
  /** Longest wait for vLLM's response headers, and for each chunk after (SGP_UPSTREAM_TIMEOUT_SECONDS). Default 300 s. */
  upstreamTimeoutMs?: number;
}

const DEFAULT_UPSTREAM_TIMEOUT_MS = 300_000;

// Connection-level headers belong to one hop (RFC 9110 §7.6.1); content-length changes once texts
// are encrypted; `expect` is not relayed (curl sends `Expect: 100-continue` with large bodies, and
// the client never waits for our 100).
const HOP_HEADERS = [
  'connection',
  'keep-alive',
  'transfer-encoding',
  'upgrade',
  'proxy-connection',
  'proxy-authorization',
  'te',
  'trailer',
  'content-length',
  'host',
  'expect',
];

/** The hop-by-hop headers, plus those the sender named in its own `Connection` header. */
function stripHopHeaders(headers: Headers): void {
  const named = (headers.get('connection') ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter(Boolean);
  for (const name of [...HOP_HEADERS, ...named]) headers.delete(name);
}

// vLLM sends its first token after prefill; comments keep idle-timeout proxies from cutting the wait.
const KEEPALIVE_INTERVAL_MS = 15_000;

/**
 * `sgt-proxy protect`: output protection in front of a vLLM that has no plugin. Every request is
 * relayed; the text of completions and chat completions answers is encrypted on the way out.
 */
export function createProtectGateway(options: ProtectGatewayOptions): Hono<OutputProtectionEnv> {
  const app = new Hono<OutputProtectionEnv>();
  app.use('*', requestContext(options.logger));
  app.use(
    '*',
    userPublicKeyMiddleware({
      mode: options.mode,
      clientKeyHeader: options.clientKeyHeader,
      serverKeyHeader: options.serverKeyHeader,
    }),
  );
  // The proxy's upstream client: the same deadlines and error mapping (unreachable → 502
  // upstream_unavailable, a reset mid-answer → the same as an error event), non-2xx relayed as is.
  const client = new UpstreamClient({
    baseUrl: options.upstream,
    timeoutMs: options.upstreamTimeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS,
    fixedHeaders: {},
  });
  app.all('*', async (c) => {
    const upstream = await relay(c, client, options.clientKeyHeader);
    const protection = getOutputProtection(c);
    const ok = upstream.status >= 200 && upstream.status <= 299;
    if (!protection || !ok) return passThrough(upstream, c.req.method);
    return encryptAnswer(upstream, protection.context, options.maxUpstreamEventBytes ?? 1024 * 1024);
  });
  app.onError((err) => {
    const error = toApiError(err);
    if (error.status >= 500) options.logger.error({ err, status: error.status }, 'protect gateway failure');
    return toErrorResponse(error);
  });
  return app;
}

async function relay(c: Context, upstream: UpstreamClient, clientKeyHeader: string): Promise<UpstreamResponse> {
  const incoming = new URL(c.req.url);
  const headers = new Headers(c.req.raw.headers);
  stripHopHeaders(headers);
  headers.delete(clientKeyHeader);
  headers.delete(OUTPUT_PROTECTION_VERSION_HEADER); // between the client and this gateway only
  // The texts must be read to be encrypted: the answer comes unencoded (what fetch did by decoding it).
  headers.delete('accept-encoding');
  const hasBody = c.req.method !== 'GET' && c.req.method !== 'HEAD';
  const response = await upstream.relay(
    incoming.pathname + incoming.search,
    { method: c.req.method, headers, body: hasBody ? c.req.raw.body : null },
    c.req.raw.signal,
  );
  const outHeaders = new Headers(response.headers);
  stripHopHeaders(outHeaders);
  return { ...response, headers: outHeaders };
}

// The statuses whose answer has no body (a Response refuses one for them), as HEAD's has none.
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

/** An answer relayed as it came: the client-facing edge, where the body becomes a Web Stream. */
async function passThrough(upstream: UpstreamResponse, method: string): Promise<Response> {
  const { status, headers } = upstream;
  if (method === 'HEAD' || NULL_BODY_STATUSES.has(status)) {
    await readAtMost(upstream.body, 0); // nothing to read: this frees the connection for reuse
    return new Response(null, { status, headers });
  }
  return new Response(toReadableStream(upstream.body), { status, headers });
}

async function encryptAnswer(
  upstream: UpstreamResponse,
  context: HpkeSenderContext,
  maxEventBytes: number,
): Promise<Response> {
  const type = upstream.headers.get('content-type') ?? '';
  const encoding = upstream.headers.get('content-encoding') ?? 'identity';
  if (encoding === 'identity' && type.startsWith('text/event-stream')) {
    // The proxy's own relay: a failure mid-stream is one error event and [DONE] (docs/http-api.md).
    const seal = chunkSealer(context);
    const body = relaySse(upstream.body, (data) => [seal(parseEventObject(data))], {
      keepAliveIntervalMs: KEEPALIVE_INTERVAL_MS,
      maxEventBytes,
    });
    return directResponse(body, { status: upstream.status, headers: upstream.headers });
  }
  if (encoding === 'identity' && type.startsWith('application/json')) {
    const body = await readAnswerJson(upstream.body);
    return new Response(JSON.stringify(encryptBody(body as object, context)), {
      status: upstream.status,
      headers: upstream.headers,
    });
  }
  // Anything else on a protected route could carry text we cannot find: never relay it in clear.
  await upstream.body.cancel();
  throw new UpstreamProtocolError(
    `The upstream answered a protected route with content-type "${type}"${encoding === 'identity' ? '' : ` and content-encoding "${encoding}"`}, which cannot be encrypted.`,
  );
}
