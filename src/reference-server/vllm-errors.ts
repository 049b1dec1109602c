/**
 * vLLM's error envelope, not the proxy's OpenAI one: the reference server stands in for vLLM, so
 * the proxy's upstream error mapping is tested against what vLLM really sends.
 *
 * Shape (vLLM >= 0.10, `ErrorResponse`/`ErrorInfo` in vllm/entrypoints/openai/engine/protocol.py):
 *   {"error": {"message": str, "type": str, "param": str | null, "code": int}}
 * `type` is "BadRequestError"/"NotFoundError"/"InternalServerError" for errors raised by the serving
 * layer (`OpenAIServing.create_error_response`), and the HTTP reason phrase ("Bad Request",
 * "Not Found") for errors from FastAPI's request validation and HTTPException handlers.
 */

export interface VllmErrorEnvelope {
  error: { message: string; type: string; param: string | null; code: number };
}

export class VllmError extends Error {
  readonly status: number;
  readonly type: string;
  readonly param: string | null;

  constructor(status: number, type: string, message: string, param: string | null = null, cause?: unknown) {
    super(message, { cause });
    this.name = 'VllmError';
    this.status = status;
    this.type = type;
    this.param = param;
  }

  toEnvelope(): VllmErrorEnvelope {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.status } };
  }
}

/** Python's reason phrases (3.12, the Python of vLLM's images) for the statuses this server sends. */
const REASON_PHRASES: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  404: 'Not Found',
  405: 'Method Not Allowed',
  413: 'Request Entity Too Large',
  500: 'Internal Server Error',
};

/** What FastAPI's HTTPException handler in vLLM sends: the type is the reason phrase. */
export function httpError(status: number, message: string): VllmError {
  return new VllmError(status, REASON_PHRASES[status] ?? 'Error', message);
}

/** A request that failed schema validation (vLLM answers these 400 "Bad Request", not 422). */
export function requestValidationError(message: string, param: string | null = null): VllmError {
  return new VllmError(400, 'Bad Request', message, param);
}

/** `create_error_response(message)` with its defaults: 400 BadRequestError. */
export function badRequest(message: string, param: string | null = null): VllmError {
  return new VllmError(400, 'BadRequestError', message, param);
}

/**
 * A `VLLMValidationError` turned into a response: its `__str__` appends the parameter and value,
 * e.g. "max_tokens must be at least 1, got 0. (parameter=max_tokens, value=0)".
 */
export function validationError(message: string, parameter: string, value?: unknown): VllmError {
  const extras = [`parameter=${parameter}`];
  if (value !== undefined && value !== null) extras.push(`value=${pythonRepr(value)}`);
  return badRequest(`${message} (${extras.join(', ')})`, parameter);
}

export function modelNotFound(model: string): VllmError {
  return new VllmError(404, 'NotFoundError', `The model \`${model}\` does not exist.`, 'model');
}

/** The body reveals nothing of the cause; the cause is kept for the log. */
export function internalError(cause?: unknown): VllmError {
  return new VllmError(500, 'InternalServerError', 'Internal server error', null, cause);
}

export function payloadTooLarge(limitBytes: number): VllmError {
  return httpError(413, `Request body is larger than the limit of ${limitBytes} bytes.`);
}

/** A number as Python prints the float a pydantic `float` field made of it ("-1.0", "0.5"). */
export function pythonFloat(value: number): string {
  return Number.isInteger(value) ? value.toFixed(1) : String(value);
}

/** A tensor shape as Python prints `tuple(tensor.shape)`: "(5,)", "(2, 3, 4)", "()". */
export function pythonShape(shape: readonly number[]): string {
  if (shape.length === 1) return `(${shape[0]},)`;
  return `(${shape.join(', ')})`;
}

function pythonRepr(value: unknown): string {
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  return String(value);
}
