/**
 * The server side of output protection: the product's `UserPublicKeyMiddleware` and
 * `inject_middleware`, for Hono. Per protected request it reads the client's public key, runs
 * SetupBaseS, registers the sender context under the request id for exactly the life of the
 * response, and returns `enc` in the server key header. Encrypting is left to whoever produces the
 * text (a handler, a pipeline stage): they find the context with `getOutputProtection(c)`.
 */
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { toErrorResponse } from '../errors/index.js';
import { InvalidPublicKeyError } from './errors.js';
import { setupBaseS, type HpkeSenderContext } from './hpke/index.js';
import { outputProtectionRegistry, OutputProtectionRegistry, type Registration } from './registry.js';
import {
  DEFAULT_CLIENT_PUBLIC_KEY_HEADER,
  DEFAULT_SERVER_PUBLIC_KEY_HEADER,
  OUTPUT_PROTECTION_INFO,
  encodeBase64,
  parseClientPublicKey,
} from './wire.js';
import { HTTP_TOKEN } from '../internal/http-token.js';
import { relayBody } from '../internal/relay-body.js';
import { REQUEST_ID_HEADER, usableRequestId } from '../http/index.js';

/**
 * - `required`: a protected route without a client key is a 400 naming the header.
 * - `optional`: with a key the output is encrypted, without one it is plaintext (no server key header).
 * - `off`: the middleware does nothing; a client key header is ignored.
 * A malformed key is a 400 in both `required` and `optional`: silently answering in plaintext a
 * client that asked for encryption would be worse than failing.
 */
export type OutputProtectionMode = 'required' | 'optional' | 'off';

export interface ProtectedRoute {
  /** HTTP method, e.g. `POST` (matched case-insensitively). */
  method: string;
  /** Exact request path, e.g. `/v1/completions` (no patterns, no trailing-slash folding). */
  path: string;
}

/** The routes that generate text: vLLM's completions and chat completions. */
export const DEFAULT_PROTECTED_ROUTES: readonly ProtectedRoute[] = Object.freeze([
  Object.freeze({ method: 'POST', path: '/v1/completions' }),
  Object.freeze({ method: 'POST', path: '/v1/chat/completions' }),
]);

export interface UserPublicKeyMiddlewareOptions {
  mode: OutputProtectionMode;
  /** Default `x-client-public-key` (SG_CLIENT_PUBLIC_KEY_HEADER_NAME). */
  clientKeyHeader?: string;
  /** Default `x-server-public-key` (SG_SERVER_PUBLIC_KEY_HEADER_NAME). */
  serverKeyHeader?: string;
  /** Default: the process-wide `outputProtectionRegistry`. */
  registry?: OutputProtectionRegistry;
  /** Default: `DEFAULT_PROTECTED_ROUTES`. Requests to other routes pass through untouched. */
  routes?: readonly ProtectedRoute[];
}

/** What a protected request's handler needs to encrypt its output. */
export interface OutputProtection {
  /** The registry key (the request's `x-request-id` if usable and free, else a fresh id). */
  requestId: string;
  /** Seals the response's protected texts, in emission order. */
  context: HpkeSenderContext;
  /** `base64(enc)`, the value of the server key header. */
  serverPublicKey: string;
}

export interface OutputProtectionVariables {
  /** Set on protected requests only. */
  outputProtection?: OutputProtection;
}

export type OutputProtectionEnv = { Variables: OutputProtectionVariables };

const METHOD = /^[A-Za-z]+$/;
const MODES: readonly OutputProtectionMode[] = ['required', 'optional', 'off'];

interface ValidatedOptions {
  mode: OutputProtectionMode;
  clientKeyHeader: string;
  serverKeyHeader: string;
  registry: OutputProtectionRegistry;
  routes: ReadonlySet<string>;
}

const routeKey = (method: string, path: string): string => `${method.toUpperCase()} ${path}`;

