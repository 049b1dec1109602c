import { createOpenAI } from '@ai-sdk/openai';
import { generateText, stepCountIs, streamText, tool } from 'ai';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { Sgt } from '../../src/sgt/index.js';
import { DEMO_SGT_DIR } from '../support/artifacts.js';
import { startProxy, type ProxyUnderTest } from '../support/proxy-harness.js';
import { WEATHER_CALL_TEXT, startScriptedReference, type ScriptedSetup } from '../support/scripted-reference.js';
import type { ScriptedUpstream } from '../support/scripted-upstream.js';
import { PROTECTION_MODES, proxyProtection, sdkFetch, type ProtectionMode } from '../support/protection-modes.js';

/**
 * The Responses API end to end with the clients that call it: the `openai` SDK's
 * `responses.create` / `responses.stream`, and the Vercel AI SDK's default `openai(model)` provider.
 * SDK → proxy (demo SGT, the proxy holding the output-protection key) → a recording tap → the
 * reference server in scripted mode, which encrypts what it "generates".
 */

let setup: ScriptedSetup;
let sgt: Sgt;
let tap: ScriptedUpstream;
let reference: ScriptedSetup['reference'];

beforeAll(async () => {
  setup = await startScriptedReference(DEMO_SGT_DIR);
  ({ sgt, tap, reference } = setup);
});
afterAll(async () => setup?.close());

const CALL_TEXT = WEATHER_CALL_TEXT;
const WEATHER: OpenAI.Responses.FunctionTool = {
  type: 'function',
  name: 'get_weather',
  description: 'Looks up the current weather in a lighthouse town',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  strict: false,
};

/** Every request left the proxy sealed: the tool's name and the question only as embeddings. */
function expectNoPlaintext(): void {
  const sent = tap.requests.map((request) => request.raw.toString('utf8')).join('\n');
  for (const secret of ['get_weather', 'lighthouse town', 'Paris', 'weather in']) expect(sent).not.toContain(secret);
  for (const request of tap.requests) expect(request.headers['x-client-public-key']).toBeDefined();
}

