/**
 * The reference inference server (docs/reference-server.md): vLLM's OpenAI API for prompt embeddings, answering
 * with what a curious server reads in them (`echo`), with paced tokens for load tests (`paced`), or
 * with replies from a file (`scripted`).
 */
export { createReferenceServerApp, type GenerationEndEvent, type ReferenceServerOptions } from './app.js';
export { startReferenceServer, type RunningServer, type StartOptions } from './server.js';
export { ScriptedRepliesError, readScriptedReplies } from './scripted.js';

export type { ReferenceSgt } from './token-plan.js';
