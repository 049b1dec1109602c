import { PromptTooLongError } from '../sgt/index.js';
import type { CompletionRequest } from './completion-request.js';
import { loadPromptEmbeds, type PromptEmbeds } from './prompt-embeds.js';
import { checkContextLength } from './serving-checks.js';
import type { ReferenceSgt } from './token-plan.js';
import { badRequest } from './vllm-errors.js';

/** One prompt of a completion request: each gets its own choices. */
export type RequestPrompt = { kind: 'embeds'; embeds: PromptEmbeds } | { kind: 'tokens'; ids: number[] };

export function promptTokens(prompt: RequestPrompt): number {
  return prompt.kind === 'embeds' ? prompt.embeds.tokens : prompt.ids.length;
}

/**
 * The request's prompts in vLLM's order (`render_prompt_and_embeds`): every `prompt_embeds`
 * tensor, then every text or token prompt; a `prompt` of `""` beside embeddings adds none. Text
 * is tokenized with the artifact's tokenizer. Each prompt must fit the context with `maxTokens`.
 */
export function loadPrompts(request: CompletionRequest, sgt: ReferenceSgt, maxTokens: number): RequestPrompt[] {
  const { hiddenSize, maxSequenceLength } = sgt.metadata;
  const embeds = request.prompt_embeds;
  const tensors = embeds == null ? [] : typeof embeds === 'string' ? [embeds] : embeds;
  const prompts: RequestPrompt[] = tensors.map((base64) => ({
    kind: 'embeds',
    embeds: loadPromptEmbeds(base64, hiddenSize),
  }));
  for (const prompt of prompts) checkContextLength(promptTokens(prompt), maxTokens, maxSequenceLength);
  for (const item of rawPrompts(request.prompt)) {
    const ids = typeof item === 'string' ? tokenize(sgt, item, maxTokens) : item;
    checkContextLength(ids.length, maxTokens, maxSequenceLength);
    prompts.push({ kind: 'tokens', ids });
  }
  return prompts;
}

/** vLLM's `parse_raw_prompts`: a string, strings, one token list, or token lists. */
function rawPrompts(prompt: CompletionRequest['prompt']): Array<string | number[]> {
  if (prompt == null || prompt === '') return [];
  if (typeof prompt === 'string') return [prompt];
  const [first] = prompt;
  if (first === undefined) throw badRequest('please provide at least one prompt', 'prompt');
  if (typeof first === 'number') return [prompt as number[]]; // the schema admits only homogeneous lists
  return prompt as Array<string | number[]>;
}

function tokenize(sgt: ReferenceSgt, text: string, maxTokens: number): number[] {
  try {
    return sgt.tokenize(text);
  } catch (err) {
    // Refused before tokenizing, as certainly too long: the same answer as a counted prompt.
    if (err instanceof PromptTooLongError) checkContextLength(err.tokens, maxTokens, sgt.metadata.maxSequenceLength);
    throw err;
  }
}

/** vLLM's input processor checks, after rendering: no empty prompt, no token id beyond the vocabulary. */
export function checkTokenPrompts(prompts: readonly RequestPrompt[], vocabSize: number): void {
  for (const prompt of prompts) {
    if (prompt.kind !== 'tokens') continue;
    if (prompt.ids.length === 0) throw badRequest('The decoder prompt cannot be empty', 'prompt');
    const largest = prompt.ids.reduce((a, b) => Math.max(a, b), 0);
    if (largest > vocabSize - 1) throw badRequest(`Token id ${largest} is out of vocabulary`, 'prompt');
  }
}
