import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sgt } from '../../src/sgt/index.js';
import { DEMO_SGT_DIR } from '../support/artifacts.js';
import { startProxy, type ProxyUnderTest } from '../support/proxy-harness.js';
import { captureLogger } from '../support/capture-logger.js';
import { PROTECTION_MODES, proxyProtection, sdkFetch, type ProtectionMode } from '../support/protection-modes.js';
import { WEATHER_CALL_TEXT, startScriptedReference, type ScriptedSetup } from '../support/scripted-reference.js';
import type { ScriptedUpstream } from '../support/scripted-upstream.js';

/**
 * Tools, structured outputs and reasoning end to end with the official OpenAI SDK: SDK → proxy
 * (demo SGT with its noise) → a recording tap → reference server in scripted mode (encrypting its
 * answers), in both protection modes: the proxy holding the key and decrypting, and pass-through,
 * where the SDK is given the client library's decrypting `fetch`. Each test gives the reference
 * server the model output it should "generate"; the tap shows what left the proxy.
 */

let setup: ScriptedSetup;
let sgt: Sgt;
let reference: ScriptedSetup['reference'];
let tap: ScriptedUpstream;
let plaintextProxy: ProxyUnderTest;
const logs = captureLogger();
const logLines = logs.lines;

beforeAll(async () => {
  setup = await startScriptedReference(DEMO_SGT_DIR);
  ({ sgt, tap, reference } = setup);
  // SGP_OUTPUT_DECRYPTION=false and no client key: a plaintext answer, the one set-up with logprobs.
  plaintextProxy = await startProxy({ sgt, upstreamUrl: tap.url });
});

afterAll(async () => {
  await plaintextProxy?.close();
  await setup?.close();
});

const client = (through: ProxyUnderTest, fetch: { fetch?: typeof globalThis.fetch } = {}) =>
  new OpenAI({ baseURL: `${through.url}/v1`, apiKey: 'not-needed', maxRetries: 0, ...fetch });

const WEATHER: OpenAI.ChatCompletionTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Looks up the current weather in a lighthouse town',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string', description: 'the harbour city' } },
      required: ['city'],
    },
  },
};
const CALL_TEXT = WEATHER_CALL_TEXT;
const ASK: OpenAI.ChatCompletionMessageParam = { role: 'user', content: 'What is the weather in Paris?' };

/** What left the proxy for the upstream: its raw bytes, as text. */
function upstreamBytes(): string {
  return tap.requests.map((request) => request.raw.toString('utf8')).join('\n');
}

/** Tool names, descriptions and schema words must never travel in plaintext (only as embeddings). */
function expectNoToolPlaintext(): void {
  const sent = upstreamBytes();
  for (const secret of ['get_weather', 'lighthouse town', 'harbour city', 'Paris']) expect(sent).not.toContain(secret);
  for (const request of tap.requests) expect(request.json()).not.toHaveProperty('tools');
}

function functionCall(call: OpenAI.ChatCompletionMessageToolCall | undefined): { name: string; arguments: string } {
  if (call?.type !== 'function') throw new Error('expected a function call');
  return call.function;
}

