import { pushText, type OutputEvent, type OutputParser } from './events.js';
import { partialTagLength } from './tags.js';

const START = '<think>';
const END = '</think>';

interface ThinkSyntax {
  /** The output opens in reasoning (its `<think>` is in the prompt, or optional): all text before `</think>` is reasoning. */
  opensInReasoning: boolean;
}

/**
 * The reasoning formats known by name (`SGP_REASONING_PARSER`), after vLLM's parsers of the same name:
 * - `qwen3`: reasoning is what `<think>…</think>` encloses; text around the block is content.
 * - `deepseek_r1`: the opening `<think>` may be absent: everything before `</think>` is reasoning.
 */
export const REASONING_PARSERS = {
  qwen3: { opensInReasoning: false },
  deepseek_r1: { opensInReasoning: true },
} as const satisfies Record<string, ThinkSyntax>;

export type ReasoningParserName = keyof typeof REASONING_PARSERS;

type Phase = 'before' | 'thinking' | 'after';

/**
 * Moves a `<think>…</think>` block into `reasoning` events; the tags themselves are dropped. Only the
 * first block counts (as in vLLM): after `</think>` everything is content. An output that ends inside
 * the block (cut by `max_tokens`) leaves it all reasoning.
 */
export class ThinkParser implements OutputParser {
  private phase: Phase;
  private startSeen = false;
  private buffer = '';

  constructor(syntax: ThinkSyntax) {
    this.phase = syntax.opensInReasoning ? 'thinking' : 'before';
  }

  /** Whether the output had a reasoning part (possibly empty). */
  get reasoned(): boolean {
    return this.phase !== 'before';
  }

  feed(text: string): OutputEvent[] {
    this.buffer += text;
    const events: OutputEvent[] = [];
    while (this.step(events));
    return events;
  }

  end(): OutputEvent[] {
    const events: OutputEvent[] = [];
    pushText(events, this.phase === 'thinking' ? 'reasoning' : 'content', this.buffer);
    this.buffer = '';
    return events;
  }

  private step(events: OutputEvent[]): boolean {
    if (this.phase === 'after') {
      pushText(events, 'content', this.buffer);
      this.buffer = '';
      return false;
    }
    if (this.phase === 'before') return this.until(events, 'content', [START]);
    // deepseek_r1 opens in reasoning but may still write its `<think>`: that tag is dropped too.
    return this.until(events, 'reasoning', this.startSeen ? [END] : [END, START]);
  }

  /** Emits `kind` text up to the first of `tags`; true when one was found (and the phase moved on). */
  private until(events: OutputEvent[], kind: 'content' | 'reasoning', tags: readonly string[]): boolean {
    const found = firstOf(this.buffer, tags);
    if (!found) {
      const sendable = this.buffer.length - partialTagLength(this.buffer, tags);
      pushText(events, kind, this.buffer.slice(0, sendable));
      this.buffer = this.buffer.slice(sendable);
      return false;
    }
    pushText(events, kind, this.buffer.slice(0, found.at));
    this.buffer = this.buffer.slice(found.at + found.tag.length);
    if (found.tag === START) {
      this.startSeen = true;
      this.phase = 'thinking';
    } else {
      this.phase = 'after';
    }
    return true;
  }
}

function firstOf(text: string, tags: readonly string[]): { at: number; tag: string } | undefined {
  let first: { at: number; tag: string } | undefined;
  for (const tag of tags) {
    const at = text.indexOf(tag);
    if (at >= 0 && (first === undefined || at < first.at)) first = { at, tag };
  }
  return first;
}
