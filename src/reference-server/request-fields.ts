import { z } from 'zod';
import { requestValidationError, type VllmError } from './vllm-errors.js';

const INT64_MIN = -(2 ** 63);
const INT64_MAX = 2 ** 63 - 1;

/** The sampling and streaming fields vLLM's completion and chat requests type the same way. */
export const sharedRequestFields = {
  model: z.string().nullish(),
  frequency_penalty: z.number().nullish(),
  max_tokens: z.number().int().nullish(),
  // `n: int = 1` in vLLM: null is a type error there too.
  n: z.number().int().optional(),
  presence_penalty: z.number().nullish(),
  seed: z.number().int().min(INT64_MIN).max(INT64_MAX).nullish(),
  stop: z.union([z.string(), z.array(z.string())]).nullish(),
  stream: z.boolean().nullish(),
  stream_options: z
    .looseObject({ include_usage: z.boolean().nullish(), continuous_usage_stats: z.boolean().nullish() })
    .nullish(),
  temperature: z.number().nullish(),
  top_p: z.number().nullish(),
  user: z.string().nullish(),
};

/** A schema failure as vLLM's RequestValidationError handler reports it (400). */
export function schemaError(error: z.ZodError): VllmError {
  const messages = error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`);
  const first = error.issues[0]?.path[0];
  return requestValidationError(messages.join('; '), typeof first === 'string' ? first : null);
}
