import { DEFAULT_MAX_TOKENS, type CompletionRequest } from './completion-request.js';
import { badRequest, modelNotFound, pythonFloat, validationError, type VllmError } from './vllm-errors.js';

/**
 * The checks vLLM's serving layer runs after the schema, in its order: model, the features prompt
 * embeddings exclude, the output budget against `max_model_len`, then (after the prompt is loaded)
 * the context length and `SamplingParams._verify_args`.
 */

/** vLLM serves a request without `model` with its only model. */
export function checkModel(request: Pick<CompletionRequest, 'model'>, servedModel: string): void {
  if (request.model && request.model !== servedModel) throw modelNotFound(request.model);
}

/** The one `prompt_embeds` string of the request, or the reason it cannot be served. */
export function embedsOnlyPrompt(request: CompletionRequest): string {
  const failure = promptFailure(request) ?? unsupportedWithEmbeds(request);
  if (failure) throw failure;
  const embeds = request.prompt_embeds;
  // parseCompletionRequest guarantees a non-empty value; promptFailure rejects lists of more than one.
  return typeof embeds === 'string' ? embeds : (embeds?.[0] ?? '');
}

function promptFailure(request: CompletionRequest): VllmError | undefined {
  const prompt = request.prompt;
  // Not vLLM: it also takes text and token prompts, but this server has no model to read them with.
  if (prompt != null && prompt !== '' && !(Array.isArray(prompt) && prompt.length === 0)) {
    return badRequest('The reference server serves `prompt_embeds` only; leave `prompt` out or empty.', 'prompt');
  }
  const embeds = request.prompt_embeds;
  if (Array.isArray(embeds) && embeds.length > 1) {
    return badRequest(
      `The reference server takes one \`prompt_embeds\` tensor per request; got ${embeds.length}.`,
      'prompt_embeds',
    );
  }
  return undefined;
}

/** vLLM's messages for the features it rejects with prompt embeddings. */
function unsupportedWithEmbeds(request: CompletionRequest): VllmError | undefined {
  if (request.suffix != null) return badRequest('suffix is not currently supported');
  if (request.echo) return badRequest('Echo is unsupported with prompt embeds.');
  if (request.prompt_logprobs != null) return badRequest('prompt_logprobs is not compatible with prompt embeds.');
  // Not vLLM (it computes them): this server has no distribution to report, and `null` would lie.
  if (request.logprobs != null) {
    return badRequest('The reference server does not compute logprobs; leave `logprobs` out.', 'logprobs');
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
  'n' | 'presence_penalty' | 'frequency_penalty' | 'temperature' | 'top_p'
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
}

function checkPenalty(name: 'presence_penalty' | 'frequency_penalty', value: number | null | undefined): void {
  if (value != null && !(value >= -2 && value <= 2)) {
    const shown = pythonFloat(value);
    throw validationError(`${name} must be in [-2, 2], got ${shown}.`, name, shown);
  }
}
