import { TorchFormatError, decodePromptEmbeds, type EmbedsDtype } from '../embeds/index.js';
import { badRequest, internalError, pythonShape, validationError, type VllmError } from './vllm-errors.js';

/** The received prompt, `[tokens, hidden]` row-major after vLLM's squeeze of a leading 1. */
export interface PromptEmbeds {
  data: Float32Array;
  tokens: number;
  hidden: number;
  dtype: EmbedsDtype;
}

/**
 * vLLM's `safe_load_prompt_embeds`: strict base64, `torch.load(weights_only=True)`, a float tensor,
 * `squeeze(0)` when the rank is above 2, then rank 2 and the model's hidden size — with vLLM's
 * messages where it has one.
 */
export function loadPromptEmbeds(base64: string, hiddenSize: number): PromptEmbeds {
  const tensor = decodeOrReject(base64);
  const shape = tensor.shape.length > 2 && tensor.shape[0] === 1 ? tensor.shape.slice(1) : tensor.shape;
  const [tokens, hidden] = shape;
  if (shape.length !== 2 || tokens === undefined || hidden === undefined) {
    throw validationError(
      `\`prompt_embeds\` must be a 2D tensor of shape (num_tokens, hidden_size); got shape ${pythonShape(shape)}.`,
      'prompt_embeds',
    );
  }
  if (hidden !== hiddenSize) {
    throw validationError(
      `\`prompt_embeds\` hidden_size ${hidden} does not match the model's hidden_size ${hiddenSize}.`,
      'prompt_embeds',
    );
  }
  // vLLM has no message for this (the engine fails later); an empty prompt is a client error here.
  if (tokens < 1) {
    throw validationError(
      `\`prompt_embeds\` must hold at least one token; got shape ${pythonShape(shape)}.`,
      'prompt_embeds',
    );
  }
  return { data: tensor.data, tokens, hidden, dtype: tensor.dtype };
}

function decodeOrReject(base64: string): ReturnType<typeof decodePromptEmbeds> {
  try {
    return decodePromptEmbeds(base64);
  } catch (err) {
    throw toLoadError(err);
  }
}

/**
 * vLLM passes the exception text of `b64decode`/`torch.load` through as a 400. Ours comes from our
 * own reader, so the wording differs; a failure that is not a format error is our bug, hence 500.
 */
function toLoadError(err: unknown): VllmError {
  if (err instanceof TorchFormatError) return badRequest(err.message, 'prompt_embeds');
  return internalError(err);
}
