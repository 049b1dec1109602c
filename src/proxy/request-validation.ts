import type { z } from '@hono/zod-openapi';
import { InvalidRequestError } from '../errors/index.js';
import {
  UNSUPPORTED_PARAMETERS,
  chatCompletionRequestSchema,
  stainedGlassRequestSchema,
  type ChatCompletionRequest,
  type StainedGlassRequest,
} from './schemas.js';

/** `messages.0.role` → `messages[0].role`: how OpenAI names a field in `error.param`. */
function paramName(path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (name, key) => (typeof key === 'number' ? `${name}[${key}]` : name ? `${name}.${String(key)}` : String(key)),
    '',
  );
}

function describe(issue: z.core.$ZodIssue): string {
  const param = paramName(issue.path);
  return param ? `Invalid value for '${param}': ${issue.message}` : issue.message;
}

export function parseJsonBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new InvalidRequestError('We could not parse the JSON body of your request: it is not valid JSON.', {
      code: 'invalid_json',
    });
  }
}

function requireObject(body: unknown): asserts body is Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InvalidRequestError('The request body must be a JSON object.', { code: 'invalid_type' });
  }
}

function validate<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new InvalidRequestError(describe(issue), { param: paramName(issue.path) || null, code: 'invalid_value' });
  }
  return result.data;
}

export function validateStainedGlassRequest(body: unknown): StainedGlassRequest {
  requireObject(body);
  return validate(stainedGlassRequestSchema, body);
}

export function validateChatRequest(body: unknown): ChatCompletionRequest {
  requireObject(body);
  for (const name of UNSUPPORTED_PARAMETERS) {
    const value = body[name];
    if (value !== undefined && value !== null && value !== false) {
      throw new InvalidRequestError(`'${name}' is not supported by sgt-proxy.`, {
        param: name,
        code: 'unsupported_parameter',
      });
    }
  }
  return validate(chatCompletionRequestSchema, body);
}
