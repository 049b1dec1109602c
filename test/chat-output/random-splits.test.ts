/**
 * Property-based: generated outputs (text, calls, malformed blocks, a think block) cut at random
 * points. The stream always assembles to what the output holds by construction, and to what the
 * whole-text parse returns; on arbitrary tag soup the two still agree and nothing throws.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseChatOutput, type ChatOutputOptions } from '../../src/chat-output/index.js';
import { assemble, countedIds, cutAt, streamPieces } from './helpers.js';

const TAG_CHARS = [...'<>/_toolcalthink{}":, x☃', '😀', '\n'];
const text = fc.array(fc.constantFrom(...TAG_CHARS), { maxLength: 14 }).map((cs) => cs.join(''));
const space = fc.constantFrom('', ' ', '\n');

type Segment =
  | { kind: 'text'; text: string }
  | { kind: 'call'; name: string; args: string; block: string }
  | { kind: 'bad'; block: string };

const call = fc
  .record({
    name: fc.stringMatching(/^[a-z_]{1,8}$/),
    args: fc.dictionary(fc.string({ maxLength: 4 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
    indent: fc.constantFrom(0, 1),
    before: space,
    after: space,
  })
  .map(({ name, args, indent, before, after }): Segment => {
    const argsText = JSON.stringify(args, null, indent);
    return {
      kind: 'call',
      name,
      args: argsText,
      block: `<tool_call>${before}{"name": ${JSON.stringify(name)}, "arguments": ${argsText}}${after}</tool_call>`,
    };
  });

const bad = fc
  .constantFrom('{', '{"name": 1, "arguments": {}}', '{"name": "f", "arguments": }', 'not json', '[]', '{"x": 1}')
  .chain((body) => text.map((tail) => ({ kind: 'bad' as const, block: `<tool_call>${body}${tail}</tool_call>` })));

const segments = fc.array(
  fc.oneof({ arbitrary: text.map((t): Segment => ({ kind: 'text', text: t })), weight: 3 }, call, bad),
  { maxLength: 6 },
);

const cuts = fc.array(fc.nat(400), { maxLength: 10 });

function occurrences(haystack: string, needle: string): number {
  return haystack.split(needle).length - 1;
}

function isCall(block: string): boolean {
  return parseChatOutput(block, { tools: 'hermes' }).toolCalls.length > 0;
}

describe('chat output on generated outputs, cut at random points', () => {
  it('a stream assembles the content and calls the output was built from', () => {
    fc.assert(
      fc.property(fc.option(text), segments, cuts, (thinking, parts, points) => {
        const blocks = parts.filter((p) => p.kind !== 'text');
        fc.pre(parts.every((p) => p.kind !== 'bad' || !isCall(p.block)));
        const body = parts.map((p) => (p.kind === 'text' ? p.text : p.block)).join('');
        const output = thinking === null ? body : `<think>${thinking}</think>${body}`;
        // No tag formed by accident where two generated pieces meet.
        fc.pre(occurrences(output, '<tool_call>') === blocks.length);
        fc.pre(occurrences(output, '</tool_call>') === blocks.length);
        fc.pre(
          occurrences(thinking ?? '', '</think>') === 0 &&
            occurrences(output, '<think>') === (thinking === null ? 0 : 1),
        );

        const options = countedIds({ reasoning: 'qwen3', tools: 'hermes' });
        const content = parts.map((p) => (p.kind === 'text' ? p.text : p.kind === 'bad' ? p.block : '')).join('');
        const calls = parts.flatMap((p) => (p.kind === 'call' ? [[p.name, p.args]] : []));

        const streamed = assemble(streamPieces(cutAt(output, points), options()).events);
        expect(streamed.content).toBe(content);
        expect(streamed.reasoning).toBe(thinking ?? '');
        expect(streamed.toolCalls.map((c) => [c.function.name, c.function.arguments])).toEqual(calls);

        const whole = parseChatOutput(output, options());
        expect(whole).toEqual({ ...streamed, reasoning: thinking });
      }),
      { numRuns: 2000 },
    );
  });

  it.each<ChatOutputOptions>([
    { tools: 'hermes' },
    { reasoning: 'qwen3', tools: 'hermes' },
    { reasoning: 'deepseek_r1', tools: 'hermes' },
    { reasoning: 'deepseek_r1' },
  ])('on tag soup, a stream agrees with the whole-text parse (%o)', (base) => {
    const soup = fc
      .array(
        fc.oneof(
          text,
          fc.constantFrom('<tool_call>', '</tool_call>', '<think>', '</think>', '{"name":"f","arguments":{}}'),
        ),
        {
          maxLength: 10,
        },
      )
      .map((ps) => ps.join(''));
    fc.assert(
      fc.property(soup, cuts, (output, points) => {
        const options = countedIds(base);
        const whole = parseChatOutput(output, options());
        const streamed = assemble(streamPieces(cutAt(output, points), options()).events);
        expect({ ...streamed, reasoning: whole.reasoning }).toEqual(whole);
        if (whole.reasoning === null) expect(streamed.reasoning).toBe('');
      }),
      { numRuns: 1500 },
    );
  });
});
