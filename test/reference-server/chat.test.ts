import { afterEach, describe, expect, it } from 'vitest';
import { collectText, sseDataEvents } from '../support/streams.js';
import { FAKE_MODEL, TARGET_KINDS, fakeSgt, postJson, startHarness, type Harness } from './helpers.js';

interface ChatChunk {
  id: string;
  object: string;
  created: number;
  model: string;
  choices: Array<{
    index: number;
    delta: { role?: string; content?: string };
    logprobs: null;
    finish_reason: string | null;
    stop_reason?: null;
  }>;
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

const MESSAGES = [
  { role: 'system', content: 'Be brief.' },
  { role: 'user', content: 'Write me a poem.' },
];
// One per message plus the words: "Be brief." (2) and "Write me a poem." (4).
const PROMPT_TOKENS_ESTIMATE = 2 + 2 + 4;

const PACED = { mode: 'paced' as const, tokenIntervalMs: 1 };

async function chunksOf(response: Response): Promise<ChatChunk[]> {
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const events = sseDataEvents(await collectText(response.body!));
  expect(events.at(-1)).toBe('[DONE]');
  expect(events.filter((e) => e === '[DONE]')).toHaveLength(1);
  return events.slice(0, -1).map((e) => JSON.parse(e) as ChatChunk);
}

describe.each(TARGET_KINDS)('reference server plain-text chat completions (%s)', (kind) => {
  let h: Harness;
  afterEach(async () => h?.target.close());

  const chat = (body: Record<string, unknown>, headers?: Record<string, string>): Promise<Response> =>
    h.target.send('/v1/chat/completions', postJson({ model: FAKE_MODEL, messages: MESSAGES, ...body }, headers));

  it('paced, streamed: role chunk, then exactly max_tokens distinct tokens, finish on the last, [DONE]', async () => {
    h = await startHarness(kind, PACED);
    const chunks = await chunksOf(await chat({ stream: true, max_tokens: 20 }, { 'x-request-id': 'chat-1' }));
    expect(chunks).toHaveLength(21);
    for (const chunk of chunks) {
      expect(chunk).toMatchObject({ id: 'chatcmpl-chat-1', object: 'chat.completion.chunk', model: FAKE_MODEL });
      expect(chunk.choices).toHaveLength(1);
      expect(chunk.usage).toBeUndefined();
    }
    expect(chunks[0]!.choices[0]).toEqual({
      index: 0,
      delta: { role: 'assistant', content: '' },
      logprobs: null,
      finish_reason: null,
    });
    const contents = chunks.slice(1).map((c) => c.choices[0]!.delta.content);
    expect(contents).toEqual(Array.from({ length: 20 }, (_, i) => ` tok${i}`));
    expect(chunks.slice(1, -1).every((c) => c.choices[0]!.finish_reason === null)).toBe(true);
    expect(chunks.at(-1)!.choices[0]).toEqual({
      index: 0,
      delta: { content: ' tok19' },
      logprobs: null,
      finish_reason: 'length',
      stop_reason: null,
    });
    await expect(h.ends.next()).resolves.toMatchObject({
      requestId: 'chat-1',
      outcome: 'completed',
      completionTokens: 20,
      stream: true,
    });
  });

  it('max_completion_tokens wins over max_tokens; usage chunk last when asked, with choices []', async () => {
    h = await startHarness(kind, PACED);
    const chunks = await chunksOf(
      await chat({ stream: true, max_tokens: 50, max_completion_tokens: 3, stream_options: { include_usage: true } }),
    );
    const usage = chunks.at(-1)!;
    expect(usage.choices).toEqual([]);
    expect(usage.usage).toEqual({
      prompt_tokens: PROMPT_TOKENS_ESTIMATE,
      completion_tokens: 3,
      total_tokens: PROMPT_TOKENS_ESTIMATE + 3,
    });
    expect(chunks.slice(1, -1).map((c) => c.choices[0]!.delta.content)).toEqual([' tok0', ' tok1', ' tok2']);
  });

  it('continuous_usage_stats puts running usage on every chunk', async () => {
    h = await startHarness(kind, PACED);
    const chunks = await chunksOf(
      await chat({
        stream: true,
        max_tokens: 2,
        stream_options: { include_usage: true, continuous_usage_stats: true },
      }),
    );
    expect(chunks.map((c) => c.usage?.completion_tokens)).toEqual([0, 1, 2, 2]);
  });

  it('n=2: each choice opens with its role chunk and gets every token', async () => {
    h = await startHarness(kind, PACED);
    const chunks = await chunksOf(await chat({ stream: true, max_tokens: 3, n: 2 }));
    for (const index of [0, 1]) {
      const mine = chunks.filter((c) => c.choices[0]!.index === index);
      expect(mine[0]!.choices[0]!.delta).toEqual({ role: 'assistant', content: '' });
      expect(mine.slice(1).map((c) => c.choices[0]!.delta.content)).toEqual([' tok0', ' tok1', ' tok2']);
    }
  });

  it('paced, not streamed: one chat.completion with the joined tokens and usage', async () => {
    h = await startHarness(kind, PACED);
    const response = await chat({
      max_tokens: 4,
      temperature: 0.7,
      top_p: 0.9,
      seed: 1,
      stop: ['\n'],
      user: 'u',
      tools: [],
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      object: 'chat.completion',
      model: FAKE_MODEL,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: ' tok0 tok1 tok2 tok3' },
          logprobs: null,
          finish_reason: 'length',
          stop_reason: null,
        },
      ],
      usage: { prompt_tokens: PROMPT_TOKENS_ESTIMATE, completion_tokens: 4, total_tokens: PROMPT_TOKENS_ESTIMATE + 4 },
    });
    expect(body.id).toMatch(/^chatcmpl-/);
  });

  it('without max_tokens, generates what is left of the context (vLLM default)', async () => {
    h = await startHarness(kind, { ...PACED, tokenIntervalMs: 0, sgt: fakeSgt({ maxSequenceLength: 20 }) });
    const body = (await (await chat({ messages: [{ role: 'user', content: 'one two' }] })).json()) as {
      usage: { completion_tokens: number };
    };
    expect(body.usage.completion_tokens).toBe(20 - 3);
  });

  it('takes content as an array of text parts, and a request without model', async () => {
    h = await startHarness(kind, PACED);
    const response = await h.target.send(
      '/v1/chat/completions',
      postJson({
        messages: [{ role: 'user', content: [{ type: 'text', text: 'Hello there' }] }],
        max_tokens: 1,
        stream: true,
      }),
    );
    const chunks = await chunksOf(response);
    expect(chunks.at(-1)!.choices[0]!.delta.content).toBe(' tok0');
  });

  it('logs the arrival time and the server-side time to the first token of a stream', async () => {
    h = await startHarness(kind, { mode: 'paced', tokenIntervalMs: 5 });
    const before = performance.timeOrigin + performance.now();
    await collectText((await chat({ stream: true, max_tokens: 2 }, { 'x-request-id': 'timed-1' })).body!);
    const after = performance.timeOrigin + performance.now();
    await expect.poll(() => h.logs.lines.find((l) => l.msg === 'request' && l.request_id === 'timed-1')).toBeDefined();
    const line = h.logs.lines.find((l) => l.request_id === 'timed-1')!;
    expect(line).toMatchObject({ path: '/v1/chat/completions', status: 200, outcome: 'completed' });
    expect(line.received_at as number).toBeGreaterThanOrEqual(before - 1);
    expect(line.received_at as number).toBeLessThanOrEqual(after);
    expect(line.first_token_ms as number).toBeGreaterThanOrEqual(4);
    expect(line.first_token_ms as number).toBeLessThanOrEqual(line.duration_ms as number);
  });
});

