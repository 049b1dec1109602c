/**
 * Chat output parsing (docs/chat-output.md): a model's generated text turned into what the chat API
 * returns — reasoning, content and tool calls — incrementally, whatever the chunk boundaries.
 */
export { ChatOutputParser, parseChatOutput, type ChatOutput, type ChatOutputOptions } from './chat-output.js';
export type { MalformedReason, OutputEvent } from './events.js';
export { REASONING_PARSERS, type ReasoningParserName } from './reasoning.js';
export { TOOL_PARSERS, type ToolParserName } from './tool-parser.js';
export { ChoiceOutput, wholeChoiceOutput, type OutputPlan, type ToolOutput } from './choice-output.js';