describe.each(PROTECTION_MODES)('output protection: %s', (mode: ProtectionMode) => {
  let proxy: ProxyUnderTest;
  beforeAll(async () => {
    proxy = await startProxy({ sgt, upstreamUrl: tap.url, protection: proxyProtection(mode) });
  });
  afterAll(async () => proxy?.close());

  const openai = () =>
    new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: 'not-needed', maxRetries: 0, ...sdkFetch(mode) });

  describe('the openai SDK: responses', () => {
    it('responses.create: output_text, usage, status', async () => {
      await reference.replyWith({ text: 'Calm seas today.' });
      const response = await openai().responses.create({
        model: sgt.metadata.baseModel,
        instructions: 'Answer briefly.',
        input: 'How is the sea?',
      });
      expect(response.status).toBe('completed');
      expect(response.output_text).toBe('Calm seas today.');
      expect(response.usage?.output_tokens).toBeGreaterThan(0);
    });

    it('responses.stream: the SDK rebuilds the same response from the events', async () => {
      await reference.replyWith({ tokens: ['Calm', ' seas', ' today.'] });
      const stream = openai().responses.stream({ model: sgt.metadata.baseModel, input: 'How is the sea?' });
      const deltas: string[] = [];
      stream.on('response.output_text.delta', (event) => deltas.push(event.delta));
      const final = await stream.finalResponse();
      expect(deltas).toEqual(['Calm', ' seas', ' today.']);
      // The stream helper's final response has no output_text (it is made only by create()): the items hold the text.
      const texts = final.output.flatMap((item) => (item.type === 'message' ? item.content : []));
      expect(texts).toEqual([expect.objectContaining({ type: 'output_text', text: 'Calm seas today.' })]);
      expect(final.status).toBe('completed');
    });

    it('a two-turn tool loop: the function_call item and its output go back as input', async () => {
      await reference.replyWith({ text: CALL_TEXT }, { text: 'It is sunny in Paris.' });
      const input: OpenAI.Responses.ResponseInputItem[] = [{ role: 'user', content: 'What is the weather in Paris?' }];
      const first = await openai().responses.create({ model: sgt.metadata.baseModel, input, tools: [WEATHER] });
      const call = first.output.find((item) => item.type === 'function_call');
      if (call?.type !== 'function_call') throw new Error('expected a function call');
      expect(call.name).toBe('get_weather');
      expect(JSON.parse(call.arguments)).toEqual({ city: 'Paris' });
      const second = await openai().responses.create({
        model: sgt.metadata.baseModel,
        input: [...input, call, { type: 'function_call_output', call_id: call.call_id, output: '{"sky": "clear"}' }],
        tools: [WEATHER],
      });
      expect(second.output_text).toBe('It is sunny in Paris.');
      expectNoPlaintext();
    });

    it('streamed tool call: argument deltas, and the final response holds the call', async () => {
      await reference.replyWith({ text: CALL_TEXT });
      const stream = openai().responses.stream({
        model: sgt.metadata.baseModel,
        input: 'What is the weather in Paris?',
        tools: [WEATHER],
      });
      let args = '';
      stream.on('response.function_call_arguments.delta', (event) => (args += event.delta));
      const final = await stream.finalResponse();
      const call = final.output.find((item) => item.type === 'function_call');
      if (call?.type !== 'function_call') throw new Error('expected a function call');
      expect(JSON.parse(args)).toEqual({ city: 'Paris' });
      expect(call.arguments).toBe(args);
    });

    it('text, a call and text in one chunk: three items in that order', async () => {
      await reference.replyWith({ tokens: [`Before.${CALL_TEXT}After.`] });
      const stream = openai().responses.stream({ model: sgt.metadata.baseModel, input: 'Weather?', tools: [WEATHER] });
      const final = await stream.finalResponse();
      expect(final.output.map((item) => item.type)).toEqual(['message', 'function_call', 'message']);
      const texts = final.output.flatMap((item) => (item.type === 'message' ? item.content : []));
      expect(texts.map((part) => (part.type === 'output_text' ? part.text : ''))).toEqual(['Before.', 'After.']);
    });

    it('previous_response_id is refused with a clear 400', async () => {
      const error = await openai()
        .responses.create({ model: sgt.metadata.baseModel, input: 'hi', previous_response_id: 'resp_123' })
        .catch((err: unknown) => err);
      expect(error).toBeInstanceOf(OpenAI.BadRequestError);
      expect((error as InstanceType<typeof OpenAI.BadRequestError>).message).toContain('previous_response_id');
    });
  });

  describe("the Vercel AI SDK's default openai(model) provider (the Responses API)", () => {
    const provider = () => createOpenAI({ baseURL: `${proxy.url}/v1`, apiKey: 'not-needed', ...sdkFetch(mode) });
    const weather = tool({
      description: 'Looks up the current weather in a lighthouse town',
      inputSchema: z.object({ city: z.string() }),
      execute: async ({ city }) => ({ city, sky: 'clear' }),
    });

    it('generateText: text and usage', async () => {
      await reference.replyWith({ text: 'Calm seas today.' });
      const result = await generateText({ model: provider()(sgt.metadata.baseModel), prompt: 'How is the sea?' });
      expect(result.text).toBe('Calm seas today.');
      expect(result.finishReason).toBe('stop');
      expect(result.usage.outputTokens).toBeGreaterThan(0);
    });

    it('generateText with a tool(), two steps (store: false, so the call goes back as an item)', async () => {
      await reference.replyWith({ text: CALL_TEXT }, { text: 'It is sunny in Paris.' });
      const result = await generateText({
        model: provider()(sgt.metadata.baseModel),
        prompt: 'What is the weather in Paris?',
        tools: { get_weather: weather },
        stopWhen: stepCountIs(2),
        providerOptions: { openai: { store: false } },
      });
      const [first] = result.steps;
      expect(first?.finishReason).toBe('tool-calls');
      expect(first?.toolCalls).toEqual([
        expect.objectContaining({ toolName: 'get_weather', input: { city: 'Paris' } }),
      ]);
      expect(result.text).toBe('It is sunny in Paris.');
      // The second request carried the call and its result, sealed like everything else.
      expect(tap.requests).toHaveLength(2);
      expectNoPlaintext();
    });

    it('streamText with a tool(): the call streams, is parsed and executed', async () => {
      await reference.replyWith({ text: CALL_TEXT });
      const result = streamText({
        model: provider()(sgt.metadata.baseModel),
        prompt: 'What is the weather in Paris?',
        tools: { get_weather: weather },
      });
      const parts: string[] = [];
      for await (const part of result.fullStream) parts.push(part.type);
      const calls = await result.toolCalls;
      expect(calls).toEqual([expect.objectContaining({ toolName: 'get_weather', input: { city: 'Paris' } })]);
      expect(await result.toolResults).toEqual([expect.objectContaining({ output: { city: 'Paris', sky: 'clear' } })]);
      expect(await result.finishReason).toBe('tool-calls');
      expect(parts).toContain('tool-input-delta');
      expect(parts).not.toContain('error');
    });
  });

  describe('what a stateless server tells these clients', () => {
    it("the AI SDK's default store (true) refers to the earlier call by id: a 400 that says what to set", async () => {
      await reference.replyWith({ text: CALL_TEXT }, { text: 'never reached' });
      const provider = createOpenAI({ baseURL: `${proxy.url}/v1`, apiKey: 'not-needed', ...sdkFetch(mode) });
      const error = await generateText({
        model: provider(sgt.metadata.baseModel),
        prompt: 'What is the weather in Paris?',
        tools: {
          get_weather: tool({ inputSchema: z.object({ city: z.string() }), execute: async () => ({ sky: 'clear' }) }),
        },
        stopWhen: stepCountIs(2),
        maxRetries: 0,
      }).catch((err: unknown) => err);
      expect(String(error)).toContain('store = false');
      expect(tap.requests).toHaveLength(1); // the refused second step never reached the upstream
    });

    it.skipIf(mode === 'pass-through')(
      'logprobs (include message.output_text.logprobs): sealed upstream, opened and mapped',
      async () => {
        await reference.replyWith({ tokens: ['Calm', ' seas'] });
        // `top_logprobs` is in OpenAI's API document but not in this SDK version's types: passed as a variable.
        const body = {
          model: sgt.metadata.baseModel,
          input: 'How is the sea?',
          include: ['message.output_text.logprobs' as const],
          top_logprobs: 2,
        };
        const response = await openai().responses.create(body);
        const message = response.output.find((item) => item.type === 'message');
        if (message?.type !== 'message') throw new Error('expected a message');
        const [part] = message.content;
        if (part?.type !== 'output_text') throw new Error('expected output text');
        expect(part.logprobs?.map((entry) => entry.token).join('')).toBe('Calm seas');
        for (const entry of part.logprobs ?? []) expect(entry.top_logprobs).toHaveLength(2);
        expect(tap.requests[0]!.json()).toMatchObject({ logprobs: 2 });
      },
    );
  });
});
