/**
 * The reference inference server (docs/reference-server.md): vLLM's OpenAI API for prompt embeddings, answering
 * with what a curious server reads in them (`echo`) or with paced tokens for load tests (`paced`).
 */
export { createReferenceServerApp, type GenerationEndEvent, type ReferenceServerOptions } from './app.js';
export { startReferenceServer, type RunningServer, type StartOptions } from './server.js';

export type { ReferenceSgt } from './token-plan.js';
