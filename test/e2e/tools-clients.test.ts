import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { ChatOpenAI } from '@langchain/openai';
import { generateText, jsonSchema, streamText, tool } from 'ai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sgt } from '../../src/sgt/index.js';
import { DEMO_SGT_DIR } from '../support/artifacts.js';
import { startProxy, type ProxyUnderTest } from '../support/proxy-harness.js';
import { PROTECTION_MODES, proxyProtection, sdkFetch, type ProtectionMode } from '../support/protection-modes.js';
import { WEATHER_CALL_TEXT, startScriptedReference, type ScriptedSetup } from '../support/scripted-reference.js';
import type { ScriptedUpstream } from '../support/scripted-upstream.js';

/**
 * The Vercel AI SDK (`ai` with the OpenAI-compatible provider) and LangChain's ChatOpenAI against
 * the proxy and the scripted reference server (encrypting), in both protection modes: the proxy
 * decrypting, and pass-through with the client library's decrypting `fetch` given to the SDK.
 * What each client parsed (tool name, arguments as objects, finish reason), not just a 200.
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
const PARAMETERS: {
  type: 'object';
  properties: { city: { type: 'string' } };
  required: string[];
  additionalProperties: false;
} = {
  type: 'object',
  properties: { city: { type: 'string' } },
  required: ['city'],
  additionalProperties: false,
};

describe.each(PROTECTION_MODES)('output protection: %s', (mode: ProtectionMode) => {
  let proxy: ProxyUnderTest;
  beforeAll(async () => {
    proxy = await startProxy({ sgt, upstreamUrl: tap.url, protection: proxyProtection(mode) });
  });
  afterAll(async () => proxy?.close());

  describe('the Vercel AI SDK (ai + @ai-sdk/openai-compatible)', () => {
    const model = () =>
      createOpenAICompatible({ name: 'sgt', baseURL: `${proxy.url}/v1`, apiKey: 'x', ...sdkFetch(mode) })(
        sgt.metadata.baseModel,
      );
    const tools = {
      get_weather: tool({
        description: 'Looks up the weather',
        inputSchema: jsonSchema<{ city: string }>(PARAMETERS),
      }),
    };

    it('generateText with a tool(): the call, its input as an object, finishReason tool-calls', async () => {
      await reference.replyWith({ text: CALL_TEXT });
      const result = await generateText({ model: model(), prompt: 'Weather in Paris?', tools, maxRetries: 0 });
      expect(result.finishReason).toBe('tool-calls');
      expect(result.toolCalls).toHaveLength(1);
      expect(result.toolCalls[0]).toMatchObject({ toolName: 'get_weather', input: { city: 'Paris' } });
      expect(tap.requests[0]!.raw.toString('utf8')).not.toContain('get_weather');
    });

    it('streamText with a tool(): the streamed call is assembled', async () => {
      await reference.replyWith({
        tokens: [
          'One moment. ',
          '<tool_call>\n{"name": "get_weather", ',
          '"arguments": {"city": "Paris"}}',
          '\n</tool_call>',
        ],
      });
      const result = streamText({ model: model(), prompt: 'Weather in Paris?', tools, maxRetries: 0 });
      expect(await result.text).toBe('One moment. ');
      const calls = await result.toolCalls;
      expect(calls).toHaveLength(1);
      expect(calls[0]).toMatchObject({ toolName: 'get_weather', input: { city: 'Paris' } });
      expect(await result.finishReason).toBe('tool-calls');
    });
  });

  describe("LangChain's ChatOpenAI", () => {
    const llm = () =>
      new ChatOpenAI({
        model: sgt.metadata.baseModel,
        apiKey: 'x',
        maxRetries: 0,
        configuration: { baseURL: `${proxy.url}/v1`, ...sdkFetch(mode) },
      });
    const WEATHER = {
      type: 'function' as const,
      function: { name: 'get_weather', description: 'Looks up the weather', parameters: PARAMETERS },
    };

    it('bindTools: tool_calls with args as an object, finish_reason tool_calls', async () => {
      await reference.replyWith({ text: CALL_TEXT });
      const message = await llm().bindTools([WEATHER]).invoke('Weather in Paris?');
      expect(message.tool_calls).toHaveLength(1);
      expect(message.tool_calls![0]).toMatchObject({ name: 'get_weather', args: { city: 'Paris' }, type: 'tool_call' });
      expect(message.response_metadata.finish_reason).toBe('tool_calls');
    });

    it('withStructuredOutput (jsonSchema method): the parsed object; the schema went as structured_outputs', async () => {
      await reference.replyWith({ text: '{"city": "Paris"}' });
      const structured = llm().withStructuredOutput(PARAMETERS, { name: 'weather', method: 'jsonSchema' });
      expect(await structured.invoke('Weather in Paris?')).toEqual({ city: 'Paris' });
      expect(tap.requests[0]!.json().structured_outputs).toEqual({ json: PARAMETERS });
    });

    it('withStructuredOutput (functionCalling method): a named tool_choice, parsed from the forced arguments', async () => {
      await reference.replyWith({ text: '{"city": "Paris"}' });
      const structured = llm().withStructuredOutput(PARAMETERS, { name: 'weather', method: 'functionCalling' });
      expect(await structured.invoke('Weather in Paris?')).toEqual({ city: 'Paris' });
      expect(tap.requests[0]!.json().structured_outputs).toEqual({ json: PARAMETERS });
    });
  });
});