describe.each(TARGET_KINDS)('reference server plain-text chat: refusals (%s)', (kind) => {
  let h: Harness;
  afterEach(async () => h?.target.close());

  const send = (body: unknown, headers?: Record<string, string>): Promise<Response> =>
    h.target.send('/v1/chat/completions', postJson(body, headers));

  async function expectError(response: Response, status: number, match: Record<string, unknown>): Promise<void> {
    expect(response.status).toBe(status);
    const body = (await response.json()) as { error: Record<string, unknown> };
    expect(body.error).toMatchObject({ code: status, ...match });
  }

  it('echo mode refuses plain text with a 400 that says to use paced or scripted mode', async () => {
    h = await startHarness(kind, { mode: 'echo' });
    await expectError(await send({ messages: MESSAGES }), 400, {
      type: 'BadRequestError',
      message: expect.stringContaining('in paced or scripted mode only'),
    });
    expect(h.ends.events).toHaveLength(0);
  });

  it.each([
    ['no messages', { max_tokens: 1 }, 'messages'],
    ['empty messages', { messages: [], max_tokens: 1 }, 'messages'],
    ['a message without role', { messages: [{ content: 'x' }], max_tokens: 1 }, 'messages'],
    [
      'stream_options without stream',
      { messages: MESSAGES, stream_options: { include_usage: true } },
      'stream_options',
    ],
    ['logprobs', { messages: MESSAGES, logprobs: true }, 'logprobs'],
  ])('paced mode: 400 for %s', async (_name, body, param) => {
    h = await startHarness(kind, PACED);
    await expectError(await send(body), 400, { param });
  });

  it('paced mode: 404 for another model, 400 for max_tokens 0 or beyond the context, 400 for a non-JSON body', async () => {
    h = await startHarness(kind, PACED);
    await expectError(await send({ model: 'other/model', messages: MESSAGES }), 404, {
      type: 'NotFoundError',
      param: 'model',
    });
    await expectError(await send({ messages: MESSAGES, max_tokens: 0 }), 400, { param: 'max_tokens' });
    await expectError(await send({ messages: MESSAGES, max_tokens: 1_000 }), 400, { param: 'max_tokens' });
    await expectError(await send('{not json'), 400, { type: 'Bad Request' });
    const wrongType = await h.target.send('/v1/chat/completions', {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: '{}',
    });
    expect(wrongType.status).toBe(400);
  });

  it('paced mode: a client that leaves mid-stream ends the generation as aborted', async () => {
    h = await startHarness(kind, {
      mode: 'paced',
      tokenIntervalMs: 10,
      sgt: fakeSgt({ maxSequenceLength: 1_000_000 }),
    });
    const client = new AbortController();
    const response = await h.target.send('/v1/chat/completions', {
      ...postJson({ messages: MESSAGES, max_tokens: 100_000, stream: true }),
      signal: client.signal,
    });
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    while (!text.includes(' tok2')) {
      const { value, done } = await reader.read();
      if (done) throw new Error('stream ended early');
      text += decoder.decode(value, { stream: true });
    }
    if (kind === 'in-process') await reader.cancel();
    else client.abort();
    const end = await h.ends.next();
    expect(end).toMatchObject({ outcome: 'aborted', stream: true });
    expect(end.completionTokens).toBeLessThan(100_000);
  });
});
