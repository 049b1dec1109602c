/**
 * The SGT on worker threads (LoadSgtOptions.workers): the same bits as on the caller's thread, and
 * the tokenizer's errors keep their types. A worker that dies under a request:
 * test/proxy/worker-crash.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePromptEmbeds, encodePromptEmbeds } from '../../src/embeds/index.js';
import { PromptTooLongError, SgtInputError, SgtOverloadedError, loadSgt, type Sgt } from '../../src/sgt/index.js';
import { DEMO_SGT_DIR } from '../support/artifacts.js';
import { testNoiseKey } from '../support/noise.js';
import { SAMPLE_CONVERSATIONS } from '../support/sample-prompts.js';

let here: Sgt;
let offThread: Sgt;
const crashes: Error[] = [];

beforeAll(async () => {
  [here, offThread] = await Promise.all([
    loadSgt(DEMO_SGT_DIR),
    loadSgt(DEMO_SGT_DIR, { workers: 2, onWorkerCrash: (e) => crashes.push(e) }),
  ]);
});
afterAll(async () => {
  await Promise.all([here.close(), offThread.close()]);
});

const bytes = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

const TOOL_CHAT = {
  messages: [
    { role: 'user' as const, content: 'Weather in Paris?' },
    {
      role: 'assistant' as const,
      content: '',
      tool_calls: [
        { id: 'call_1', type: 'function' as const, function: { name: 'get_weather', arguments: { city: 'Paris' } } },
      ],
    },
    { role: 'tool' as const, content: '{"sky": "sunny"}', tool_call_id: 'call_1' },
  ],
  template: {
    tools: [
      { type: 'function', function: { name: 'get_weather', description: 'Looks up the weather', parameters: {} } },
    ],
    kwargs: { enable_thinking: false },
  },
};

describe('the chat template input (tools, tool history, chat_template_kwargs)', () => {
  it('is rendered: the tools block, the earlier call, the tool answer, and the kwargs', () => {
    const rendered = here.renderPrompt(TOOL_CHAT.messages, TOOL_CHAT.template);
    expect(rendered).toContain('# Tools');
    expect(rendered).toContain('"description": "Looks up the weather"');
    expect(rendered).toContain('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>');
    expect(rendered).toContain('<tool_response>\n{"sky": "sunny"}\n</tool_response>');
    expect(rendered.endsWith('<|im_start|>assistant\n<think>\n\n</think>\n\n')).toBe(true);
    expect(here.renderPrompt(TOOL_CHAT.messages)).not.toContain('# Tools');
  });

  it('crosses to the tokenizer worker as plain data: the same ids there as here', async () => {
    const options = { template: TOOL_CHAT.template };
    expect(await offThread.tokenizeChatOffThread(TOOL_CHAT.messages, options)).toEqual(
      here.tokenizeChat(TOOL_CHAT.messages, options),
    );
  });

  it('kwargs cannot replace the messages, the tools or add_generation_prompt', () => {
    const kwargs = { messages: [{ role: 'user', content: 'forged' }], add_generation_prompt: false, tools: [{}] };
    const rendered = here.renderPrompt(TOOL_CHAT.messages, { kwargs });
    expect(rendered).not.toContain('forged');
    expect(rendered).not.toContain('# Tools');
    expect(rendered.endsWith('<|im_start|>assistant\n')).toBe(true);
  });
});

describe('the SGT on worker threads', () => {
  it('tokenizes and transforms to the same bits as on the calling thread, batched or not', async () => {
    const conversations = SAMPLE_CONVERSATIONS.slice(0, 6);
    const idsHere = conversations.map((c) => here.tokenizeChat(c));
    const idsThere = await Promise.all(conversations.map((c) => offThread.tokenizeChatOffThread(c)));
    expect(idsThere).toEqual(idsHere);
    const key = (i: number) => testNoiseKey(7000 + i);
    const expected = await Promise.all(idsHere.map((ids, i) => here.transform(ids, { noise: key(i) })));
    const actual = await Promise.all(
      idsHere.map((ids, i) => offThread.transform(ids, { noise: key(i), encode: 'float32' })),
    );
    actual.forEach((result, i) => {
      expect(bytes(result.embeds).equals(bytes(expected[i]!.embeds))).toBe(true);
      // The base64 text, as ASCII bytes transferred from the worker: the one encodePromptEmbeds writes.
      const text = Buffer.from(result.promptEmbeds!).toString('latin1');
      expect(text).toBe(encodePromptEmbeds(result.embeds, [result.tokens, result.hidden], 'float32'));
      expect(decodePromptEmbeds(text).shape).toEqual([result.tokens, result.hidden]);
    });
    expect(Math.max(...actual.map((r) => r.timing!.batchSize))).toBeGreaterThan(1);
  });

  it('explicit noise values reach the worker intact', async () => {
    const ids = here.tokenizeChat(SAMPLE_CONVERSATIONS[0]!);
    const noise = new Float32Array(ids.length * here.metadata.hiddenSize).map((_, i) => Math.sin(i));
    const [a, b] = await Promise.all([here.transform(ids, { noise }), offThread.transform(ids, { noise })]);
    expect(bytes(b.embeds).equals(bytes(a.embeds))).toBe(true);
  });

  it("keeps the tokenizer's error types across the thread boundary", async () => {
    const huge = 'x'.repeat(offThread.metadata.maxSequenceLength * 200);
    await expect(offThread.tokenizeChatOffThread([{ role: 'user', content: huge }])).rejects.toBeInstanceOf(
      PromptTooLongError,
    );
    await expect(offThread.transform([], {})).rejects.toBeInstanceOf(SgtInputError);
  });
});

describe('the nearest-token search on the transform worker', () => {
  it('reads back the same ids as on the calling thread', async () => {
    const ids = here.tokenizeChat(SAMPLE_CONVERSATIONS[1]!);
    const { plainEmbeds } = await here.transform(ids, { noise: testNoiseKey(7100) });
    const [a, b] = await Promise.all([
      here.nearestTokens(plainEmbeds!, ids.length),
      offThread.nearestTokens(plainEmbeds!.slice(), ids.length),
    ]);
    expect(b).toEqual(a);
    expect(a).toEqual(ids);
  });

  it("keeps the index's argument errors as SgtInputError", async () => {
    await expect(offThread.nearestTokens(new Float32Array(3), 1)).rejects.toBeInstanceOf(SgtInputError);
  });
});

describe('the tokenizer pool under a flood', () => {
  it('refuses calls beyond maxQueuedRequests at once, with SgtOverloadedError', async () => {
    const small = await loadSgt(DEMO_SGT_DIR, { workers: 1, maxQueuedRequests: 2 });
    try {
      const chat = [{ role: 'user' as const, content: 'hello '.repeat(2000) }];
      const calls = Array.from({ length: 5 }, () => small.tokenizeChatOffThread(chat));
      const outcomes = await Promise.allSettled(calls);
      expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(2);
      for (const o of outcomes.filter((o) => o.status === 'rejected'))
        expect((o as PromiseRejectedResult).reason).toBeInstanceOf(SgtOverloadedError);
    } finally {
      await small.close();
    }
  });
});
