/** The prompt path: chat messages → template → tokens → keyed noise → transform → `prompt_embeds`. */
export { PromptEmbedder, type EmbeddedPrompt } from './prompt-embedder.js';
