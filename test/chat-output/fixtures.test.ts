/**
 * The chat output parsers on fixed outputs, fed whole, one character at a time, and cut at every
 * split point and every pair of split points: the result never depends on the chunk boundaries.
 */
import { describe, expect, it } from 'vitest';
import {
  ChatOutputParser,
  REASONING_PARSERS,
  TOOL_PARSERS,
  parseChatOutput,
  type ChatOutputOptions,
  type MalformedReason,
  type ReasoningParserName,
  type ToolParserName,
} from '../../src/chat-output/index.js';
import { assemble, countedIds, cutAt, streamPieces } from './helpers.js';

interface Fixture {
  name: string;
  text: string;
  options: Omit<ChatOutputOptions, 'newToolCallId'>;
  content: string;
  reasoning?: string;
  calls?: Array<[name: string, args: string]>;
  malformed?: MalformedReason[];
}

const HERMES = { tools: 'hermes' } as const;
const QWEN3 = { reasoning: 'qwen3', tools: 'hermes' } as const;
const R1 = { reasoning: 'deepseek_r1', tools: 'hermes' } as const;

const FIXTURES: Fixture[] = [
  {
    name: 'content, a call, content',
    text: 'Let me check. <tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "unit": "c"}}\n</tool_call>\nDone.',
    options: HERMES,
    content: 'Let me check. \nDone.',
    calls: [['get_weather', '{"city": "Paris", "unit": "c"}']],
  },
  {
    name: 'two calls, arguments exactly as written',
    text: '<tool_call>{"name":"a","arguments":{"x":1.0}}</tool_call>\n<tool_call>{"name":"b", "arguments" : {"big": 12345678901234567890, "s": "}{\\"<"}}</tool_call>',
    options: HERMES,
    content: '\n',
    calls: [
      ['a', '{"x":1.0}'],
      ['b', '{"big": 12345678901234567890, "s": "}{\\"<"}'],
    ],
  },
  {
    name: 'a malformed block: content, character for character',
    text: 'Hi <tool_call>{"name": "f", "arguments": {"a": }</tool_call> bye',
    options: HERMES,
    content: 'Hi <tool_call>{"name": "f", "arguments": {"a": }</tool_call> bye',
    malformed: ['invalid-json'],
  },
  {
    name: 'a block without a name',
    text: '<tool_call>{"arguments": {}}</tool_call>',
    options: HERMES,
    content: '<tool_call>{"arguments": {}}</tool_call>',
    malformed: ['missing-name'],
  },
  {
    name: 'a block without arguments',
    text: '<tool_call>{"name": "f"}</tool_call>',
    options: HERMES,
    content: '<tool_call>{"name": "f"}</tool_call>',
    malformed: ['missing-arguments'],
  },
  {
    name: 'a block that is not an object',
    text: 'a<tool_call>[1, 2]</tool_call>b',
    options: HERMES,
    content: 'a<tool_call>[1, 2]</tool_call>b',
    malformed: ['not-an-object'],
  },
  {
    name: 'a valid unterminated block at the end',
    text: 'Sure.<tool_call>{"name": "f", "arguments": {}}',
    options: HERMES,
    content: 'Sure.',
    calls: [['f', '{}']],
  },
  {
    name: 'an output cut inside the closing tag',
    text: '<tool_call>{"name": "f", "arguments": {"q": "x"}}\n</tool_',
    options: HERMES,
    content: '',
    calls: [['f', '{"q": "x"}']],
  },
  {
    name: 'an unterminated malformed block at the end',
    text: 'ok <tool_call>{"name": "f", "argu',
    options: HERMES,
    content: 'ok <tool_call>{"name": "f", "argu',
    malformed: ['invalid-json'],
  },
  {
    name: 'a block opened inside a block',
    text: '<tool_call>{"name":"a","arguments":{}}<tool_call>{"name":"b","arguments":{}}</tool_call>',
    options: HERMES,
    content: '',
    calls: [
      ['a', '{}'],
      ['b', '{}'],
    ],
  },
  {
    name: 'tags that are not tags',
    text: 'x <tool y </tool_call> <think z </think> <tool_call',
    options: QWEN3,
    content: 'x <tool y </tool_call> <think z </think> <tool_call',
  },
  {
    name: 'multi-byte text around and inside a call',
    text: '☃ <tool_call>{"name":"s","arguments":{"t":"☃😀"}}</tool_call> 😀',
    options: HERMES,
    content: '☃  😀',
    calls: [['s', '{"t":"☃😀"}']],
  },
  {
    name: 'qwen3: think, then a call',
    text: '<think>\nI should call f.\n</think>\n\n<tool_call>{"name": "f", "arguments": {"q": "<think>"}}</tool_call>',
    options: QWEN3,
    reasoning: '\nI should call f.\n',
    content: '\n\n',
    calls: [['f', '{"q": "<think>"}']],
  },
  {
    name: 'qwen3: a call inside the reasoning stays reasoning',
    text: 'a<think>maybe <tool_call>{"name":"f","arguments":{}}</tool_call></think>answer',
    options: QWEN3,
    reasoning: 'maybe <tool_call>{"name":"f","arguments":{}}</tool_call>',
    content: 'aanswer',
  },
  {
    name: 'qwen3: no think block',
    text: 'Just an answer </think>.',
    options: QWEN3,
    content: 'Just an answer </think>.',
  },
  {
    name: 'qwen3: a think block cut short',
    text: '<think>still thinking <tool_call>{"name":"f","arguments":{}}',
    options: QWEN3,
    reasoning: 'still thinking <tool_call>{"name":"f","arguments":{}}',
    content: '',
  },
  {
    name: 'deepseek_r1: no opening tag',
    text: 'thinking here</think>The answer.',
    options: R1,
    reasoning: 'thinking here',
    content: 'The answer.',
  },
  {
    name: 'deepseek_r1: with the opening tag, and a second block that is content',
    text: '<think>a</think>b<think>c</think>',
    options: R1,
    reasoning: 'a',
    content: 'b<think>c</think>',
  },
  {
    name: 'reasoning only, no tool parser',
    text: '<think>x<tool_call>{}</tool_call></think><tool_call>{"name":"f","arguments":{}}</tool_call>',
    options: { reasoning: 'qwen3' },
    reasoning: 'x<tool_call>{}</tool_call>',
    content: '<tool_call>{"name":"f","arguments":{}}</tool_call>',
  },
];

