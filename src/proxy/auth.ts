import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { AuthenticationError } from '../errors/index.js';

/**
 * Clients must present `Authorization: Bearer <key>`. Both sides are hashed first so the
 * comparison takes the same time whatever the length or content of what the client sent.
 */
export function requireBearerKey(apiKey: string): MiddlewareHandler {
  const expected = createHash('sha256').update(apiKey).digest();
  return async function bearerKeyAuth(c, next) {
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    const given = createHash('sha256')
      .update(match?.[1]?.trim() ?? '')
      .digest();
    if (!match || !timingSafeEqual(given, expected)) throw new AuthenticationError();
    await next();
  };
}
