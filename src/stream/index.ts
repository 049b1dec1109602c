export { SSE_HEADERS } from './sse-encoder.js';
export type * from '../chat-output/chunks.js';
export { checkCompletionChunk, parseCompletionEvent, parseEventObject } from './upstream-events.js';
export { chatChunkMapper, completionToChatCompletion, type ChatMappingOptions } from './completion-to-chat.js';
export type { OutputPlan, ToolOutput } from '../chat-output/index.js';
export { relaySse, type EndReport, type SseDialect, type StreamEnd } from './sse-relay.js';
export { textCompletionMapper, toTextCompletion } from './text-completion.js';