function check(fixture: Fixture, pieces: readonly string[]): void {
  const malformed: MalformedReason[] = [];
  const options = countedIds({ ...fixture.options, onMalformedToolCall: (p) => malformed.push(p.reason) })();
  const { events, toolCalls } = streamPieces(pieces, options);
  const got = assemble(events);
  const calls = fixture.calls ?? [];
  expect({ content: got.content, reasoning: got.reasoning }).toEqual({
    content: fixture.content,
    reasoning: fixture.reasoning ?? '',
  });
  expect(got.toolCalls.map((c) => [c.function.name, c.function.arguments])).toEqual(calls);
  expect(got.toolCalls.map((c) => c.id)).toEqual(calls.map((_, i) => `call_${i}`));
  expect(toolCalls).toBe(calls.length);
  expect(malformed).toEqual(fixture.malformed ?? []);
}

describe.each(FIXTURES)('chat output: $name', (fixture) => {
  it('whole text', () => {
    const out = parseChatOutput(fixture.text, countedIds(fixture.options)());
    expect(out.content).toBe(fixture.content);
    expect(out.reasoning).toBe(fixture.reasoning ?? null);
    expect(out.toolCalls).toEqual(
      (fixture.calls ?? []).map(([name, args], i) => ({
        id: `call_${i}`,
        type: 'function',
        function: { name, arguments: args },
      })),
    );
    for (const call of out.toolCalls) expect(() => JSON.parse(call.function.arguments) as unknown).not.toThrow();
  });

  it('one character at a time', () => check(fixture, [...fixture.text]));

  it('cut at every split point, and at every pair of split points', () => {
    const n = fixture.text.length;
    for (let i = 0; i <= n; i += 1) {
      check(fixture, cutAt(fixture.text, [i]));
      for (let j = i + 1; j < n; j += 1) check(fixture, cutAt(fixture.text, [i, j]));
    }
  });
});

