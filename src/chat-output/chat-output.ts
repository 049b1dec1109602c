import type { MalformedToolCallListener, OutputEvent } from './events.js';
import { REASONING_PARSERS, ThinkParser, type ReasoningParserName } from './reasoning.js';
import { TOOL_PARSERS, type ToolCallParser, type ToolParserName } from './tool-parser.js';

export interface ChatOutputOptions {
  /** Off when absent. */
  reasoning?: ReasoningParserName;
  /** No tool-call parsing when absent (a request without `tools`, or `tool_choice: "none"`). */
  tools?: ToolParserName;
  newToolCallId?: () => string;
  onMalformedToolCall?: MalformedToolCallListener;
}

/**
 * One choice's generated text turned into chat output as it streams: reasoning first, then tool
 * calls in what is left (as vLLM's chat layer does: calls are never read inside reasoning).
 */
export class ChatOutputParser {
  private readonly think: ThinkParser | undefined;
  private readonly tools: ToolCallParser | undefined;

  constructor(options: ChatOutputOptions = {}) {
    this.think = options.reasoning === undefined ? undefined : new ThinkParser(REASONING_PARSERS[options.reasoning]);
    this.tools =
      options.tools === undefined
        ? undefined
        : TOOL_PARSERS[options.tools]({
            newToolCallId: options.newToolCallId,
            onMalformed: options.onMalformedToolCall,
          });
  }

  /** The events `text` (the next delta of the output) completes; held-back text comes later. */
  feed(text: string): OutputEvent[] {
    return this.toolEvents(this.think ? this.think.feed(text) : [{ kind: 'content', text }], false);
  }

  /** The rest, once the output is complete; `toolCalls`: how many calls the whole output held. */
  end(): { events: OutputEvent[]; toolCalls: number } {
    const events = this.toolEvents(this.think?.end() ?? [], true);
    return { events, toolCalls: this.tools?.toolCalls ?? 0 };
  }

  /** Whether the output had a reasoning part (possibly empty). */
  get reasoned(): boolean {
    return this.think?.reasoned ?? false;
  }

  private toolEvents(events: OutputEvent[], last: boolean): OutputEvent[] {
    const tools = this.tools;
    if (!tools) return events.filter((e) => e.kind !== 'content' || e.text !== '');
    const out: OutputEvent[] = [];
    for (const event of events) out.push(...(event.kind === 'content' ? tools.feed(event.text) : [event]));
    if (last) out.push(...tools.end());
    return out;
  }
}

export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface ChatOutput {
  content: string;
  /** `null` when the output had no reasoning part (or no reasoning parser is on). */
  reasoning: string | null;
  toolCalls: ToolCall[];
}

/** A whole (non-stream) output: exactly what the stream of the same text adds up to. */
export function parseChatOutput(text: string, options: ChatOutputOptions = {}): ChatOutput {
  const parser = new ChatOutputParser(options);
  return foldOutputEvents([...parser.feed(text), ...parser.end().events], parser.reasoned);
}

/** All of one output's events as the whole answer; `reasoned`: whether it had a reasoning part. */
export function foldOutputEvents(events: readonly OutputEvent[], reasoned: boolean): ChatOutput {
  return { ...collectEvents(events), reasoning: reasoned ? joinText(events, 'reasoning') : null };
}

function collectEvents(events: readonly OutputEvent[]): Omit<ChatOutput, 'reasoning'> {
  const toolCalls: ToolCall[] = [];
  for (const event of events) {
    if (event.kind === 'tool-call-start') {
      toolCalls[event.index] = { id: event.id, type: 'function', function: { name: event.name, arguments: '' } };
    } else if (event.kind === 'tool-call-arguments') {
      const call = toolCalls[event.index];
      if (call) call.function.arguments += event.fragment;
    }
  }
  return { content: joinText(events, 'content'), toolCalls };
}

function joinText(events: readonly OutputEvent[], kind: 'content' | 'reasoning'): string {
  return events.map((e) => (e.kind === kind ? e.text : '')).join('');
}