function validateOptions(options: UserPublicKeyMiddlewareOptions): ValidatedOptions {
  const fail = (message: string): never => {
    throw new TypeError(`userPublicKeyMiddleware: ${message}`);
  };
  if (typeof options !== 'object' || options === null)
    fail('options are required ({ mode: "required" | "optional" | "off", ... })');
  if (!MODES.includes(options.mode))
    fail(`mode must be one of ${MODES.join(', ')}, got ${JSON.stringify(options.mode)}`);
  const headerName = (value: string | undefined, fallback: string, option: string): string => {
    const name = value ?? fallback;
    if (typeof name !== 'string' || !HTTP_TOKEN.test(name))
      fail(`${option} must be an HTTP header name, got ${JSON.stringify(name)}`);
    return name.toLowerCase();
  };
  const clientKeyHeader = headerName(options.clientKeyHeader, DEFAULT_CLIENT_PUBLIC_KEY_HEADER, 'clientKeyHeader');
  const serverKeyHeader = headerName(options.serverKeyHeader, DEFAULT_SERVER_PUBLIC_KEY_HEADER, 'serverKeyHeader');
  if (clientKeyHeader === serverKeyHeader)
    fail(`clientKeyHeader and serverKeyHeader must differ, both are ${clientKeyHeader}`);
  const registry = options.registry ?? outputProtectionRegistry;
  if (!(registry instanceof OutputProtectionRegistry)) fail('registry must be an OutputProtectionRegistry');
  const routes = options.routes ?? DEFAULT_PROTECTED_ROUTES;
  if (!Array.isArray(routes)) fail('routes must be an array of { method, path }');
  const keys = new Set<string>();
  for (const route of routes) {
    const ok =
      typeof route === 'object' &&
      route !== null &&
      typeof route.method === 'string' &&
      METHOD.test(route.method) &&
      typeof route.path === 'string' &&
      route.path.startsWith('/');
    if (!ok) fail(`each route must be { method: "POST", path: "/..." }, got ${JSON.stringify(route)}`);
    keys.add(routeKey(route.method, route.path));
  }
  return { mode: options.mode, clientKeyHeader, serverKeyHeader, registry, routes: keys };
}

// Also keyed by the Request object, which no client can forge (unlike a request-id header): how a
// handler of an app wrapped by `injectMiddleware` (another Hono app, another Context) finds it.
const protectedRequests = new WeakMap<Request, OutputProtection>();

/** The output protection of this request, or `undefined` when its output goes out in plaintext. */
export function getOutputProtection(c: Context): OutputProtection | undefined {
  return (c.get('outputProtection') as OutputProtection | undefined) ?? protectedRequests.get(c.req.raw);
}

/**
 * The body, passed through unchanged, calling `release` exactly when it ends: read to the end,
 * failed, or cancelled (a client abort: the server cancels the body it was writing).
 */
function releasingBody(body: ReadableStream<Uint8Array>, release: () => void): ReadableStream<Uint8Array> {
  return relayBody(body, { onSettled: release });
}

function protectedResponse(response: Response, headerName: string, headerValue: string, release: () => void): Response {
  const headers = new Headers(response.headers);
  headers.set(headerName, headerValue);
  const init = { status: response.status, statusText: response.statusText, headers };
  if (!response.body) {
    release();
    return new Response(null, init);
  }
  return new Response(releasingBody(response.body, release), init);
}

/**
 * `UserPublicKeyMiddleware`: options are checked here, once, so a bad value fails at start-up.
 * Register it before the routes it protects (`app.use(...)` first), or use `injectMiddleware`.
 */
