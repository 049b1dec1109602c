/**
 * The reference inference server (docs/reference-server.md): vLLM's OpenAI API for prompt embeddings, answering
 * with what a curious server reads in them (`echo`) or with paced tokens for load tests (`paced`).
 */
export {
  createReferenceServerApp,
  DEFAULT_MAX_BODY_BYTES,
  type GenerationMode,
  type GenerationEndEvent,
  type ReferenceServerOptions,
} from './app.js';
export { startReferenceServer, type RunningServer, type StartOptions } from './server.js';
export type { GenerationOutcome } from './completion-output.js';
export type { ReferenceSgt } from './token-plan.js';
export type { VllmErrorEnvelope } from './vllm-errors.js';
