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
  // `include_stop_str_in_output: bool = False` in vLLM: null is a type error there too.
  include_stop_str_in_output: z.boolean().optional(),
  stream: z.boolean().nullish(),
  stream_options: z
    .looseObject({ include_usage: z.boolean().nullish(), continuous_usage_stats: z.boolean().nullish() })
    .nullish(),
  temperature: z.number().nullish(),
  top_p: z.number().nullish(),
  user: z.string().nullish(),
};

type SharedFields = z.infer<z.ZodObject<typeof sharedRequestFields>>;

/**
 * Usage in a stream, as vLLM's serving code decides it (completions and chat alike): only when
 * streaming with `stream_options`; `include_usage` defaults to true there; `continuous_usage_stats`
 * adds usage to every chunk.
 */
export function usageReporting(request: Pick<SharedFields, 'stream' | 'stream_options'>): {
  include: boolean;
  continuous: boolean;
} {
  const options = request.stream_options;
  if (!request.stream || options == null) return { include: false, continuous: false };
  const include = options.include_usage === undefined ? true : options.include_usage === true;
  return { include, continuous: include && options.continuous_usage_stats === true };
}

/** A schema failure as vLLM's RequestValidationError handler reports it (400). */
export function schemaError(error: z.ZodError): VllmError {
  const messages = error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`);
  const first = error.issues[0]?.path[0];
  return requestValidationError(messages.join('; '), typeof first === 'string' ? first : null);
}
