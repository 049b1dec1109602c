/**
 * `prompt_embeds` on the wire (docs/prompt-embeds.md): tensors to and from the torch.save zip that vLLM's
 * `torch.load(..., weights_only=True)` accepts, and its strict base64 form.
 */
export { EMBEDS_DTYPES, type EmbedsDtype } from './dtype.js';
export { TorchFormatError } from './errors.js';
export { readTorchTensor, writeTorchTensor } from './torch-file.js';
export { decodePromptEmbeds, encodePromptEmbeds, encodePromptEmbedsAscii } from './prompt-embeds.js';
