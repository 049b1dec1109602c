import type { MiddlewareHandler } from 'hono';
import { REQUEST_ID_HEADER } from '../http/index.js';

/** `SGP_CORS_ORIGINS`: any origin, or these exact ones. */
export type CorsOrigins = '*' | readonly string[];

export interface CorsHeaderNames {
  /** The output-protection headers as configured (SG_CLIENT_/SG_SERVER_PUBLIC_KEY_HEADER_NAME). */
  clientKey: string;
  serverKey: string;
}

// What the openai SDK sends from a browser (`dangerouslyAllowBrowser`) besides the API's own headers:
// without them in the list its preflight fails before the proxy sees the request.
const OPENAI_SDK_HEADERS = [
  'openai-organization',
  'openai-project',
  'x-stainless-arch',
  'x-stainless-lang',
  'x-stainless-os',
  'x-stainless-package-version',
  'x-stainless-retry-count',
  'x-stainless-runtime',
  'x-stainless-runtime-version',
  'x-stainless-timeout',
];

const ALLOWED_METHODS = 'GET, POST';
// Long enough to spare a preflight per message in a chat, short enough for a changed list to take effect.
const PREFLIGHT_MAX_AGE_SECONDS = 600;

/** The request headers a page may send, and the response headers its script may read. */
export function corsHeaderLists(names: CorsHeaderNames): { allow: string[]; expose: string[] } {
  return {
    allow: ['authorization', 'content-type', REQUEST_ID_HEADER, names.clientKey, ...OPENAI_SDK_HEADERS],
    expose: [REQUEST_ID_HEADER, names.serverKey, 'retry-after'],
  };
}

/**
 * CORS for browsers calling the proxy from other origins. A preflight (`OPTIONS` with `Origin` and
 * `Access-Control-Request-Method`) is answered here, before authentication: browsers never send
 * credentials on one. Other requests run as usual and, from an allowed origin, get
 * `Access-Control-Allow-Origin` (error responses too, so the page can read the error) and the
 * exposed headers. No `Allow-Credentials`: the API key travels in `Authorization`, never a cookie.
 */
export function cors(origins: CorsOrigins, names: CorsHeaderNames): MiddlewareHandler {
  const lists = corsHeaderLists(names);
  const allowHeaders = lists.allow.join(', ');
  const exposeHeaders = lists.expose.join(', ');
  const listed = origins === '*' ? undefined : new Set(origins);
  const allowOrigin = (origin: string | undefined): string | undefined => {
    if (origin === undefined) return undefined;
    if (listed === undefined) return '*';
    return listed.has(origin) ? origin : undefined;
  };

  return async function corsMiddleware(c, next) {
    const allowed = allowOrigin(c.req.header('origin'));
    // The answer depends on Origin whenever the list is not `*`: caches must keep one copy per origin.
    const vary: Record<string, string> = listed === undefined ? {} : { vary: 'Origin' };
    if (c.req.method === 'OPTIONS' && c.req.header('origin') && c.req.header('access-control-request-method')) {
      const headers: Record<string, string> = { ...vary };
      if (allowed !== undefined) {
        headers['access-control-allow-origin'] = allowed;
        headers['access-control-allow-methods'] = ALLOWED_METHODS;
        headers['access-control-allow-headers'] = allowHeaders;
        headers['access-control-max-age'] = String(PREFLIGHT_MAX_AGE_SECONDS);
      }
      return c.body(null, 204, headers);
    }
    await next();
    if (vary.vary !== undefined) c.res.headers.append('vary', vary.vary);
    if (allowed === undefined) return;
    c.res.headers.set('access-control-allow-origin', allowed);
    c.res.headers.set('access-control-expose-headers', exposeHeaders);
  };
}
