import {
  ChatOutputParser,
  type ChatOutput,
  type ChatOutputOptions,
  type OutputEvent,
} from '../../src/chat-output/index.js';

/** Options with ids `call_0`, `call_1`, … counted afresh for each parser built from them. */
export function countedIds(options: Omit<ChatOutputOptions, 'newToolCallId'>): () => ChatOutputOptions {
  return () => {
    let next = 0;
    return { ...options, newToolCallId: () => `call_${next++}` };
  };
}

/** Streams `pieces` through one parser: every event in order, and the call count `end` reports. */
export function streamPieces(
  pieces: readonly string[],
  options: ChatOutputOptions,
): { events: OutputEvent[]; toolCalls: number } {
  const parser = new ChatOutputParser(options);
  const events = pieces.flatMap((piece) => parser.feed(piece));
  const end = parser.end();
  return { events: [...events, ...end.events], toolCalls: end.toolCalls };
}

/** What a client assembles from streamed events (as from `delta.content`, `delta.tool_calls`, …). */
export function assemble(events: readonly OutputEvent[]): Omit<ChatOutput, 'reasoning'> & { reasoning: string } {
  const out = { content: '', reasoning: '', toolCalls: [] as ChatOutput['toolCalls'] };
  for (const event of events) {
    if (event.kind === 'content') out.content += event.text;
    else if (event.kind === 'reasoning') out.reasoning += event.text;
    else if (event.kind === 'tool-call-start') {
      out.toolCalls[event.index] = { id: event.id, type: 'function', function: { name: event.name, arguments: '' } };
    } else {
      const call = out.toolCalls[event.index];
      if (!call) throw new Error(`arguments for call ${event.index} before its start`);
      call.function.arguments += event.fragment;
    }
  }
  return out;
}

/** `text` cut at each of `cuts` (sorted, deduplicated, within the text). */
export function cutAt(text: string, cuts: readonly number[]): string[] {
  const points = [...new Set(cuts.map((c) => Math.min(Math.max(c, 0), text.length)))].sort((a, b) => a - b);
  const pieces: string[] = [];
  let from = 0;
  for (const point of points) {
    pieces.push(text.slice(from, point));
    from = point;
  }
  pieces.push(text.slice(from));
  return pieces;
}