describe('chat output streaming', () => {
  it('holds back only what may be the start of a tag', () => {
    const parser = new ChatOutputParser({ reasoning: 'qwen3', tools: 'hermes' });
    expect(parser.feed('Hello <to')).toEqual([{ kind: 'content', text: 'Hello ' }]);
    expect(parser.feed('day')).toEqual([{ kind: 'content', text: '<today' }]);
    expect(parser.feed('<thi')).toEqual([]);
    expect(parser.feed('nk>why')).toEqual([{ kind: 'reasoning', text: 'why' }]);
    expect(parser.feed('</think>ok')).toEqual([{ kind: 'content', text: 'ok' }]);
    expect(parser.end()).toEqual({ events: [], toolCalls: 0 });
  });

  it('emits a call when its block closes: the start, then its arguments', () => {
    const parser = new ChatOutputParser({ tools: 'hermes', newToolCallId: () => 'id-1' });
    expect(parser.feed('<tool_call>{"name": "f", ')).toEqual([]);
    expect(parser.feed('"arguments": {"a": 1}}</tool_call>after')).toEqual([
      { kind: 'tool-call-start', index: 0, id: 'id-1', name: 'f' },
      { kind: 'tool-call-arguments', index: 0, fragment: '{"a": 1}' },
      { kind: 'content', text: 'after' },
    ]);
  });

  it('names its calls as vLLM does by default: chatcmpl-tool-<32 hex>', () => {
    const out = parseChatOutput('<tool_call>{"name":"f","arguments":{}}</tool_call>', { tools: 'hermes' });
    expect(out.toolCalls[0]?.id).toMatch(/^chatcmpl-tool-[0-9a-f]{32}$/);
  });

  it('tells the malformed-block listener the reason and size, never the text', () => {
    const told: unknown[] = [];
    parseChatOutput('<tool_call>{"secret": 1}</tool_call>', {
      tools: 'hermes',
      onMalformedToolCall: (p) => told.push(p),
    });
    expect(told).toEqual([
      { reason: 'missing-name', chars: '<tool_call>{"secret": 1}</tool_call>'.length, terminated: true },
    ]);
  });

  it('without parsers, passes the text through as content', () => {
    const parser = new ChatOutputParser();
    expect(parser.feed('<think>a</think><tool_call>')).toEqual([
      { kind: 'content', text: '<think>a</think><tool_call>' },
    ]);
    expect(parser.feed('')).toEqual([]);
    expect(parseChatOutput('x')).toEqual({ content: 'x', reasoning: null, toolCalls: [] });
  });

  // Every parser a configuration can name, alone and combined: text without tags is content, as is.
  // (Object.keys of a registry lists exactly its names, hence the casts.)
  const reasoningNames = [undefined, ...Object.keys(REASONING_PARSERS)] as Array<ReasoningParserName | undefined>;
  const toolNames = [undefined, ...Object.keys(TOOL_PARSERS)] as Array<ToolParserName | undefined>;
  it.each(reasoningNames.flatMap((reasoning) => toolNames.map((tools) => ({ reasoning, tools }))))(
    'passes plain text through unchanged (%o)',
    ({ reasoning, tools }) => {
      const text = 'A plain answer, < with > brackets: {"name": "x"} and no tags.';
      const expected =
        reasoning === 'deepseek_r1' ? { content: '', reasoning: text } : { content: text, reasoning: '' };
      for (let i = 0; i <= text.length; i += 1) {
        const got = assemble(streamPieces(cutAt(text, [i]), { reasoning, tools }).events);
        expect({ content: got.content, reasoning: got.reasoning }).toEqual(expected);
      }
    },
  );
});
