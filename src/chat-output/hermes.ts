import { randomUUID } from 'node:crypto';
import { isObject } from '../internal/is-object.js';
import { pushText, type MalformedReason, type OutputEvent } from './events.js';
import { rawMembers } from './json-members.js';
import { partialTagLength, resumeAt } from './tags.js';
import type { ToolCallParser, ToolParserOptions } from './tool-parser.js';

const START = '<tool_call>';
const END = '</tool_call>';

/** vLLM's `make_tool_call_id()`: `chatcmpl-tool-` and 32 hex digits. */
export function vllmToolCallId(): string {
  return `chatcmpl-tool-${randomUUID().replaceAll('-', '')}`;
}

interface Call {
  name: string;
  arguments: string;
}

/** A block's JSON as a call, as vLLM's hermes parser reads it: an object with `name` and `arguments`. */
function readCall(body: string): Call | MalformedReason {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return 'invalid-json';
  }
  if (!isObject(value)) return 'not-an-object';
  if (typeof value.name !== 'string' || value.name === '') return 'missing-name';
  const args = rawMembers(body).get('arguments');
  return args === undefined ? 'missing-arguments' : { name: value.name, arguments: args };
}

/**
 * Hermes-style tool calls (Qwen2.5/3, Hermes 2 Pro, …): `<tool_call>{"name": …, "arguments": …}</tool_call>`.
 *
 * Text outside the blocks is content, streamed as it arrives except for a trailing partial
 * `<tool_call>`. A block is buffered until it closes and only then becomes a call — a start event
 * and its arguments as one fragment — or, if it is not a call, content with its exact characters:
 * nothing is ever emitted that a later character could prove wrong. A `<tool_call>` inside an open
 * block closes that block unterminated; so does the end of the output.
 */
export class HermesToolParser implements ToolCallParser {
  private inBlock = false;
  private buffer = '';
  /** Characters of a block's buffer already searched for tags. */
  private searched = 0;
  private calls = 0;

  constructor(private readonly options: ToolParserOptions = {}) {}

  get toolCalls(): number {
    return this.calls;
  }

  feed(text: string): OutputEvent[] {
    this.buffer += text;
    const events: OutputEvent[] = [];
    while (this.inBlock ? this.stepBlock(events) : this.stepText(events));
    return events;
  }

  end(): OutputEvent[] {
    const events: OutputEvent[] = [];
    if (this.inBlock) this.closeUnterminated(events, this.buffer);
    else pushText(events, 'content', this.buffer);
    this.buffer = '';
    this.inBlock = false;
    return events;
  }

  /** Outside a block: content up to the next `<tool_call>`. True when a block opened. */
  private stepText(events: OutputEvent[]): boolean {
    const at = this.buffer.indexOf(START);
    if (at < 0) {
      const sendable = this.buffer.length - partialTagLength(this.buffer, [START]);
      pushText(events, 'content', this.buffer.slice(0, sendable));
      this.buffer = this.buffer.slice(sendable);
      return false;
    }
    pushText(events, 'content', this.buffer.slice(0, at));
    this.moveTo(at + START.length, true);
    return true;
  }

  /** Inside a block: waits for `</tool_call>` (or another `<tool_call>`). True when the block closed. */
  private stepBlock(events: OutputEvent[]): boolean {
    const end = this.buffer.indexOf(END, this.searched);
    const restart = this.buffer.indexOf(START, this.searched);
    if (end < 0 && restart < 0) {
      this.searched = resumeAt(this.buffer.length, END.length);
      return false;
    }
    if (end >= 0 && (restart < 0 || end < restart)) {
      this.close(events, this.buffer.slice(0, end), END);
      this.moveTo(end + END.length, false);
    } else {
      this.close(events, this.buffer.slice(0, restart), '');
      this.moveTo(restart + START.length, true);
    }
    return true;
  }

  private moveTo(from: number, inBlock: boolean): void {
    this.buffer = this.buffer.slice(from);
    this.inBlock = inBlock;
    this.searched = 0;
  }

  /** An output that ends inside a block: `…}</tool_` is still a call (the tag was cut, not the JSON). */
  private closeUnterminated(events: OutputEvent[], body: string): void {
    const cut = partialTagLength(body, [END]);
    const withoutCutTag = body.slice(0, body.length - cut);
    if (cut > 0 && typeof readCall(withoutCutTag) !== 'string') this.close(events, withoutCutTag, '');
    else this.close(events, body, '');
  }

  private close(events: OutputEvent[], body: string, closingTag: string): void {
    const call = readCall(body);
    if (typeof call === 'string') {
      const text = START + body + closingTag;
      this.options.onMalformed?.({ reason: call, chars: text.length, terminated: closingTag !== '' });
      pushText(events, 'content', text);
      return;
    }
    const index = this.calls++;
    const id = (this.options.newToolCallId ?? vllmToolCallId)();
    events.push({ kind: 'tool-call-start', index, id, name: call.name });
    events.push({ kind: 'tool-call-arguments', index, fragment: call.arguments });
  }
}
