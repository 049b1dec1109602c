export { SSE_HEADERS } from './sse-encoder.js';
export type * from './chunks.js';
export { checkCompletionChunk, upstreamEventsToChunks } from './upstream-events.js';
export { completionToChatChunks, completionToChatCompletion } from './completion-to-chat.js';
export { toSseBody, type StreamEnd } from './sse-response.js';
export { boundUpstreamEvents, createEventBound } from './event-bound.js';