export function userPublicKeyMiddleware(
  options: UserPublicKeyMiddlewareOptions,
): MiddlewareHandler<OutputProtectionEnv> {
  const { mode, clientKeyHeader, serverKeyHeader, registry, routes } = validateOptions(options);

  return async function userPublicKeyMiddleware(c, next) {
    if (mode === 'off' || !routes.has(routeKey(c.req.method, c.req.path))) return next();
    const headerValue = c.req.header(clientKeyHeader);
    if (headerValue === undefined && mode === 'optional') return next();

    let setup: ReturnType<typeof setupBaseS>;
    try {
      setup = setupBaseS(parseClientPublicKey(headerValue, clientKeyHeader), OUTPUT_PROTECTION_INFO);
    } catch (err) {
      if (!(err instanceof InvalidPublicKeyError)) throw err;
      // parseClientPublicKey names the header already; a low-order point is only found by Encap.
      const named =
        err.param === clientKeyHeader
          ? err
          : new InvalidPublicKeyError(`Invalid ${clientKeyHeader} header: ${err.message}`, {
              param: clientKeyHeader,
              code: 'invalid_client_public_key',
              cause: err,
            });
      // Answered here rather than thrown: the app behind the middleware may have an error handler that
      // knows nothing of ApiError (the reference server turns any foreign error into a 500), and a bad
      // key header must be a 400 whatever the app.
      return toErrorResponse(named);
    }

    const registration: Registration = registry.register(
      usableRequestId(c.req.header(REQUEST_ID_HEADER)),
      setup.context,
    );
    const protection: OutputProtection = {
      requestId: registration.requestId,
      context: setup.context,
      serverPublicKey: encodeBase64(setup.enc),
    };
    c.set('outputProtection', protection);
    protectedRequests.set(c.req.raw, protection);
    try {
      await next();
    } catch (err) {
      registration.release(); // an error no handler turned into a response: there is no body to wait for
      throw err;
    }
    c.res = protectedResponse(c.res, serverKeyHeader, protection.serverPublicKey, registration.release);
  };
}

/** Anything with Hono's `fetch` (a Hono, an OpenAPIHono). */
export interface FetchApp {
  fetch(request: Request, env?: unknown, executionCtx?: never): Response | Promise<Response>;
}

/**
 * The request the wrapped app sees: the same one, or — when the registry key differs from its
 * `x-request-id` — a copy carrying the key, so the app's logs and ids agree with the registry.
 */
function forwardedRequest(c: Context, protection: OutputProtection | undefined): Request {
  const raw = c.req.raw;
  if (!protection || raw.headers.get(REQUEST_ID_HEADER) === protection.requestId) return raw;
  const headers = new Headers(raw.headers);
  headers.set(REQUEST_ID_HEADER, protection.requestId);
  const request = new Request(raw, { headers });
  protectedRequests.set(request, protection);
  return request;
}

/**
 * `inject_middleware`: wraps an app factory so that every app it builds sits behind the
 * middleware, with the factory's own signature. Hono runs middleware in registration order, so it
 * cannot be added to a built app in front of its routes; the app is mounted behind an outer one
 * instead, which keeps its own error and not-found handling. Handlers find the context with
 * `getOutputProtection(c)`. The default mode is `required`, as the product's middleware.
 */
export function injectMiddleware<A extends unknown[]>(
  buildApp: (...args: A) => FetchApp,
  options: UserPublicKeyMiddlewareOptions = { mode: 'required' },
): (...args: A) => Hono<OutputProtectionEnv> {
  const middleware = userPublicKeyMiddleware(options); // validated now, not on the first request
  return function buildProtectedApp(...args: A): Hono<OutputProtectionEnv> {
    const inner = buildApp(...args);
    const outer = new Hono<OutputProtectionEnv>();
    outer.use('*', middleware);
    outer.all('*', (c) =>
      inner.fetch(forwardedRequest(c, c.get('outputProtection')), c.env, executionContextOf(c) as never),
    );
    return outer;
  };
}

function executionContextOf(c: Context): unknown {
  try {
    return c.executionCtx;
  } catch {
    return undefined; // Node has none; Hono's getter throws instead of answering undefined
  }
}
