/**
 * Pass-through mode's tool calls: the proxy relays ciphertext it cannot parse, so the client,
 * after decrypting, runs the same chat-output parser the proxy would have run and rewrites each
 * chunk's `delta` into OpenAI's shape (`content`, `tool_calls`, `reasoning_content`).
 */
import {
  ChoiceOutput,
  type OutputEvent,
  type OutputPlan,
  type ReasoningParserName,
  type ToolOutput,
  type ToolParserName,
} from '../chat-output/index.js';

export interface ToolCallChunkOptions {
  /** The model's tool-call format (default `hermes`: `<tool_call>{"name": …, "arguments": …}</tool_call>`). */
  toolParser?: ToolParserName;
  /** Also split off a reasoning block into `delta.reasoning_content` (off when absent). */
  reasoningParser?: ReasoningParserName;
  /** Ids of the calls (default vLLM's `chatcmpl-tool-<32 hex>`). */
  newToolCallId?: () => string;
}

interface ToolCallDelta {
  index: number;
  id?: string;
  type?: 'function';
  function: { name?: string; arguments: string };
}

interface MutableDelta {
  content?: string | null;
  reasoning_content?: string;
  tool_calls?: ToolCallDelta[];
}

/** The parts of a decrypted `chat.completion.chunk` this reads and rewrites (the OpenAI SDK's type fits). */
export interface ChunkLike {
  choices: ReadonlyArray<{ index: number; delta?: object | null; finish_reason?: string | null }>;
}

/** Writes `events` into `delta`: content and reasoning joined, tool-call starts and fragments merged per call. */
function applyEvents(delta: MutableDelta, events: readonly OutputEvent[], hadContent: boolean): void {
  let content = '';
  let reasoning = '';
  const calls: ToolCallDelta[] = [];
  for (const event of events) {
    if (event.kind === 'content') content += event.text;
    else if (event.kind === 'reasoning') reasoning += event.text;
    else if (event.kind === 'tool-call-start')
      calls.push({ index: event.index, id: event.id, type: 'function', function: { name: event.name, arguments: '' } });
    else {
      const last = calls.at(-1);
      if (last?.index === event.index) last.function.arguments += event.fragment;
      else calls.push({ index: event.index, function: { arguments: event.fragment } });
    }
  }
  // Text held back (a possible tag) or turned into a call is not content: null, as OpenAI sends.
  if (content !== '' || hadContent) delta.content = content === '' ? null : content;
  if (reasoning !== '') delta.reasoning_content = reasoning;
  if (calls.length > 0) delta.tool_calls = [...(delta.tool_calls ?? []), ...calls];
}

/** How a decrypted answer's text becomes content, reasoning and tool calls (the proxy's own plan). */
export function parsePlan(options: ToolCallChunkOptions, tools: ToolOutput | undefined, parallel = true): OutputPlan {
  return {
    parallelToolCalls: parallel,
    ...(tools ? { tools } : {}),
    ...(options.reasoningParser ? { reasoning: options.reasoningParser } : {}),
    ...(options.newToolCallId ? { newToolCallId: options.newToolCallId } : {}),
  };
}

/**
 * A rewriter of one decrypted chat chunk after another, in place: each choice's `delta.content`
 * goes through the proxy's own choice output (`ChoiceOutput`), and what it yields replaces the
 * delta; the finish reason becomes the one the proxy would report (`tool_calls` after calls).
 */
export function chatChunkShaper(plan: OutputPlan): (chunk: ChunkLike) => void {
  const outputs = new Map<number, ChoiceOutput>();
  return (chunk) => {
    for (const choice of chunk.choices) {
      // The SDK's objects are plain and writable; its types mark them readonly for callers only.
      const delta = (choice.delta ?? {}) as MutableDelta;
      let output = outputs.get(choice.index);
      if (!output) {
        output = new ChoiceOutput(plan);
        outputs.set(choice.index, output);
      }
      const text = typeof delta.content === 'string' ? delta.content : '';
      const events = text === '' ? [] : output.feed(text);
      if (choice.finish_reason != null) {
        const end = output.end(choice.finish_reason);
        events.push(...end.events);
        (choice as { finish_reason: string | null }).finish_reason = end.finish;
      }
      applyEvents(delta, events, text !== '');
    }
  };
}

/**
 * Turns a decrypted chat stream (e.g. `decryptChatStream(data, decryptor)`) into one with OpenAI
 * `delta.tool_calls`: each choice's `delta.content` is fed to the tool parser, and what it yields
 * replaces the delta. A choice that made calls finishes with `tool_calls`, as vLLM reports it.
 * Chunks are rewritten in place and passed on, one for one.
 */
export async function* toolCallChunks<T extends ChunkLike>(
  stream: AsyncIterable<T>,
  options: ToolCallChunkOptions = {},
): AsyncGenerator<T, void, undefined> {
  const shape = chatChunkShaper(parsePlan(options, { kind: 'parse', parser: options.toolParser ?? 'hermes' }));
  for await (const chunk of stream) {
    shape(chunk);
    yield chunk;
  }
}