describe.each(PROTECTION_MODES)('the openai SDK with tools through the private path (%s)', (mode: ProtectionMode) => {
  let proxy: ProxyUnderTest;
  let reasoningProxy: ProxyUnderTest;
  beforeAll(async () => {
    proxy = await startProxy({ sgt, upstreamUrl: tap.url, protection: proxyProtection(mode), logger: logs.logger });
    reasoningProxy = await startProxy({
      sgt,
      upstreamUrl: tap.url,
      protection: proxyProtection(mode),
      settings: { chat: { reasoningParser: 'qwen3' } },
    });
  });
  afterAll(async () => {
    await reasoningProxy?.close();
    await proxy?.close();
  });
  const openai = () => client(proxy, sdkFetch(mode));
  // In pass-through the proxy cannot read the answer: the client parses reasoning, as the proxy would.
  const reasoningOpenai = () => client(reasoningProxy, sdkFetch(mode, { reasoningParser: 'qwen3' }));

  it('non-stream: the model’s call block becomes message.tool_calls, finish_reason tool_calls', async () => {
    await reference.replyWith({ text: CALL_TEXT });
    const completion = await openai().chat.completions.create({
      model: sgt.metadata.baseModel,
      messages: [ASK],
      tools: [WEATHER],
    });
    const choice = completion.choices[0]!;
    expect(choice.finish_reason).toBe('tool_calls');
    expect(choice.message.content).toBeNull();
    const call = functionCall(choice.message.tool_calls?.[0]);
    expect(call.name).toBe('get_weather');
    expect(JSON.parse(call.arguments)).toEqual({ city: 'Paris' });
    expect(choice.message.tool_calls![0]!.id).toMatch(/^chatcmpl-tool-[0-9a-f]{32}$/);
    expectNoToolPlaintext();
    const sent = tap.requests[0]!.json();
    expect(sent).toMatchObject({ skip_special_tokens: false });
    expect(tap.requests[0]!.headers['x-client-public-key']).toBeDefined(); // the answer came encrypted
  });

  it('a two-turn tool loop: the call and the tool result go back in the history', async () => {
    await reference.replyWith({ text: CALL_TEXT }, { text: 'It is sunny in the harbour.' });
    const first = await openai().chat.completions.create({
      model: sgt.metadata.baseModel,
      messages: [ASK],
      tools: [WEATHER],
    });
    const assistant = first.choices[0]!.message;
    const call = assistant.tool_calls![0]!;
    const second = await openai().chat.completions.create({
      model: sgt.metadata.baseModel,
      tools: [WEATHER],
      messages: [
        ASK,
        { role: 'assistant', content: assistant.content, tool_calls: assistant.tool_calls },
        { role: 'tool', tool_call_id: call.id, content: JSON.stringify({ city: 'Paris', sky: 'sunny' }) },
      ],
    });
    expect(second.choices[0]!.message.content).toBe('It is sunny in the harbour.');
    expect(second.choices[0]!.finish_reason).toBe('stop');
    expect(tap.requests).toHaveLength(2);
    expectNoToolPlaintext();
    // The second prompt (history with the call and the tool's answer) is longer than the first.
    const tokens = tap.requests.map((request) => Buffer.from(String(request.json().prompt_embeds), 'base64').length);
    expect(tokens[1]).toBeGreaterThan(tokens[0]!);
  });

  it('stream: delta.tool_calls carries index, id, type and name, then the arguments; finish_reason tool_calls', async () => {
    await reference.replyWith({
      tokens: [
        'Let me check. ',
        '<tool_',
        'call>\n{"name": "get_',
        'weather", "arguments": ',
        '{"city": "Paris"}}\n</tool_call>',
      ],
    });
    const stream = await openai().chat.completions.create({
      model: sgt.metadata.baseModel,
      messages: [ASK],
      tools: [WEATHER],
      stream: true,
    });
    let content = '';
    const calls: { id?: string; type?: string; name?: string; arguments: string }[] = [];
    let finish: string | null = null;
    for await (const chunk of stream) {
      const choice = chunk.choices[0];
      if (!choice) continue;
      content += choice.delta.content ?? '';
      for (const delta of choice.delta.tool_calls ?? []) {
        const call = (calls[delta.index] ??= { arguments: '' });
        if (delta.id) call.id = delta.id;
        if (delta.type) call.type = delta.type;
        if (delta.function?.name) call.name = delta.function.name;
        call.arguments += delta.function?.arguments ?? '';
      }
      if (choice.finish_reason) finish = choice.finish_reason;
    }
    expect(content).toBe('Let me check. ');
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({
      id: expect.stringMatching(/^chatcmpl-tool-/),
      type: 'function',
      name: 'get_weather',
    });
    expect(JSON.parse(calls[0]!.arguments)).toEqual({ city: 'Paris' });
    expect(finish).toBe('tool_calls');
    expectNoToolPlaintext();
  });

  it('tool_choice naming a function: the output is its arguments (structured outputs), finish_reason stop', async () => {
    await reference.replyWith({ text: '{"city": "Paris"}' });
    const completion = await openai().chat.completions.create({
      model: sgt.metadata.baseModel,
      messages: [ASK],
      tools: [WEATHER],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
    });
    const choice = completion.choices[0]!;
    expect(functionCall(choice.message.tool_calls?.[0]).name).toBe('get_weather');
    expect(JSON.parse(functionCall(choice.message.tool_calls?.[0]).arguments)).toEqual({ city: 'Paris' });
    expect(choice.finish_reason).toBe('stop');
    // The one place a schema travels in plaintext: vLLM needs it to constrain decoding.
    expect(tap.requests[0]!.json().structured_outputs).toEqual({ json: WEATHER.function.parameters });
  });

  it('tool_choice required: the forced [{name, parameters}] array becomes calls, finish_reason tool_calls', async () => {
    await reference.replyWith({ text: '[{"name": "get_weather", "parameters": {"city": "Paris"}}]' });
    const completion = await openai().chat.completions.create({
      model: sgt.metadata.baseModel,
      messages: [ASK],
      tools: [WEATHER],
      tool_choice: 'required',
    });
    const choice = completion.choices[0]!;
    expect(choice.finish_reason).toBe('tool_calls');
    expect(JSON.parse(functionCall(choice.message.tool_calls?.[0]).arguments)).toEqual({ city: 'Paris' });
    const constraint = tap.requests[0]!.json().structured_outputs as { json: { type: string; minItems: number } };
    expect(constraint.json).toMatchObject({ type: 'array', minItems: 1 });
  });

  it('response_format json_schema: forwarded as structured_outputs.json; the SDK reads the JSON content', async () => {
    await reference.replyWith({ text: '{"city": "Paris", "celsius": 21}' });
    const schema = {
      type: 'object',
      properties: { city: { type: 'string' }, celsius: { type: 'number' } },
      required: ['city', 'celsius'],
      additionalProperties: false,
    };
    const completion = await openai().chat.completions.create({
      model: sgt.metadata.baseModel,
      messages: [ASK],
      response_format: { type: 'json_schema', json_schema: { name: 'weather', schema, strict: true } },
    });
    expect(JSON.parse(completion.choices[0]!.message.content!)).toEqual({ city: 'Paris', celsius: 21 });
    expect(tap.requests[0]!.json().structured_outputs).toEqual({ json: schema });
    expect(tap.requests[0]!.json()).not.toHaveProperty('response_format');
  });

  it('response_format json_object: structured_outputs.json_object', async () => {
    await reference.replyWith({ text: '{"ok": true}' });
    const completion = await openai().chat.completions.create({
      model: sgt.metadata.baseModel,
      messages: [ASK],
      response_format: { type: 'json_object' },
    });
    expect(JSON.parse(completion.choices[0]!.message.content!)).toEqual({ ok: true });
    expect(tap.requests[0]!.json().structured_outputs).toEqual({ json_object: true });
  });

  it('a call block that is not JSON stays content, with a warning that does not carry the text', async () => {
    await reference.replyWith({
      text: 'Sure: <tool_call>{"name": "get_weather", "arguments": {city: Paris}}</tool_call>',
    });
    logLines.length = 0;
    const completion = await openai().chat.completions.create({
      model: sgt.metadata.baseModel,
      messages: [ASK],
      tools: [WEATHER],
    });
    const choice = completion.choices[0]!;
    expect(choice.message.content).toBe(
      'Sure: <tool_call>{"name": "get_weather", "arguments": {city: Paris}}</tool_call>',
    );
    expect(choice.message.tool_calls).toBeUndefined();
    expect(choice.finish_reason).toBe('stop');
    const warning = logLines.find((line) => String(line.msg).includes('tool-call block'));
    // In pass-through the proxy never saw the text; the client's parser passes it on just the same.
    if (mode === 'proxy decrypts') expect(warning).toMatchObject({ reason: 'invalid-json', terminated: true });
    expect(JSON.stringify(logLines)).not.toContain('Paris');
  });

  it('tool_choice none: the block is left as content, no parsing', async () => {
    await reference.replyWith({ text: CALL_TEXT });
    const completion = await openai().chat.completions.create({
      model: sgt.metadata.baseModel,
      messages: [ASK],
      tools: [WEATHER],
      tool_choice: 'none',
    });
    expect(completion.choices[0]!.message.content).toBe(CALL_TEXT);
    expect(completion.choices[0]!.finish_reason).toBe('stop');
  });

  it('SGP_REASONING_PARSER=qwen3: thinking goes to reasoning_content, stream and non-stream, before tool parsing', async () => {
    await reference.replyWith({ tokens: ['<think>', 'Use the ', 'tool.', '</think>', '\n\n', CALL_TEXT] });
    const completion = await reasoningOpenai().chat.completions.create({
      model: sgt.metadata.baseModel,
      messages: [ASK],
      tools: [WEATHER],
    });
    const message = completion.choices[0]!.message as OpenAI.ChatCompletionMessage & { reasoning_content?: string };
    expect(message.reasoning_content).toBe('Use the tool.');
    expect(functionCall(message.tool_calls?.[0]).name).toBe('get_weather');

    const stream = await reasoningOpenai().chat.completions.create({
      model: sgt.metadata.baseModel,
      messages: [ASK],
      tools: [WEATHER],
      stream: true,
    });
    let reasoning = '';
    let names = '';
    for await (const chunk of stream) {
      const delta = chunk.choices[0]?.delta as
        (OpenAI.ChatCompletionChunk.Choice.Delta & { reasoning_content?: string }) | undefined;
      reasoning += delta?.reasoning_content ?? '';
      names += (delta?.tool_calls ?? []).map((call) => call.function?.name ?? '').join('');
    }
    expect(reasoning).toBe('Use the tool.');
    expect(names).toBe('get_weather');
  });

  it('logprobs: sealed upstream (wire format v2), opened and mapped for the SDK (bytes, top_logprobs in order)', async () => {
    await reference.replyWith({ text: 'Sunny and mild.' });
    const completion = await openai().chat.completions.create({
      model: sgt.metadata.baseModel,
      messages: [ASK],
      logprobs: true,
      top_logprobs: 2,
    });
    const content = completion.choices[0]!.logprobs!.content!;
    expect(content.map((t) => t.token).join('')).toBe('Sunny and mild.');
    for (const token of content) {
      expect(token.bytes).toEqual([...Buffer.from(token.token, 'utf8')]);
      expect(token.top_logprobs.length).toBeGreaterThan(0);
      expect(token.top_logprobs.length).toBeLessThanOrEqual(2);
      const values = token.top_logprobs.map((t) => t.logprob);
      expect(values).toEqual([...values].sort((a, b) => b - a));
    }
    expect(tap.requests[0]!.headers['x-output-protection-version']).toBe('2');
    expect(tap.requests[0]!.json()).toMatchObject({ logprobs: 2 });
    await reference.replyWith({ text: 'Sunny and mild.' });
    const stream = await openai().chat.completions.create({
      model: sgt.metadata.baseModel,
      messages: [ASK],
      logprobs: true,
      stream: true,
    });
    let streamed = '';
    for await (const chunk of stream)
      streamed += (chunk.choices[0]?.logprobs?.content ?? []).map((t) => t.token).join('');
    expect(streamed).toBe('Sunny and mild.');
  });

  it('chat_template_kwargs reach the chat template (enable_thinking: false renders an empty think block)', async () => {
    await reference.replyWith({ text: 'ok' }, { text: 'ok' });
    const ask = { model: sgt.metadata.baseModel, messages: [ASK] };
    await openai().chat.completions.create(ask);
    await openai().chat.completions.create({ ...ask, chat_template_kwargs: { enable_thinking: false } } as typeof ask);
    const sizes = tap.requests.map((request) => Buffer.from(String(request.json().prompt_embeds), 'base64').length);
    expect(sizes[1]).toBeGreaterThan(sizes[0]!); // `<think>\n\n</think>\n\n` more tokens
    expect(tap.requests[1]!.json()).not.toHaveProperty('chat_template_kwargs');
  });
});

