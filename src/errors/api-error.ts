/**
 * One error hierarchy for the whole package. Every error that reaches a client is an ApiError,
 * serialised into the OpenAI envelope by `toErrorEnvelope` (the only place that builds one).
 */

export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'not_found_error'
  | 'overloaded_error'
  | 'upstream_error'
  | 'server_error';

export interface ApiErrorOptions {
  param?: string | null;
  code?: string | null;
  cause?: unknown;
}

export class ApiError extends Error {
  readonly status: number;
  readonly type: ErrorType;
  readonly param: string | null;
  readonly code: string | null;

  constructor(status: number, type: ErrorType, message: string, options: ApiErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = new.target.name;
    this.status = status;
    this.type = type;
    this.param = options.param ?? null;
    this.code = options.code ?? null;
  }
}

export class InvalidRequestError extends ApiError {
  constructor(message: string, options: ApiErrorOptions = {}) {
    super(400, 'invalid_request_error', message, options);
  }
}

export class PayloadTooLargeError extends ApiError {
  constructor(limitBytes: number) {
    super(413, 'invalid_request_error', `Request body is larger than the limit of ${limitBytes} bytes.`, {
      code: 'request_too_large',
    });
  }
}

/**
 * A JSON route got a body of another media type. Browsers send `text/plain`, form and multipart
 * bodies (and bodies with no type) cross-origin without a CORS preflight, so accepting them would
 * let any web page drive requests through the proxy.
 */
export class UnsupportedMediaTypeError extends ApiError {
  constructor(message: string) {
    super(415, 'invalid_request_error', message, { code: 'unsupported_media_type' });
  }
}

export class AuthenticationError extends ApiError {
  constructor(message = 'Invalid or missing API key. Send it as "Authorization: Bearer <key>".') {
    super(401, 'authentication_error', message, { code: 'invalid_api_key' });
  }
}

export class NotFoundError extends ApiError {
  constructor(message: string, options: ApiErrorOptions = {}) {
    super(404, 'not_found_error', message, options);
  }
}

export class OverloadedError extends ApiError {
  readonly retryAfterSeconds: number;
  constructor(message: string, retryAfterSeconds: number) {
    super(503, 'overloaded_error', message, { code: 'overloaded' });
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** The upstream could not be reached or broke the connection. */
export class UpstreamUnavailableError extends ApiError {
  constructor(message: string, options: ApiErrorOptions = {}) {
    super(502, 'upstream_error', message, { code: 'upstream_unavailable', ...options });
  }
}

export class UpstreamTimeoutError extends ApiError {
  constructor(message: string, options: ApiErrorOptions = {}) {
    super(504, 'upstream_error', message, { code: 'upstream_timeout', ...options });
  }
}

/**
 * The upstream answered with an error status; we report the same status and its message, and
 * relay its `Retry-After` (a 429 or 503 that says when to come back).
 */
export class UpstreamHttpError extends ApiError {
  readonly retryAfter: string | undefined;
  /** The status the upstream answered with, where it answered one (its 500 is our 502): what decides a retry. */
  readonly upstreamStatus: number | undefined;
  constructor(
    status: number,
    message: string,
    options: ApiErrorOptions & { retryAfter?: string | undefined; upstreamStatus?: number } = {},
  ) {
    const type: ErrorType = status < 500 ? 'invalid_request_error' : 'upstream_error';
    super(status, type, message, options);
    this.retryAfter = options.retryAfter;
    this.upstreamStatus = options.upstreamStatus;
  }
}

/** The upstream answered 200 but with something we cannot use (bad JSON, truncated stream). */
export class UpstreamProtocolError extends ApiError {
  constructor(message: string, options: ApiErrorOptions = {}) {
    super(502, 'upstream_error', message, { code: 'upstream_protocol_error', ...options });
  }
}

/**
 * The upstream's answer stopped before its end: a stream without `[DONE]`. Its own class (same
 * code for the client) so that telemetry can tell a cut answer from a malformed one.
 */
export class UpstreamTruncatedError extends UpstreamProtocolError {}

/** The client went away; nobody reads this, but logs should say so rather than call it a failure. */
export class ClientClosedError extends ApiError {
  constructor(options: { cause?: unknown } = {}) {
    super(499, 'invalid_request_error', 'The client closed the request.', {
      code: 'client_closed_request',
      ...options,
    });
  }
}

export class InternalError extends ApiError {
  constructor(message = 'Internal server error.', options: ApiErrorOptions = {}) {
    super(500, 'server_error', message, options);
  }
}

export interface ErrorEnvelope {
  error: { message: string; type: ErrorType; param: string | null; code: string | null };
}

/** Anything that is not an ApiError becomes a 500 whose body reveals nothing about the cause. */
export function toApiError(err: unknown): ApiError {
  return err instanceof ApiError ? err : new InternalError(undefined, { cause: err });
}

export function toErrorEnvelope(err: ApiError): ErrorEnvelope {
  return { error: { message: err.message, type: err.type, param: err.param, code: err.code } };
}

/**
 * The error as an HTTP response: its envelope with its own status. `Response.json` takes any status
 * number, so no server needs to cast an ApiError's status to the literal union Hono's `c.json` types.
 */
export function toErrorResponse(err: ApiError, headers?: Record<string, string>): Response {
  return Response.json(toErrorEnvelope(err), { status: err.status, headers });
}
