/**
 * Chat output parsing (docs/chat-output.md): a model's generated text turned into what the chat API
 * returns — reasoning, content and tool calls — incrementally, whatever the chunk boundaries; the
 * OpenAI shapes it is returned in (chat chunks, the Responses API's items and events). Below the
 * proxy and the client library, which both present answers.
 */
export { ChatOutputParser, parseChatOutput, type ChatOutput, type ChatOutputOptions } from './chat-output.js';
export type { MalformedReason, OutputEvent } from './events.js';
export { REASONING_PARSERS, type ReasoningParserName } from './reasoning.js';
export { TOOL_PARSERS, type ToolParserName } from './tool-parser.js';
export {
  ChoiceOutput,
  chatDeltaOf,
  chatMessageOf,
  wholeChoiceOutput,
  type OutputPlan,
  type ToolOutput,
} from './choice-output.js';
export type * from './chunks.js';
export {
  ResponseStream,
  chatCompletionToResponse,
  type ResponseEcho,
  type ResponseEvent,
  type ResponseObject,
} from './responses.js';
