/**
 * `POST /v1/responses` on a real proxy: the demo SGT, the proxy holding the output-protection key,
 * a recording tap in front of the reference server in scripted mode (encrypting its answers).
 * Every answer is checked against OpenAI's own Response and stream-event schemas.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createDecryptingFetch, generateKeyPair, publicKeyHeader } from '../../src/client/index.js';
import { loadSgt, type Sgt } from '../../src/sgt/index.js';
import { DEMO_SGT_DIR, IDENTITY_SGT_DIR } from '../support/artifacts.js';
import { postJson, startProxy, type ProxyUnderTest } from '../support/proxy-harness.js';
import { openAiSchemas, type OpenAiSchemaName } from '../support/schema-check.js';
import { WEATHER_CALL_TEXT, startScriptedReference, type ScriptedSetup } from '../support/scripted-reference.js';
import {
  completionChunk,
  hang,
  sse,
  startScriptedUpstream,
  streamThenStall,
  type ScriptedUpstream,
} from '../support/scripted-upstream.js';

const conformsTo = openAiSchemas();

let sgt: Sgt;
let setup: ScriptedSetup;
let tap: ScriptedUpstream;
let reference: ScriptedSetup['reference'];
let proxy: ProxyUnderTest;
let reasoningProxy: ProxyUnderTest;
let passThroughProxy: ProxyUnderTest;
let identity: Sgt;
let raw: ScriptedUpstream;
let rawProxy: ProxyUnderTest;

beforeAll(async () => {
  setup = await startScriptedReference(DEMO_SGT_DIR);
  ({ sgt, tap, reference } = setup);
  proxy = await startProxy({ sgt, upstreamUrl: tap.url, protection: { decrypt: true } });
  reasoningProxy = await startProxy({
    sgt,
    upstreamUrl: tap.url,
    protection: { decrypt: true },
    settings: { chat: { reasoningParser: 'qwen3' } },
  });
  passThroughProxy = await startProxy({ sgt, upstreamUrl: tap.url });
  identity = await loadSgt(IDENTITY_SGT_DIR);
  raw = await startScriptedUpstream(() => undefined);
  rawProxy = await startProxy({ sgt: identity, upstreamUrl: raw.url, upstreamTimeoutMs: 500 });
});

afterAll(async () => {
  for (const closable of [rawProxy, raw, passThroughProxy, reasoningProxy, proxy, setup, identity]) {
    await closable?.close();
  }
});

const WEATHER = {
  type: 'function',
  name: 'get_weather',
  description: 'Looks up the current weather in a lighthouse town',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};
const CALL_TEXT = WEATHER_CALL_TEXT;

function post(body: Record<string, unknown>, through = proxy, headers: Record<string, string> = {}) {
  return postJson(`${through.url}/v1/responses`, { model: sgt.metadata.baseModel, ...body }, headers);
}

interface Event {
  type: string;
  sequence_number: number;
  [field: string]: unknown;
}

/** The named events of a Responses stream, each checked: its `event:` line names its type. */
function parseEvents(text: string): Event[] {
  const blocks = text.split('\n\n').filter((block) => block !== '' && !block.startsWith(':'));
  return blocks.map((block) => {
    const name = /^event: (.+)$/m.exec(block)?.[1];
    const data = /^data: (.+)$/m.exec(block)?.[1];
    const event = JSON.parse(data ?? 'null') as Event;
    expect(name).toBe(event.type);
    return event;
  });
}

/** Each event against OpenAI's schema of its type: `response.output_text.delta` → ResponseTextDeltaEvent. */
const EVENT_SCHEMAS: Record<string, OpenAiSchemaName> = {
  'response.created': 'ResponseCreatedEvent',
  'response.in_progress': 'ResponseInProgressEvent',
  'response.completed': 'ResponseCompletedEvent',
  'response.incomplete': 'ResponseIncompleteEvent',
  'response.output_item.added': 'ResponseOutputItemAddedEvent',
  'response.output_item.done': 'ResponseOutputItemDoneEvent',
  'response.content_part.added': 'ResponseContentPartAddedEvent',
  'response.content_part.done': 'ResponseContentPartDoneEvent',
  'response.output_text.delta': 'ResponseTextDeltaEvent',
  'response.output_text.done': 'ResponseTextDoneEvent',
  'response.function_call_arguments.delta': 'ResponseFunctionCallArgumentsDeltaEvent',
  'response.function_call_arguments.done': 'ResponseFunctionCallArgumentsDoneEvent',
  'response.reasoning_text.delta': 'ResponseReasoningTextDeltaEvent',
  'response.reasoning_text.done': 'ResponseReasoningTextDoneEvent',
  error: 'ResponseErrorEvent',
};

