/**
 * What the parsers of generated text emit, in output order. A stream's events concatenate back to
 * the model's text: every character is in exactly one `content`, `reasoning` or tool-call event,
 * except the tags that frame a reasoning block or a well-formed tool call.
 */
export type OutputEvent =
  | { kind: 'content'; text: string }
  | { kind: 'reasoning'; text: string }
  /** A tool call begins: `index` counts the calls of this output from 0. */
  | { kind: 'tool-call-start'; index: number; id: string; name: string }
  /** Part of call `index`'s arguments: the fragments of one call join to its JSON arguments string. */
  | { kind: 'tool-call-arguments'; index: number; fragment: string };

/** Why a `<tool_call>` block was passed on as content rather than as a call. */
export type MalformedReason = 'invalid-json' | 'not-an-object' | 'missing-name' | 'missing-arguments';

/**
 * Told when a block is passed on as content. It carries no text of the block, so a caller can log
 * it without logging model output. `terminated`: the block had its closing tag.
 */
export type MalformedToolCallListener = (problem: {
  reason: MalformedReason;
  chars: number;
  terminated: boolean;
}) => void;

/** An incremental parser of one output stream: `feed` each text delta in order, then `end` once. */
export interface OutputParser {
  feed(text: string): OutputEvent[];
  end(): OutputEvent[];
}

/** Appends `text` as a `kind` event, merged into the last one when that is the same kind. */
export function pushText(events: OutputEvent[], kind: 'content' | 'reasoning', text: string): void {
  if (text === '') return;
  const last = events.at(-1);
  if (last?.kind === kind) last.text += text;
  else events.push({ kind, text });
}
