import { describe, expect, it } from 'vitest';
import {
  chatChunkMapper,
  completionToChatCompletion,
  parseCompletionEvent,
  type OutputPlan,
} from '../../src/stream/index.js';

/** The chat answer a stream of `pieces` maps to, folded back the way an SDK folds it. */
function streamed(plan: OutputPlan, pieces: string[], finish = 'stop') {
  const map = chatChunkMapper({ id: 'c', model: 'm', includeUsage: false, output: plan });
  const chunks = pieces.flatMap((text, i) =>
    map({
      id: 'u',
      created: 1,
      model: 'm',
      choices: [{ index: 0, text, finish_reason: i === pieces.length - 1 ? finish : null }],
    }),
  );
  let content = '';
  const calls: { id?: string; name?: string; arguments: string }[] = [];
  for (const chunk of chunks) {
    const delta = chunk.choices[0]!.delta;
    content += delta.content ?? '';
    for (const call of delta.tool_calls ?? []) {
      const into = (calls[call.index] ??= { arguments: '' });
      if (call.id) into.id = call.id;
      if (call.function.name) into.name = call.function.name;
      into.arguments += call.function.arguments;
    }
  }
  const finishes = chunks.map((chunk) => chunk.choices[0]!.finish_reason).filter((f) => f !== null);
  return { content, calls: calls.map(({ name, arguments: args }) => ({ name, arguments: args })), finishes };
}

function whole(plan: OutputPlan, text: string, finish = 'stop') {
  const body = { id: 'u', created: 1, model: 'm', choices: [{ index: 0, text, finish_reason: finish }] };
  return completionToChatCompletion(body, { id: 'c', model: 'm', output: plan }).choices[0]!;
}

const splits = (text: string): string[][] =>
  Array.from({ length: text.length + 1 }, (_, i) => [text.slice(0, i), text.slice(i)]);

describe('a choice’s output under each tool plan, at every split point', () => {
  const cases: {
    name: string;
    plan: OutputPlan;
    text: string;
    calls: { name: string; arguments: string }[];
    content: string;
    finish: string;
  }[] = [
    {
      name: 'named: the whole output is the arguments; finish stays stop',
      plan: { tools: { kind: 'named', name: 'f' }, parallelToolCalls: true },
      text: '{"a": 1}',
      calls: [{ name: 'f', arguments: '{"a": 1}' }],
      content: '',
      finish: 'stop',
    },
    {
      name: 'required: the forced array becomes calls; finish tool_calls',
      plan: { tools: { kind: 'required' }, parallelToolCalls: true },
      text: '[{"name": "f", "parameters": {"a": 1}}, {"name": "g", "parameters": {}}]',
      calls: [
        { name: 'f', arguments: '{"a":1}' },
        { name: 'g', arguments: '{}' },
      ],
      content: '',
      finish: 'tool_calls',
    },
    {
      name: 'required, not the forced shape: content',
      plan: { tools: { kind: 'required' }, parallelToolCalls: true },
      text: '{"name": "f"}',
      calls: [],
      content: '{"name": "f"}',
      finish: 'stop',
    },
    {
      name: 'parse, parallel_tool_calls false: only the first call',
      plan: { tools: { kind: 'parse', parser: 'hermes' }, parallelToolCalls: false },
      text: '<tool_call>{"name": "f", "arguments": {}}</tool_call><tool_call>{"name": "g", "arguments": {}}</tool_call>',
      calls: [{ name: 'f', arguments: '{}' }],
      content: '',
      finish: 'tool_calls',
    },
  ];
  it.each(cases)('$name', ({ plan, text, calls, content, finish }) => {
    const expected = { content, calls, finishes: [finish] };
    for (const pieces of splits(text)) expect(streamed(plan, pieces)).toEqual(expected);
    const choice = whole(plan, text);
    expect(choice.finish_reason).toBe(finish);
    expect(choice.message.content).toBe(calls.length > 0 && content === '' ? null : content);
    expect((choice.message.tool_calls ?? []).map((c) => c.function)).toEqual(calls);
  });

  it('a named call cut by max_tokens keeps finish_reason length', () => {
    expect(
      whole({ tools: { kind: 'named', name: 'f' }, parallelToolCalls: true }, '{"a"', 'length').finish_reason,
    ).toBe('length');
  });

  it('no plan: plain content, as before', () => {
    expect(streamed({ parallelToolCalls: true }, ['Hi', ' there'])).toEqual({
      content: 'Hi there',
      calls: [],
      finishes: ['stop'],
    });
  });
});

describe('upstream logprobs are checked before they are mapped', () => {
  const event = (logprobs: unknown) =>
    JSON.stringify({
      id: 'u',
      created: 1,
      model: 'm',
      choices: [{ index: 0, text: 'a', finish_reason: null, logprobs }],
    });
  it.each([
    ['not an object', 5, 'choices[0].logprobs'],
    ['tokens not strings', { tokens: [1], token_logprobs: [0], top_logprobs: [null] }, 'choices[0].logprobs.tokens'],
    [
      'one logprob short',
      { tokens: ['a'], token_logprobs: [], top_logprobs: [null] },
      'choices[0].logprobs.token_logprobs',
    ],
    ['a top entry not a number', { tokens: ['a'], token_logprobs: [0], top_logprobs: [{ a: 'x' }] }, 'top_logprobs'],
  ])('%s → 502 naming the field', (_name, logprobs, field) => {
    expect(() => parseCompletionEvent(event(logprobs))).toThrow(field);
  });

  it('a well-formed one maps to the chat shape: bytes, top candidates highest first, at most top_logprobs', () => {
    const chunk = parseCompletionEvent(
      event({ tokens: ['é'], token_logprobs: [-0.5], top_logprobs: [{ x: -3, é: -0.5, y: -1 }] }),
    );
    const map = chatChunkMapper({ id: 'c', model: 'm', includeUsage: false, topLogprobs: 2 });
    const chunks = map(chunk);
    expect(chunks.at(-1)!.choices[0]!.logprobs).toEqual({
      content: [
        {
          token: 'é',
          logprob: -0.5,
          bytes: [0xc3, 0xa9],
          top_logprobs: [
            { token: 'é', logprob: -0.5, bytes: [0xc3, 0xa9] },
            { token: 'y', logprob: -1, bytes: [0x79] },
          ],
        },
      ],
      refusal: null,
    });
  });
});
