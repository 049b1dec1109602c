import { DEFAULT_MAX_TOKENS, type CompletionRequest } from './completion-request.js';
import { MAX_LOGPROBS } from './logprobs.js';
import { badRequest, modelNotFound, pythonFloat, validationError, type VllmError } from './vllm-errors.js';

/**
 * The checks vLLM's serving layer runs after the schema, in its order: model, the features prompt
 * embeddings exclude, the output budget against `max_model_len`, then (after the prompts are loaded)
 * the context length, `SamplingParams._verify_args` and the engine's input checks.
 */

/** vLLM serves a request without `model` with its only model. */
export function checkModel(request: Pick<CompletionRequest, 'model'>, servedModel: string): void {
  if (request.model && request.model !== servedModel) throw modelNotFound(request.model);
}

/**
 * The features this request asks for that its prompts exclude (vLLM's messages), or that this
 * server does not do. `textOnlyProtection`: the answer will be encrypted with wire format v1, which
 * has no field for logprobs tokens.
 */
export function checkPromptFeatures(request: CompletionRequest, textOnlyProtection: boolean): void {
  const failure = unsupportedWithEmbeds(request) ?? notDoneHere(request, textOnlyProtection);
  if (failure) throw failure;
}

function hasEmbeds(request: CompletionRequest): boolean {
  const embeds = request.prompt_embeds;
  return embeds != null && !(Array.isArray(embeds) && embeds.length === 0);
}

/** vLLM's messages for the features it rejects with prompt embeddings. */
function unsupportedWithEmbeds(request: CompletionRequest): VllmError | undefined {
  if (request.suffix != null) return badRequest('suffix is not currently supported');
  if (!hasEmbeds(request)) return undefined;
  if (request.echo) return badRequest('Echo is unsupported with prompt embeds.');
  if (request.prompt_logprobs != null) return badRequest('prompt_logprobs is not compatible with prompt embeds.');
  return undefined;
}

/** Not vLLM, which does these: this server refuses rather than answer something that is not what was asked. */
function notDoneHere(request: CompletionRequest, textOnlyProtection: boolean): VllmError | undefined {
  if (request.echo) {
    return badRequest('The reference server does not echo prompts; leave `echo` out.', 'echo');
  }
  if (request.prompt_logprobs != null) {
    return badRequest(
      'The reference server does not compute prompt logprobs; leave `prompt_logprobs` out.',
      'prompt_logprobs',
    );
  }
  if (request.logprobs != null && textOnlyProtection) {
    return badRequest(
      '`logprobs` cannot be sent with output protection wire format v1: v1 encrypts only the text, and their ' +
        'tokens would go out in plaintext (docs/output-protection.md). Ask for v2 (header x-output-protection-version: 2), ' +
        'or leave `logprobs` out.',
      'logprobs',
    );
  }
  return undefined;
}

/** `max_tokens` with vLLM's default for an absent or null value. */
export function requestedMaxTokens(request: CompletionRequest): number {
  return request.max_tokens ?? DEFAULT_MAX_TOKENS;
}

/** `TokenizeParams.__post_init__`: the output budget alone may not exceed the context. */
export function checkOutputBudget(maxTokens: number, maxModelLen: number): void {
  if (maxTokens > maxModelLen) {
    throw validationError(
      `max_tokens=${maxTokens} cannot be greater than max_model_len=${maxModelLen}. Please request fewer output tokens.`,
      'max_tokens',
      maxTokens,
    );
  }
}

/** `TokenizeParams._token_len_check`, applied to the rows of `prompt_embeds`. */
export function checkContextLength(promptTokens: number, maxTokens: number, maxModelLen: number): void {
  const maxInputTokens = maxModelLen - maxTokens;
  if (promptTokens > maxInputTokens) {
    throw validationError(
      `You passed ${promptTokens} input tokens and requested ${maxTokens} output tokens. ` +
        `However, the model's context length is only ${maxModelLen} tokens, resulting in a maximum ` +
        `input length of ${maxInputTokens} tokens. Please reduce the length of the input prompt.`,
      'input_tokens',
      promptTokens,
    );
  }
}

export type SamplingFields = Pick<
  CompletionRequest,
  'n' | 'presence_penalty' | 'frequency_penalty' | 'temperature' | 'top_p' | 'stop'
>;

/** `SamplingParams._verify_args`, for the parameters a completion or chat request can set. */
export function checkSamplingParams(request: SamplingFields, maxTokens: number): void {
  const n = request.n ?? 1;
  if (n < 1) throw validationError(`n must be at least 1, got ${n}.`, 'n', n);
  checkPenalty('presence_penalty', request.presence_penalty);
  checkPenalty('frequency_penalty', request.frequency_penalty);
  const temperature = request.temperature;
  if (temperature != null && temperature < 0) {
    const shown = pythonFloat(temperature);
    throw validationError(`temperature must be non-negative, got ${shown}.`, 'temperature', shown);
  }
  const topP = request.top_p;
  if (topP != null && !(topP > 0 && topP <= 1)) {
    const shown = pythonFloat(topP);
    throw validationError(`top_p must be in (0, 1], got ${shown}.`, 'top_p', shown);
  }
  if (maxTokens < 1) throw validationError(`max_tokens must be at least 1, got ${maxTokens}.`, 'max_tokens', maxTokens);
  if (stopStrings(request).includes('')) throw badRequest('stop cannot contain an empty string.', 'stop');
}

/** `stop` as the list vLLM's `SamplingParams` makes of it. */
export function stopStrings(request: Pick<CompletionRequest, 'stop'>): string[] {
  const stop = request.stop;
  return stop == null ? [] : typeof stop === 'string' ? [stop] : stop;
}

/** `SamplingParams._validate_logprobs`: at most `--max-logprobs` (20); -1 means the whole vocabulary. */
export function checkLogprobsLimit(request: Pick<CompletionRequest, 'logprobs'>, vocabSize: number): void {
  const requested = request.logprobs === -1 ? vocabSize : request.logprobs;
  if (requested != null && requested > MAX_LOGPROBS) {
    throw validationError(
      `Requested sample logprobs of ${requested}, which is greater than max allowed: ${MAX_LOGPROBS}`,
      'logprobs',
      requested,
    );
  }
}

function checkPenalty(name: 'presence_penalty' | 'frequency_penalty', value: number | null | undefined): void {
  if (value != null && !(value >= -2 && value <= 2)) {
    const shown = pythonFloat(value);
    throw validationError(`${name} must be in [-2, 2], got ${shown}.`, name, shown);
  }
}
