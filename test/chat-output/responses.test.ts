import { describe, expect, it } from 'vitest';
import { UpstreamTimeoutError } from '../../src/errors/index.js';
import {
  ResponseStream,
  type ChatCompletionChunk,
  type ResponseEcho,
  type ResponseEvent,
} from '../../src/chat-output/index.js';
import { openAiSchemas } from '../support/schema-check.js';

const conformsTo = openAiSchemas();

const ECHO: ResponseEcho = {
  id: 'resp_1',
  created_at: 1700000000,
  model: 'm',
  instructions: null,
  tools: [],
  tool_choice: 'auto',
  parallel_tool_calls: true,
  temperature: null,
  top_p: null,
  max_output_tokens: null,
  top_logprobs: null,
  metadata: null,
  text: { format: { type: 'text' } },
  store: false,
  truncation: 'disabled',
  previous_response_id: null,
};

type Delta = ChatCompletionChunk['choices'][number]['delta'];

function chunk(delta: Delta, finish: string | null = null): ChatCompletionChunk {
  return {
    id: 'c',
    object: 'chat.completion.chunk',
    created: 1,
    model: 'm',
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
  };
}

const USAGE: ChatCompletionChunk = {
  id: 'c',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'm',
  choices: [],
  usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 },
};

function run(chunks: ChatCompletionChunk[][]): ResponseEvent[] {
  const stream = new ResponseStream(ECHO);
  return [...chunks.flatMap((batch) => stream.present(batch)), ...stream.done()];
}

const types = (events: readonly ResponseEvent[]) => events.map((event) => event.type);
const finalResponse = (events: readonly ResponseEvent[]) =>
  events.at(-1)!.response as { status: string; output: Record<string, unknown>[]; usage?: unknown };

describe('ResponseStream: chat chunks → Responses events', () => {
  it('an empty answer still opens and completes the response, with no items', () => {
    const events = run([[chunk({ role: 'assistant', content: '' })], [chunk({ content: '' }, 'stop')], [USAGE]]);
    expect(types(events)).toEqual(['response.created', 'response.in_progress', 'response.completed']);
    expect(finalResponse(events)).toMatchObject({ status: 'completed', output: [], usage: { total_tokens: 7 } });
  });

  it('reasoning, text, a call, more text: each its own item, in order, each closed before the next opens', () => {
    const events = run([
      [chunk({ reasoning_content: 'think' })],
      [chunk({ content: 'Sure.' })],
      [chunk({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'f', arguments: '' } }] })],
      [chunk({ tool_calls: [{ index: 0, function: { arguments: '{"a":' } }] })],
      [chunk({ tool_calls: [{ index: 0, function: { arguments: '1}' } }] }, 'tool_calls')],
      [USAGE],
    ]);
    const output = finalResponse(events).output;
    expect(output.map((item) => item.type)).toEqual(['reasoning', 'message', 'function_call']);
    expect(output[2]).toMatchObject({ call_id: 'call_1', name: 'f', arguments: '{"a":1}', status: 'completed' });
    // Items are opened and closed strictly one at a time.
    let open: unknown;
    for (const event of events) {
      if (event.type === 'response.output_item.added') {
        expect(open).toBeUndefined();
        open = event.output_index;
      }
      if (event.type === 'response.output_item.done') {
        expect(event.output_index).toBe(open);
        open = undefined;
      }
    }
    events.forEach((event, i) => expect(event.sequence_number).toBe(i));
  });

  it('finish_reason length: response.incomplete, its message item incomplete', () => {
    const events = run([[chunk({ content: 'one two' }, 'length')]]);
    expect(events.at(-1)!.type).toBe('response.incomplete');
    const response = finalResponse(events);
    expect(response).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } });
    expect(response.output[0]).toMatchObject({ type: 'message', status: 'incomplete' });
    expect(conformsTo('ResponseIncompleteEvent', events.at(-1))).toBe('');
  });

  it('an error: OpenAI’s error event fields, and the envelope SDKs raise, numbered after what came before', () => {
    const stream = new ResponseStream(ECHO);
    const before = stream.present([chunk({ content: 'par' })]);
    const error = stream.error(new UpstreamTimeoutError('The upstream went quiet.'));
    expect(error).toMatchObject({
      type: 'error',
      code: 'upstream_timeout',
      message: 'The upstream went quiet.',
      param: null,
      sequence_number: before.length,
      error: { type: 'upstream_error', code: 'upstream_timeout', message: 'The upstream went quiet.' },
    });
    expect(conformsTo('ResponseErrorEvent', error)).toBe('');
  });

  it('encodes each event with an event: line naming its type', () => {
    const stream = new ResponseStream(ECHO);
    const [created] = stream.present([]);
    expect(stream.encode(created!)).toBe(`event: response.created\ndata: ${JSON.stringify(created)}\n\n`);
  });
});
