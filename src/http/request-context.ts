/**
 * One request context for every server of the package (the proxy, the reference server, the
 * `protect` gateway): one request-id rule, one child logger, one access-log line.
 */
import { randomUUID } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import type { Logger } from 'pino';

export const REQUEST_ID_HEADER = 'x-request-id';

// A client's id is reused only when it is short and plain, so it cannot forge log lines or headers.
const USABLE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The client's `x-request-id` when it is usable, else undefined. */
export function usableRequestId(header: string | null | undefined): string | undefined {
  const candidate = header?.trim();
  return candidate !== undefined && USABLE_REQUEST_ID.test(candidate) ? candidate : undefined;
}

/** A new request id: 32 hex digits, the form vLLM's own ids take (`cmpl-<id>`). */
export function newRequestId(): string {
  return randomUUID().replaceAll('-', '');
}

export interface RequestContext {
  readonly requestId: string;
  /** A child logger with `request_id`. */
  readonly logger: Logger;
  /** `performance.now()` at arrival. */
  readonly startedAt: number;
  /** Set by a streaming handler: the access line waits for the stream's end and adds these fields. */
  streamEnd?: Promise<Record<string, unknown>>;
  /** `performance.now()` when the first token went out (streams only). */
  firstTokenAt?: number;
}

// Keyed by the Request, the one object every app that sees the request shares (nested apps have
// their own Context), so that apps stay plain `Hono` without typed context variables.
const contexts = new WeakMap<Request, RequestContext>();

/** The context of a request the middleware has seen. */
export function requestContextOf(c: Context): RequestContext {
  const context = contexts.get(c.req.raw);
  if (!context) throw new Error('request context missing: the requestContext middleware must run first');
  return context;
}

/** The same, for code that must not throw (error handlers). */
export function findRequestContext(c: Context): RequestContext | undefined {
  return contexts.get(c.req.raw);
}

/** Milliseconds, rounded to the microsecond. */
function roundMs(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/**
 * The request id (the client's usable `x-request-id`, or a new one), echoed on the response; a child
 * logger; and one access line per request: method, path, status, duration and `received_at` (epoch
 * milliseconds with sub-millisecond precision, so a benchmark can line it up with other processes'
 * clocks). For a stream that registered its end, the line waits for it and carries how it ended and
 * `first_token_ms`. Never a body or a header value: prompts, embeddings and credentials stay out.
 */
export function requestContext(logger: Logger): MiddlewareHandler {
  return async function requestContextMiddleware(c, next) {
    const requestId = usableRequestId(c.req.header(REQUEST_ID_HEADER)) ?? newRequestId();
    const context: RequestContext = {
      requestId,
      logger: logger.child({ request_id: requestId }),
      startedAt: performance.now(),
    };
    contexts.set(c.req.raw, context);
    await next();
    c.res.headers.set(REQUEST_ID_HEADER, requestId);
    const line = {
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      received_at: roundMs(performance.timeOrigin + context.startedAt),
    };
    const duration = (): { duration_ms: number } => ({
      duration_ms: Math.round((performance.now() - context.startedAt) * 10) / 10,
    });
    if (context.streamEnd === undefined) {
      context.logger.info({ ...line, ...duration() }, 'request');
      return;
    }
    void context.streamEnd.then((end) => {
      const firstToken =
        context.firstTokenAt === undefined ? {} : { first_token_ms: roundMs(context.firstTokenAt - context.startedAt) };
      context.logger.info({ ...line, ...duration(), ...firstToken, ...end }, 'request');
    });
  };
}
