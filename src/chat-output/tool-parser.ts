import type { MalformedToolCallListener, OutputParser } from './events.js';
import { HermesToolParser } from './hermes.js';

export interface ToolParserOptions {
  /** Ids for the calls; default vLLM's `chatcmpl-tool-<32 hex>`. */
  newToolCallId?: () => string;
  onMalformed?: MalformedToolCallListener;
}

/** A tool-call parser: an output parser that counts the calls it emitted. */
export interface ToolCallParser extends OutputParser {
  readonly toolCalls: number;
}

/** The tool-call formats known by name (`SGP_TOOL_PARSER`); add one by adding its factory here. */
export const TOOL_PARSERS = {
  hermes: (options: ToolParserOptions): ToolCallParser => new HermesToolParser(options),
} as const satisfies Record<string, (options: ToolParserOptions) => ToolCallParser>;

export type ToolParserName = keyof typeof TOOL_PARSERS;