function expectConforming(events: readonly Event[]): void {
  events.forEach((event, i) => {
    expect(event.sequence_number).toBe(i);
    const schema = EVENT_SCHEMAS[event.type];
    expect(schema, event.type).toBeDefined();
    expect(conformsTo(schema!, event), event.type).toBe('');
  });
}

async function streamed(body: Record<string, unknown>, through = proxy): Promise<Event[]> {
  const response = await post({ ...body, stream: true }, through);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toContain('text/event-stream');
  const text = await response.text();
  expect(text).not.toContain('[DONE]');
  const events = parseEvents(text);
  expectConforming(events);
  return events;
}

describe('POST /v1/responses, non-stream', () => {
  it('text input: one message item with the answer, usage, and the request echoed', async () => {
    await reference.replyWith({ text: 'Hello from the harbour.' });
    const response = await post({ input: 'Say hello', instructions: 'Be brief.', metadata: { run: '7' } });
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, unknown>;
    expect(conformsTo('Response', body)).toBe('');
    expect(body).toMatchObject({
      object: 'response',
      status: 'completed',
      instructions: 'Be brief.',
      metadata: { run: '7' },
      store: false,
      output: [
        { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Hello from the harbour.' }] },
      ],
      usage: { input_tokens: expect.any(Number), output_tokens: expect.any(Number) },
    });
    expect(body.id).toMatch(/^resp_[0-9a-f]{32}$/);
    // The instructions and input went through the transform: never in the upstream's bytes.
    const sent = tap.requests.map((request) => request.raw.toString('utf8')).join('');
    expect(sent).not.toContain('Be brief');
    expect(sent).not.toContain('Say hello');
    expect(tap.requests[0]!.json()).toHaveProperty('prompt_embeds');
  });

  it('a function tool: the call block becomes a function_call item; names and descriptions never go up in plaintext', async () => {
    await reference.replyWith({ text: CALL_TEXT });
    const response = await post({ input: 'Weather in Paris?', tools: [WEATHER] });
    const body = (await response.json()) as { output: Record<string, unknown>[]; tools: unknown[] };
    expect(conformsTo('Response', body)).toBe('');
    expect(body.output).toEqual([
      expect.objectContaining({
        type: 'function_call',
        name: 'get_weather',
        status: 'completed',
        call_id: expect.any(String),
      }),
    ]);
    expect(JSON.parse(body.output[0]!.arguments as string)).toEqual({ city: 'Paris' });
    expect(body.tools).toEqual([{ ...WEATHER, strict: null }]);
    const sent = tap.requests.map((request) => request.raw.toString('utf8')).join('');
    for (const secret of ['get_weather', 'lighthouse town', 'Paris']) expect(sent).not.toContain(secret);
  });

  it('max_output_tokens reached: status incomplete, reason max_output_tokens', async () => {
    await reference.replyWith({ text: 'one two three four five six seven eight nine ten' });
    const response = await post({ input: 'Count', max_output_tokens: 2 });
    const body = (await response.json()) as Record<string, unknown>;
    expect(conformsTo('Response', body)).toBe('');
    expect(body).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } });
    expect(tap.requests[0]!.json()).toMatchObject({ max_tokens: 2 });
  });

  it('text.format json_schema is forwarded as structured outputs (the one schema vLLM must see)', async () => {
    await reference.replyWith({ text: '{"city": "Paris"}' });
    const schema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };
    const response = await post({
      input: 'JSON please',
      text: { format: { type: 'json_schema', name: 'place', schema } },
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { output: { content: { text: string }[] }[] };
    expect(JSON.parse(body.output[0]!.content[0]!.text)).toEqual({ city: 'Paris' });
    expect(tap.requests[0]!.json()).toMatchObject({ structured_outputs: { json: schema } });
  });
});

