import { z, type Hook } from '@hono/zod-openapi';
import type { Env, MiddlewareHandler } from 'hono';
import type { HTTPException } from 'hono/http-exception';
import { ApiError, ClientClosedError, InvalidRequestError, PayloadTooLargeError } from '../errors/index.js';
import { readAtMost } from '../internal/read-at-most.js';

/** `messages.0.role` → `messages[0].role`: how OpenAI names a field in `error.param`. */
function paramName(path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (name, key) => (typeof key === 'number' ? `${name}[${key}]` : name ? `${name}.${String(key)}` : String(key)),
    '',
  );
}

/**
 * The first issue as the project's error: a body that is not an object, a refused parameter (a
 * custom issue naming its own `code`), or a field with a bad value, named in `param`.
 */
function toInvalidRequestError(issue: z.core.$ZodIssue): InvalidRequestError {
  const param = paramName(issue.path);
  if (param === '' && issue.code === 'invalid_type') {
    return new InvalidRequestError('The request body must be a JSON object.', { code: 'invalid_type' });
  }
  const code = ownCode(issue);
  if (code !== undefined) return new InvalidRequestError(issue.message, { param: param || null, code });
  const message = param ? `Invalid value for '${param}': ${issue.message}` : issue.message;
  return new InvalidRequestError(message, { param: param || null, code: 'invalid_value' });
}

/** The error code an issue names itself (a refused parameter's), if any: such issues are reported first. */
function ownCode(issue: z.core.$ZodIssue): string | undefined {
  return issue.code === 'custom' && typeof issue.params?.code === 'string' ? issue.params.code : undefined;
}

/**
 * The proxy app's `defaultHook`: every route's schema validation that fails becomes a thrown
 * InvalidRequestError, so the one error handler answers it in the OpenAI envelope.
 */
export const rejectInvalidRequest: Hook<unknown, Env, string, void> = (result) => {
  if (result.success) return;
  const { issues } = result.error;
  throw toInvalidRequestError(issues.find((issue) => ownCode(issue) !== undefined) ?? issues[0]!);
};

/**
 * Reads the request body, at most `maxBytes` (413 beyond, from the declared length when there is
 * one, before reading anything), for the route's validator to parse as JSON. A read that fails is
 * the client's connection breaking mid-upload: a closed request (499, logged at info), not our 500.
 */
export function boundedBody(maxBytes: number): MiddlewareHandler {
  return async function readBoundedBody(c, next) {
    const declared = c.req.header('content-length');
    if (declared !== undefined && Number(declared) > maxBytes) throw new PayloadTooLargeError(maxBytes);
    let body: Awaited<ReturnType<typeof readAtMost>>;
    try {
      body = await readBody(c.req.raw, declared !== undefined, maxBytes);
    } catch (err) {
      throw new ClientClosedError({ cause: err });
    }
    if (!body.complete) throw new PayloadTooLargeError(maxBytes);
    // Where HonoRequest looks before reading the body (`c.req.json()` awaits `bodyCache.text`): the
    // validator then parses what was read here. Its BodyCache type names the value, not the promise
    // it really holds (hono/dist/request.js, #cachedBody), hence Object.assign rather than `=`.
    Object.assign(c.req.bodyCache, { text: Promise.resolve(new TextDecoder().decode(body.bytes)) });
    // requireJsonContentType (content-type.ts) has let only application/json through, in any case and
    // with any parameters; zod-openapi's validators match a narrower spelling of it (415, or no
    // validation, otherwise), so the header is made to say exactly how the body is read.
    c.req.raw.headers.set('content-type', 'application/json');
    await next();
  };
}

/**
 * A body with a declared length is read whole: Node's HTTP parser ends it at that length, which is
 * at most `maxBytes` here, and @hono/node-server then reads it straight off the socket, where
 * `.body` would first build a WHATWG Request and stream (about 15% of the event loop's CPU per
 * request: npm run bench:per-request). A chunked body has no length to trust, so it is read as a stream, at most `maxBytes`.
 */
function readBody(request: Request, lengthDeclared: boolean, maxBytes: number): ReturnType<typeof readAtMost> {
  if (!lengthDeclared) return readAtMost(request.body, maxBytes);
  // In-process (app.request) nothing enforces the declared length: the bound still holds.
  return request
    .arrayBuffer()
    .then((buffer) => ({ bytes: new Uint8Array(buffer), complete: buffer.byteLength <= maxBytes }));
}

const NOT_JSON = 'We could not parse the JSON body of your request: it is not valid JSON.';

/**
 * An HTTPException of Hono's as the project's error. The one the routes can meet is the JSON
 * validator's 400 for a body that does not parse (its media-type gate's 415 cannot happen: see
 * boundedBody).
 */
export function fromHttpException(err: HTTPException): ApiError {
  if (err.status === 400) return new InvalidRequestError(NOT_JSON, { code: 'invalid_json' });
  const type = err.status < 500 ? 'invalid_request_error' : 'server_error';
  return new ApiError(err.status, type, err.message);
}

/** What OpenAI clients send to mean "not set": such a value of a refused parameter is accepted. */
const isUnset = (value: unknown): boolean => value === undefined || value === null || value === false;

export interface RefusedOptions {
  /** Why it is refused, when there is more to say than its name. */
  why?: string;
  /** A value that changes nothing (`best_of: 1`), accepted besides null and false. */
  harmless?: (value: unknown) => boolean;
  /** The /openapi.json description, when the default does not say what is accepted. */
  description?: string;
}

/**
 * A parameter the proxy cannot honour: refused by name (400 `unsupported_parameter`, reported
 * before any other issue) unless it is unset or harmless, with the reason when there is more to say.
 */
export function refused(name: string, options: RefusedOptions = {}) {
  const { why, harmless } = options;
  const reason = why === undefined ? '.' : `: ${why}.`;
  return z
    .unknown()
    .refine((value) => isUnset(value) || harmless?.(value) === true, {
      error: `'${name}' is not supported by sgt-proxy${reason}`,
      params: { code: 'unsupported_parameter' },
    })
    .optional()
    .openapi({
      description:
        options.description ??
        `Not supported${why === undefined ? '' : ` (${why})`}: refused (400 \`unsupported_parameter\`) unless null or false.`,
    });
}
