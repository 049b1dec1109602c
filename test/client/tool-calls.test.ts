import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  clientKeyHeaders,
  createResponseDecryptor,
  decryptChatStream,
  generateKeyPair,
  toolCallChunks,
} from '../../src/client/index.js';
import type { RunningServer } from '../../src/reference-server/index.js';
import { loadSgt, type Sgt } from '../../src/sgt/index.js';
import { IDENTITY_SGT_DIR } from '../support/artifacts.js';
import { startProtectedReference } from '../support/scripted-reference.js';
import { startProxy, type ProxyUnderTest } from '../support/proxy-harness.js';

const TOOL_REPLY =
  'Let me look. <tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}\n</tool_call>';

type Chunk = {
  choices: Array<{
    index: number;
    delta: {
      content?: string | null;
      tool_calls?: Array<{ index: number; id?: string; function: { name?: string; arguments: string } }>;
    };
    finish_reason: string | null;
  }>;
};

async function* chunksOf(items: Chunk[]): AsyncGenerator<Chunk> {
  for (const item of items) yield item;
}

const delta = (content: string, finish: string | null = null, index = 0): Chunk => ({
  choices: [{ index, delta: { content }, finish_reason: finish }],
});

/** What the rewritten stream adds up to, per choice. */
async function collect(stream: AsyncIterable<Chunk>) {
  const out = new Map<
    number,
    { content: string; calls: { id?: string; name?: string; arguments: string }[]; finish: string | null }
  >();
  for await (const chunk of stream) {
    for (const choice of chunk.choices) {
      const acc = out.get(choice.index) ?? { content: '', calls: [], finish: null };
      out.set(choice.index, acc);
      acc.content += choice.delta.content ?? '';
      for (const call of choice.delta.tool_calls ?? []) {
        const target = (acc.calls[call.index] ??= { arguments: '' });
        if (call.id) target.id = call.id;
        if (call.function.name) target.name = call.function.name;
        target.arguments += call.function.arguments;
      }
      acc.finish = choice.finish_reason ?? acc.finish;
    }
  }
  return out;
}

describe('toolCallChunks', () => {
  it('gives the same content and call at every split point of the text into two chunks', async () => {
    for (let at = 0; at <= TOOL_REPLY.length; at++) {
      const result = await collect(
        toolCallChunks(chunksOf([delta(TOOL_REPLY.slice(0, at)), delta(TOOL_REPLY.slice(at), 'stop')]), {
          newToolCallId: () => 'call-1',
        }),
      );
      expect(result.get(0), `split at ${at}`).toEqual({
        content: 'Let me look. ',
        calls: [{ id: 'call-1', name: 'get_weather', arguments: '{"city": "Paris", "days": 2}' }],
        finish: 'tool_calls',
      });
    }
  });

  it('keeps choices apart, passes text without calls through, and a malformed block on as content', async () => {
    const broken = '<tool_call>{"name": 1}</tool_call>';
    const result = await collect(
      toolCallChunks(chunksOf([delta('plain ', null, 0), delta(broken, 'stop', 1), delta('text', 'length', 0)])),
    );
    expect(result.get(0)).toEqual({ content: 'plain text', calls: [], finish: 'length' });
    expect(result.get(1)).toEqual({ content: broken, calls: [], finish: 'stop' });
  });
});

describe('pass-through mode: the openai SDK, the proxy (SGP_OUTPUT_DECRYPTION=false) and the reference server', () => {
  let sgt: Sgt;
  let reference: RunningServer;
  let proxy: ProxyUnderTest;

  beforeAll(async () => {
    sgt = await loadSgt(IDENTITY_SGT_DIR);
    reference = await startProtectedReference(sgt, { text: TOOL_REPLY });
    proxy = await startProxy({ sgt, upstreamUrl: reference.url, protection: { decrypt: false } });
  });

  afterAll(async () => {
    await proxy?.close();
    await reference?.close();
    await sgt?.close();
  });

  it('the client decrypts (v2) and parses the tool call the proxy could not see', async () => {
    const keys = generateKeyPair();
    const openai = new OpenAI({
      baseURL: `${proxy.url}/v1`,
      apiKey: 'unused',
      maxRetries: 0,
      defaultHeaders: clientKeyHeaders(keys.publicKey, { version: 2 }),
    });
    const { data, response } = await openai.chat.completions
      .create({ model: sgt.metadata.baseModel, messages: [{ role: 'user', content: 'Weather?' }], stream: true })
      .withResponse();
    expect(response.headers.get('x-output-protection-version')).toBe('2');
    let wire = '';
    const tapped = (async function* () {
      for await (const chunk of data) {
        wire += JSON.stringify(chunk);
        yield chunk;
      }
    })();
    const decryptor = createResponseDecryptor(response.headers, keys.privateKey);
    const result = await collect(toolCallChunks(decryptChatStream(tapped, decryptor)) as AsyncIterable<Chunk>);
    expect(wire).not.toMatch(/get_weather|Paris/); // the proxy relayed ciphertext only
    const choice = result.get(0)!;
    expect(choice.content).toBe('Let me look. ');
    expect(choice.calls).toHaveLength(1);
    expect(choice.calls[0]!.name).toBe('get_weather');
    expect(JSON.parse(choice.calls[0]!.arguments)).toEqual({ city: 'Paris', days: 2 });
    expect(choice.calls[0]!.id).toMatch(/^chatcmpl-tool-[0-9a-f]{32}$/);
    expect(choice.finish).toBe('tool_calls');
  });
});