describe('POST /v1/responses, streaming', () => {
  it('text: created, in_progress, the message item opened, deltas, closed in full, completed with usage', async () => {
    await reference.replyWith({ tokens: ['Hel', 'lo', ' there'] });
    const events = await streamed({ input: 'Say hello' });
    expect(events.map((event) => event.type)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    const deltas = events.filter((event) => event.type === 'response.output_text.delta').map((event) => event.delta);
    expect(deltas).toEqual(['Hel', 'lo', ' there']);
    expect(events.find((event) => event.type === 'response.output_text.done')).toMatchObject({ text: 'Hello there' });
    const completed = events.at(-1)!.response as Record<string, unknown>;
    expect(completed).toMatchObject({
      status: 'completed',
      output: [{ type: 'message', status: 'completed', content: [{ text: 'Hello there' }] }],
      usage: { output_tokens: expect.any(Number), total_tokens: expect.any(Number) },
    });
  });

  it('a tool call streams as a function_call item with argument deltas; text before it is its own message', async () => {
    await reference.replyWith({ text: `Let me look.${CALL_TEXT}` });
    const events = await streamed({ input: 'Weather in Paris?', tools: [WEATHER] });
    const added = events.filter((event) => event.type === 'response.output_item.added').map((event) => event.item);
    expect(added).toEqual([
      expect.objectContaining({ type: 'message' }),
      expect.objectContaining({ type: 'function_call', name: 'get_weather', arguments: '' }),
    ]);
    const args = events
      .filter((event) => event.type === 'response.function_call_arguments.delta')
      .map((event) => event.delta)
      .join('');
    expect(JSON.parse(args)).toEqual({ city: 'Paris' });
    const done = events.find((event) => event.type === 'response.function_call_arguments.done');
    expect(done).toMatchObject({ name: 'get_weather', arguments: args, output_index: 1 });
    const final = events.at(-1)!;
    expect(final.type).toBe('response.completed');
    expect((final.response as { output: { type: string }[] }).output.map((item) => item.type)).toEqual([
      'message',
      'function_call',
    ]);
  });

  it('with SGP_REASONING_PARSER the thinking is a reasoning item before the message', async () => {
    await reference.replyWith({ text: '<think>The harbour is calm.</think>It is calm.' });
    const events = await streamed({ input: 'How is the sea?' }, reasoningProxy);
    const thinking = events
      .filter((event) => event.type === 'response.reasoning_text.delta')
      .map((event) => event.delta)
      .join('');
    expect(thinking).toBe('The harbour is calm.');
    const output = (events.at(-1)!.response as { output: Record<string, unknown>[] }).output;
    expect(output.map((item) => item.type)).toEqual(['reasoning', 'message']);
    expect(output[1]).toMatchObject({ content: [{ text: 'It is calm.' }] });
  });

  it('an upstream that breaks off: one error event, the last, with the error for SDKs to raise', async () => {
    raw.setBehaviour(streamThenStall('partial'));
    const response = await post({ input: 'hi', stream: true, model: undefined }, rawProxy);
    const events = parseEvents(await response.text());
    expectConforming(events);
    expect(events.map((event) => event.type)).toContain('response.output_text.delta');
    const last = events.at(-1)!;
    expect(last).toMatchObject({ type: 'error', code: 'upstream_timeout', error: { code: 'upstream_timeout' } });
  });

  it('a stream without [DONE] is truncated, not completed', async () => {
    raw.setBehaviour((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.end(sse(completionChunk('cut', null)));
    });
    const response = await post({ input: 'hi', stream: true, model: undefined }, rawProxy);
    const events = parseEvents(await response.text());
    expect(events.map((event) => event.type)).not.toContain('response.completed');
    expect(events.at(-1)).toMatchObject({ type: 'error', code: 'upstream_protocol_error' });
    expect(events.at(-1)!.message as string).toContain('[DONE]');
  });
});

describe("POST /v1/responses with the client's own key (pass-through)", () => {
  const keys = generateKeyPair();
  const keyHeaders = { 'x-client-public-key': publicKeyHeader(keys.publicKey), 'x-output-protection-version': '2' };

  it('relays the sealed text: OpenAI-shaped events whose deltas are ciphertext, the echo in the clear', async () => {
    await reference.replyWith({ tokens: ['Hello', ' from', ' the harbour.'] });
    const response = await fetch(`${passThroughProxy.url}/v1/responses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...keyHeaders },
      body: JSON.stringify({
        model: sgt.metadata.baseModel,
        input: 'Say hello',
        instructions: 'Be brief.',
        stream: true,
      }),
    });
    expect(response.headers.get('x-server-public-key')).not.toBeNull();
    const events = parseEvents(await response.text());
    expectConforming(events);
    const deltas = events.filter((event) => event.type === 'response.output_text.delta').map((event) => event.delta);
    expect(deltas).toHaveLength(3);
    for (const delta of deltas) expect(delta).not.toMatch(/Hello|from|harbour/);
    expect(events[0]).toMatchObject({ type: 'response.created', response: { instructions: 'Be brief.' } });
  });

  it('the decrypting fetch opens it; a tampered delta ends the rebuilt stream with an error event, never text', async () => {
    await reference.replyWith({ tokens: ['Hello', ' there'] });
    const tampering: typeof globalThis.fetch = async (input, init) => {
      const answer = await fetch(input, init);
      const text = (await answer.text()).replace(
        /"delta":"(.)/,
        (_all, first: string) => `"delta":"${first === 'A' ? 'B' : 'A'}`,
      );
      return new Response(text, { status: answer.status, headers: answer.headers });
    };
    const decrypting = createDecryptingFetch({ keyPair: keys, fetch: tampering });
    const answer = await decrypting(`${passThroughProxy.url}/v1/responses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: sgt.metadata.baseModel, input: 'Say hello', stream: true }),
    });
    const events = parseEvents(await answer.text());
    expectConforming(events);
    expect(events.map((event) => event.type)).not.toContain('response.completed');
    expect(events.at(-1)).toMatchObject({ type: 'error', code: 'output_decryption_failed' });
    expect(events.filter((event) => event.type === 'response.output_text.delta')).toHaveLength(0);
  });
});

describe('POST /v1/responses, client disconnect', () => {
  it('aborting after the first token closes the upstream connection', async () => {
    raw.setBehaviour(streamThenStall('first'));
    const controller = new AbortController();
    const response = await postJson(
      `${rawProxy.url}/v1/responses`,
      { input: 'hi', stream: true },
      {},
      controller.signal,
    );
    const reader = response.body!.getReader();
    const { value } = await reader.read();
    expect(new TextDecoder().decode(value)).toContain('event: response.created');
    const aborted = raw.nextAbort();
    controller.abort();
    expect((await aborted).path).toBe('/v1/completions');
  });

  it('aborting before the first token closes the upstream request', async () => {
    raw.setBehaviour(hang);
    raw.requests.length = 0;
    const controller = new AbortController();
    const pending = postJson(
      `${rawProxy.url}/v1/responses`,
      { input: 'hi', stream: true },
      {},
      controller.signal,
    ).catch((err: Error) => err);
    await vi.waitFor(() => expect(raw.requests).toHaveLength(1));
    const aborted = raw.nextAbort();
    controller.abort();
    await aborted;
    expect(await pending).toBeInstanceOf(Error);
  });
});

describe('POST /v1/responses, what it refuses', () => {
  const cases: [string, Record<string, unknown>, string | null, string][] = [
    [
      'previous_response_id',
      { input: 'hi', previous_response_id: 'resp_1' },
      'previous_response_id',
      'unsupported_parameter',
    ],
    ['store: true', { input: 'hi', store: true }, 'store', 'unsupported_parameter'],
    ['an item reference', { input: [{ type: 'item_reference', id: 'fc_1' }] }, 'input[0]', 'unsupported_parameter'],
    ['a web search tool', { input: 'hi', tools: [{ type: 'web_search' }] }, 'tools[0]', 'unsupported_parameter'],
    [
      'an image',
      { input: [{ role: 'user', content: [{ type: 'input_image', image_url: 'https://x/y.png' }] }] },
      'input[0].content[0]',
      'unsupported_parameter',
    ],
    [
      'an unknown tool in tool_choice',
      { input: 'hi', tools: [WEATHER], tool_choice: { type: 'function', name: 'nope' } },
      'tool_choice',
      'invalid_value',
    ],
    [
      'a malformed tool',
      { input: 'hi', tools: [{ type: 'function', name: 'has space' }] },
      'tools[0].name',
      'invalid_value',
    ],
    [
      'an invalid JSON schema',
      { input: 'hi', text: { format: { type: 'json_schema', name: 'x', schema: { type: 'nonsense' } } } },
      'text.format.schema',
      'invalid_value',
    ],
    ['top_logprobs without the include', { input: 'hi', top_logprobs: 2 }, 'top_logprobs', 'invalid_value'],
    ['an empty input', { input: [] }, 'input', 'invalid_value'],
    ['reasoning effort', { input: 'hi', reasoning: { effort: 'high' } }, 'reasoning', 'unsupported_parameter'],
    [
      'logprobs with tools',
      { input: 'hi', tools: [WEATHER], include: ['message.output_text.logprobs'] },
      'include',
      'unsupported_parameter',
    ],
  ];
  it.each(cases)('%s: a 400 naming the field, nothing sent upstream', async (_name, body, param, code) => {
    tap.requests.length = 0;
    const response = await post(body);
    expect(response.status).toBe(400);
    const { error } = (await response.json()) as { error: { param: string | null; code: string } };
    expect(error).toMatchObject({ param, code });
    expect(tap.requests).toHaveLength(0);
  });

  it("include logprobs with the client's own key: a 400 naming include", async () => {
    tap.requests.length = 0;
    const key = Buffer.alloc(32, 7).toString('base64');
    const response = await post({ input: 'hi', include: ['message.output_text.logprobs'] }, passThroughProxy, {
      'x-client-public-key': key,
    });
    expect(response.status).toBe(400);
    const { error } = (await response.json()) as { error: { param: string; code: string } };
    expect(error).toMatchObject({ param: 'include', code: 'unsupported_parameter' });
    expect(tap.requests).toHaveLength(0);
  });
});
