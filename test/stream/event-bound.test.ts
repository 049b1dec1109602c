import { describe, expect, it } from 'vitest';
import { UpstreamProtocolError } from '../../src/errors/index.js';
import { createEventBound } from '../../src/stream/event-bound.js';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

/** Feeds `text` split at `cut` and reports whether the bound threw. */
function exceeds(text: string, max: number, cut?: number): boolean {
  const check = createEventBound(max);
  const all = bytes(text);
  try {
    if (cut === undefined) check(all);
    else {
      check(all.subarray(0, cut));
      check(all.subarray(cut));
    }
    return false;
  } catch (error) {
    expect(error).toBeInstanceOf(UpstreamProtocolError);
    return true;
  }
}

describe('upstream SSE event bound', () => {
  // Each event's bytes (excluding its line endings) are 10: "data: 1234".
  const fixtures: [string, string, boolean][] = [
    ['LF events at the bound', 'data: 1234\n\ndata: 5678\n\n', false],
    ['CRLF events at the bound', 'data: 1234\r\n\r\ndata: 5678\r\n\r\n', false],
    ['CR events at the bound', 'data: 1234\r\rdata: 5678\r\r', false],
    ['mixed endings', 'data: 1234\r\n\ndata: 5678\n\r\n', false],
    ['one event over the bound', 'data: 12345\n\n', true],
    ['two lines of one event together over the bound', 'data: 12\ndata: 34\n\n', true],
    ['an event that never ends', 'data: 1234567890', true],
  ];

  it.each(fixtures)('%s, split at every byte', (_name, text, over) => {
    expect(exceeds(text, 10)).toBe(over);
    for (let cut = 0; cut <= bytes(text).length; cut++) expect(exceeds(text, 10, cut), `cut at ${cut}`).toBe(over);
  });

  it('counts an event from its blank line on: many small events never add up', () => {
    const check = createEventBound(64);
    for (let i = 0; i < 10_000; i++) check(bytes(`data: {"i":${i}}\n\n`));
  });
});
