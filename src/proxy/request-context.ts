import { randomUUID } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { Logger } from '../logging/index.js';

export interface RequestVariables {
  requestId: string;
  logger: Logger;
}

// A client's id is reused only when it is short and plain, so it cannot forge log lines or headers.
const USABLE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Request id (the client's `x-request-id` or a new one), a child logger, and one access log line. */
export function requestContext(logger: Logger): MiddlewareHandler<{ Variables: RequestVariables }> {
  return async function requestContextMiddleware(c, next) {
    const given = c.req.header('x-request-id');
    const requestId = given && USABLE_REQUEST_ID.test(given) ? given : randomUUID();
    const requestLogger = logger.child({ request_id: requestId });
    c.set('requestId', requestId);
    c.set('logger', requestLogger);
    const started = performance.now();
    await next();
    c.header('x-request-id', requestId);
    requestLogger.info(
      { method: c.req.method, path: c.req.path, status: c.res.status, duration_ms: Math.round(performance.now() - started) },
      'request',
    );
  };
}
