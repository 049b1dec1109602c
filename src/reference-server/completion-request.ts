import { z } from 'zod';
import { schemaError, sharedRequestFields } from './request-fields.js';
import { requestValidationError, type VllmError } from './vllm-errors.js';

/**
 * The `POST /v1/completions` body, as vLLM's `CompletionRequest` (pydantic) types it. Unknown
 * fields are accepted and ignored, like vLLM (`extra="allow"`). Only the fields this server reads
 * or must reject are listed.
 */
const tokenIds = z.array(z.number().int().nonnegative());

export const completionRequestSchema = z.looseObject({
  ...sharedRequestFields,
  prompt: z.union([z.string(), z.array(z.string()), tokenIds, z.array(tokenIds)]).nullish(),
  prompt_embeds: z.union([z.string(), z.array(z.string())]).nullish(),
  echo: z.boolean().nullish(),
  logprobs: z.number().int().nullish(),
  // (max_tokens: vLLM turns an explicit null into its default of 16.)
  suffix: z.string().nullish(),
  prompt_logprobs: z.number().int().nullish(),
});

export type CompletionRequest = z.infer<typeof completionRequestSchema>;

/** vLLM's default `max_tokens` for completions. */
export const DEFAULT_MAX_TOKENS = 16;

/** Parses the JSON body; failures are what vLLM's RequestValidationError handler sends (400). */
export function parseCompletionRequest(body: unknown): CompletionRequest {
  const result = completionRequestSchema.safeParse(body);
  if (!result.success) throw schemaError(result.error);
  const request = result.data;
  const failure = modelValidatorFailure(request);
  if (failure) throw failure;
  return request;
}

/** The `@model_validator(mode="before")` checks of vLLM's CompletionRequest, in its order. */
function modelValidatorFailure(request: CompletionRequest): VllmError | undefined {
  return checkLogprobs(request) ?? checkStreamOptions(request) ?? checkPromptPresent(request);
}

function checkLogprobs(request: CompletionRequest): VllmError | undefined {
  const promptLogprobs = request.prompt_logprobs;
  if (promptLogprobs != null) {
    if (request.stream && (promptLogprobs > 0 || promptLogprobs === -1)) {
      return validatorError('`prompt_logprobs` are not available when `stream=True`.', 'prompt_logprobs');
    }
    if (promptLogprobs < -1) {
      return validatorError('`prompt_logprobs` must be a positive value or -1.', 'prompt_logprobs', promptLogprobs);
    }
  }
  if (request.logprobs != null && request.logprobs < -1) {
    return validatorError('`logprobs` must be a positive value or -1.', 'logprobs', request.logprobs);
  }
  return undefined;
}

function checkStreamOptions(request: CompletionRequest): VllmError | undefined {
  // Python truthiness: vLLM lets an empty `stream_options: {}` through without `stream`.
  const options = request.stream_options;
  const given = options != null && Object.keys(options).length > 0;
  if (given && !request.stream) {
    return validatorError('Stream options can only be defined when `stream=True`.', 'stream_options');
  }
  return undefined;
}

function checkPromptPresent(request: CompletionRequest): VllmError | undefined {
  const promptEmpty = request.prompt == null || request.prompt === '';
  const embeds = request.prompt_embeds;
  const embedsEmpty = embeds == null || (Array.isArray(embeds) && embeds.length === 0);
  if (promptEmpty && embedsEmpty) {
    return validatorError('Either prompt or prompt_embeds must be provided and non-empty.', 'prompt');
  }
  return undefined;
}

function validatorError(message: string, parameter: string, value?: number): VllmError {
  const extras = value === undefined ? `parameter=${parameter}` : `parameter=${parameter}, value=${value}`;
  return requestValidationError(`${message} (${extras})`, parameter);
}