describe('the openai SDK, a plaintext upstream', () => {
  it('logprobs with a plaintext upstream: the SDK reads token, logprob, bytes and top_logprobs', async () => {
    await reference.replyWith({ text: 'Sunny and mild.' }, { text: 'Sunny and mild.' });
    const ask = { model: sgt.metadata.baseModel, messages: [ASK], logprobs: true, top_logprobs: 2 };
    const completion = await client(plaintextProxy).chat.completions.create(ask);
    const content = completion.choices[0]!.logprobs!.content!;
    expect(content.map((t) => t.token).join('')).toBe('Sunny and mild.');
    for (const token of content) {
      expect(token.bytes).toEqual([...Buffer.from(token.token, 'utf8')]);
      expect(token.top_logprobs.length).toBeGreaterThan(0);
      expect(token.top_logprobs.length).toBeLessThanOrEqual(2);
      expect(token.top_logprobs[0]).toMatchObject({ token: token.token, logprob: token.logprob });
    }
    expect(tap.requests[0]!.json()).toMatchObject({ logprobs: 2 });
    const stream = await client(plaintextProxy).chat.completions.create({ ...ask, stream: true });
    let streamed = '';
    for await (const chunk of stream)
      streamed += (chunk.choices[0]?.logprobs?.content ?? []).map((t) => t.token).join('');
    expect(streamed).toBe('Sunny and mild.');
  });
});
