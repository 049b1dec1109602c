import { randomUUID } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import type { Logger } from 'pino';
import type { GenerationEnd } from './completion-output.js';

export const REQUEST_ID_HEADER = 'x-request-id';

/** Per-request state shared by the access-log middleware and the handlers. */
export interface RequestScope {
  requestId: string;
  startedAt: number;
  /** Set by a streaming handler: the access-log line waits for the end of the stream. */
  streamEnd?: Promise<GenerationEnd>;
  /** `performance.now()` when the first token's chunks went out (streams only). */
  firstTokenAt?: number;
}

// Keyed by the Context (one per request, the same object in every middleware) so that the app stays
// a plain `Hono` without typed context variables.
const scopes = new WeakMap<Context, RequestScope>();

/** The request id, if the access-log middleware has run (for error logging, which must not throw). */
export function requestIdOf(c: Context): string | undefined {
  return scopes.get(c)?.requestId;
}

export function scopeOf(c: Context): RequestScope {
  const scope = scopes.get(c);
  if (!scope) throw new Error('request scope missing: the access-log middleware must run first');
  return scope;
}

/**
 * Like vLLM with `--enable-request-id-headers`: the caller's `x-request-id` is kept (and names the
 * completion, `cmpl-<id>`), or one is made; either way it is echoed on the response.
 */
function requestIdFrom(header: string | undefined): string {
  const candidate = header?.trim();
  if (candidate && candidate.length <= 256 && /^[\x21-\x7e]+$/.test(candidate)) return candidate;
  return randomUUID().replaceAll('-', '');
}

/** Milliseconds, rounded to the microsecond. */
function roundMs(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/**
 * One log line per request: method, path, status, duration, request id — for a stream, when the
 * stream ends, with how it ended and `firstTokenMs` (arrival to first token, server-side). Never the
 * body or headers: prompt_embeds and credentials stay out. `receivedAt` is the arrival as epoch
 * milliseconds with sub-millisecond precision (`performance.timeOrigin` + `performance.now()`), so a
 * benchmark can line it up with timestamps taken by other processes on the same machine.
 */
export function accessLog(logger: Logger): MiddlewareHandler {
  return async function accessLogMiddleware(c, next) {
    const scope: RequestScope = { requestId: requestIdFrom(c.req.header(REQUEST_ID_HEADER)), startedAt: performance.now() };
    scopes.set(c, scope);
    await next();
    c.res.headers.set(REQUEST_ID_HEADER, scope.requestId);
    const line = {
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      requestId: scope.requestId,
      receivedAt: roundMs(performance.timeOrigin + scope.startedAt),
    };
    const durationMs = (): number => Math.round((performance.now() - scope.startedAt) * 10) / 10;
    if (scope.streamEnd) {
      void scope.streamEnd.then((end) => {
        const firstToken = scope.firstTokenAt === undefined ? {} : { firstTokenMs: roundMs(scope.firstTokenAt - scope.startedAt) };
        logger.info({ ...line, durationMs: durationMs(), ...firstToken, ...end }, 'request');
      });
    } else {
      logger.info({ ...line, durationMs: durationMs() }, 'request');
    }
  };
}
