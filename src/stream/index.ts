export { SSE_HEADERS, SSE_DONE, encodeSseData, encodeSseComment } from './sse-encoder.js';
export type * from './chunks.js';
export { checkCompletionChunk, upstreamEventsToChunks } from './upstream-events.js';
export { completionToChatChunks, completionToChatCompletion, type ChatMappingOptions } from './completion-to-chat.js';
export { toSseBody, type SseBodyOptions, type StreamEnd } from './sse-response.js';
export { boundUpstreamEvents, createEventBound } from './event-bound.js';
