import { ChatOutputParser, foldOutputEvents, type ToolCall } from './chat-output.js';
import type { ChatDelta, ChatMessageOut } from './chunks.js';
import type { MalformedToolCallListener, OutputEvent } from './events.js';
import { vllmToolCallId } from './hermes.js';
import type { ReasoningParserName } from './reasoning.js';
import type { ToolParserName } from './tool-parser.js';
import { isObject } from '../internal/is-object.js';

/**
 * How the model's text becomes tool calls: `parse` reads the model's own call blocks (`tool_choice`
 * auto); `named` and `required` read the JSON that vLLM's structured outputs forced (a named
 * function: the output is its arguments; required: `[{name, parameters}, …]`), as vLLM does.
 */
export type ToolOutput =
  { kind: 'parse'; parser: ToolParserName } | { kind: 'named'; name: string } | { kind: 'required' };

/** What one answer's choices are parsed with: decided per request (proxy/chat-plan.ts). */
export interface OutputPlan {
  reasoning?: ReasoningParserName;
  tools?: ToolOutput;
  /** `false`: calls after the first are dropped (OpenAI's `parallel_tool_calls: false`). */
  parallelToolCalls: boolean;
  onMalformedToolCall?: MalformedToolCallListener;
  /** Ids of the calls (default vLLM's `chatcmpl-tool-<32 hex>`). */
  newToolCallId?: () => string;
}

/** One choice's text → output events, fed delta by delta; then the finish reason the client sees. */
export class ChoiceOutput {
  private readonly parser: ChatOutputParser;
  private namedStarted = false;
  /** `required`: the forced JSON, read whole at the end (bounded by the upstream's `max_tokens`). */
  private requiredJson = '';
  private calls = 0;
  private readonly newId: () => string;

  constructor(private readonly plan: OutputPlan) {
    const tools = plan.tools?.kind === 'parse' ? plan.tools.parser : undefined;
    this.parser = new ChatOutputParser({
      ...(plan.reasoning ? { reasoning: plan.reasoning } : {}),
      ...(tools ? { tools } : {}),
      ...(plan.onMalformedToolCall ? { onMalformedToolCall: plan.onMalformedToolCall } : {}),
      ...(plan.newToolCallId ? { newToolCallId: plan.newToolCallId } : {}),
    });
    this.newId = plan.newToolCallId ?? vllmToolCallId;
  }

  feed(text: string): OutputEvent[] {
    return this.shape(this.parser.feed(text), false);
  }

  /** The rest of the events, and the finish reason: `tool_calls` where vLLM reports it. */
  end(upstreamFinish: string | null): { events: OutputEvent[]; finish: string | null } {
    const events = this.shape(this.parser.end().events, true);
    return { events, finish: this.finish(upstreamFinish) };
  }

  get reasoned(): boolean {
    return this.parser.reasoned;
  }

  private finish(upstream: string | null): string | null {
    if (this.calls === 0) return upstream;
    const kind = this.plan.tools?.kind;
    if (kind === 'parse') return 'tool_calls';
    if (kind === 'required' && upstream === 'stop') return 'tool_calls';
    return upstream; // a named choice keeps `stop`, as vLLM
  }

  private shape(events: OutputEvent[], last: boolean): OutputEvent[] {
    const kind = this.plan.tools?.kind;
    let out = events;
    if (kind === 'named') out = events.flatMap((event) => this.named(event));
    else if (kind === 'required') out = this.required(events, last);
    out = this.plan.parallelToolCalls ? out : out.filter((event) => !isCallEvent(event) || event.index === 0);
    for (const event of out) if (event.kind === 'tool-call-start') this.calls += 1;
    return out;
  }

  private named(event: OutputEvent): OutputEvent[] {
    if (event.kind !== 'content' || this.plan.tools?.kind !== 'named') return [event];
    const out: OutputEvent[] = [];
    if (!this.namedStarted) {
      this.namedStarted = true;
      out.push({ kind: 'tool-call-start', index: 0, id: this.newId(), name: this.plan.tools.name });
    }
    out.push({ kind: 'tool-call-arguments', index: 0, fragment: event.text });
    return out;
  }

  private required(events: OutputEvent[], last: boolean): OutputEvent[] {
    const out: OutputEvent[] = [];
    for (const event of events) {
      if (event.kind === 'content') this.requiredJson += event.text;
      else out.push(event);
    }
    if (!last || this.requiredJson === '') return out;
    const calls = requiredCalls(this.requiredJson);
    if (calls === undefined) {
      this.plan.onMalformedToolCall?.({ reason: 'invalid-json', chars: this.requiredJson.length, terminated: true });
      out.push({ kind: 'content', text: this.requiredJson });
      return out;
    }
    for (const [index, call] of calls.entries()) {
      out.push({ kind: 'tool-call-start', index, id: this.newId(), name: call.name });
      out.push({ kind: 'tool-call-arguments', index, fragment: call.arguments });
    }
    return out;
  }
}

/** A whole (non-stream) choice as the chat message has it: `content` null when it is only tool calls. */
export interface WholeChoiceOutput {
  content: string | null;
  reasoning?: string;
  toolCalls?: ToolCall[];
  finish: string | null;
}

/** One output event as a stream chunk's delta: each event is its own chunk, in the order it came. */
export function chatDeltaOf(event: OutputEvent): ChatDelta {
  switch (event.kind) {
    case 'content':
      return { content: event.text };
    case 'reasoning':
      return { reasoning_content: event.text };
    case 'tool-call-start':
      return {
        tool_calls: [
          { index: event.index, id: event.id, type: 'function', function: { name: event.name, arguments: '' } },
        ],
      };
    case 'tool-call-arguments':
      return { tool_calls: [{ index: event.index, function: { arguments: event.fragment } }] };
  }
}

/** A whole choice as OpenAI's non-stream chat message (`refusal` null: the proxy never refuses). */
export function chatMessageOf(whole: WholeChoiceOutput): ChatMessageOut {
  return {
    role: 'assistant',
    content: whole.content,
    refusal: null,
    ...(whole.reasoning !== undefined ? { reasoning_content: whole.reasoning } : {}),
    ...(whole.toolCalls ? { tool_calls: whole.toolCalls } : {}),
  };
}

/** One whole answer's text → its message parts and the finish reason the client sees. */
export function wholeChoiceOutput(plan: OutputPlan, text: string, upstreamFinish: string | null): WholeChoiceOutput {
  const output = new ChoiceOutput(plan);
  const events = output.feed(text);
  const end = output.end(upstreamFinish);
  const folded = foldOutputEvents([...events, ...end.events], output.reasoned);
  const calls = folded.toolCalls.filter((call) => call !== undefined);
  return {
    content: folded.content === '' && calls.length > 0 ? null : folded.content,
    ...(folded.reasoning !== null ? { reasoning: folded.reasoning } : {}),
    ...(calls.length > 0 ? { toolCalls: calls } : {}),
    finish: end.finish,
  };
}

function isCallEvent(event: OutputEvent): event is Extract<OutputEvent, { index: number }> {
  return event.kind === 'tool-call-start' || event.kind === 'tool-call-arguments';
}

/** vLLM's forced `required` output, `[{name, parameters}, …]`, as calls; undefined when it is not that. */
function requiredCalls(json: string): { name: string; arguments: string }[] | undefined {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (!Array.isArray(value)) return undefined;
  const calls: { name: string; arguments: string }[] = [];
  for (const item of value) {
    if (!isObject(item) || typeof item.name !== 'string' || item.name === '') return undefined;
    calls.push({ name: item.name, arguments: JSON.stringify(item.parameters ?? {}) });
  }
  return calls;
}
