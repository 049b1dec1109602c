import { afterEach, describe, expect, it } from 'vitest';
import { collectText } from '../support/streams.js';
import {
  FAKE_HIDDEN,
  FAKE_MAX_MODEL_LEN,
  FAKE_MODEL,
  TARGET_KINDS,
  completionChunks,
  fakeSgt,
  oneHotEmbeds,
  postJson,
  startHarness,
  type Harness,
  type StreamChoice,
} from './helpers.js';

// The prefix's words, the three nearest tokens, the closing quote, and EOS.
const ECHO_TEXT = 'received 3 prompt embeddings; nearest-token reading: "Hello there ☃"';
const ECHO_TOKENS = 7 + 3 + 1 + 1;

describe.each(TARGET_KINDS)('reference server completions (%s)', (kind) => {
  let h: Harness;
  afterEach(async () => h?.target.close());

  const complete = (body: Record<string, unknown>, headers?: Record<string, string>): Promise<Response> =>
    h.target.send(
      '/v1/completions',
      postJson({ model: FAKE_MODEL, prompt_embeds: oneHotEmbeds([0, 1, 2]), ...body }, headers),
    );

  it('lists one vLLM model card: the artifact base model', async () => {
    h = await startHarness(kind);
    const response = await h.target.send('/v1/models');
    expect(response.status).toBe(200);
    const body = (await response.json()) as { object: string; data: Array<Record<string, unknown>> };
    expect(body.object).toBe('list');
    expect(body.data).toHaveLength(1);
    expect(body.data[0]).toMatchObject({
      id: FAKE_MODEL,
      object: 'model',
      owned_by: 'vllm',
      max_model_len: FAKE_MAX_MODEL_LEN,
    });
    expect(typeof body.data[0]?.created).toBe('number');
  });

  it('answers GET /health with 200', async () => {
    h = await startHarness(kind);
    expect((await h.target.send('/health')).status).toBe(200);
  });

  it('echo, not streamed: reads the embeddings back, with usage', async () => {
    h = await startHarness(kind);
    const response = await complete({ max_tokens: 50 });
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      object: 'text_completion',
      model: FAKE_MODEL,
      choices: [
        { index: 0, text: ECHO_TEXT, logprobs: null, finish_reason: 'stop', stop_reason: null, prompt_logprobs: null },
      ],
      usage: { prompt_tokens: 3, completion_tokens: ECHO_TOKENS, total_tokens: 3 + ECHO_TOKENS },
    });
    expect(body.id).toMatch(/^cmpl-/);
  });

  it('echo, streamed: one chunk per token, finish on the last, usage chunk, [DONE] last', async () => {
    h = await startHarness(kind);
    const chunks = await completionChunks(
      await complete({ max_tokens: 50, stream: true, stream_options: { include_usage: true } }),
    );
    const usage = chunks.at(-1)!;
    const tokens = chunks.slice(0, -1);
    expect(usage.choices).toEqual([]);
    expect(usage.usage).toEqual({ prompt_tokens: 3, completion_tokens: ECHO_TOKENS, total_tokens: 3 + ECHO_TOKENS });
    expect(tokens).toHaveLength(ECHO_TOKENS);
    expect(tokens.map((c) => c.choices[0]!.text).join('')).toBe(ECHO_TEXT);
    expect(tokens.slice(0, -1).every((c) => c.choices[0]!.finish_reason === null)).toBe(true);
    // EOS: vLLM's last chunk carries no text, only the finish reason.
    expect(tokens.at(-1)!.choices[0]).toEqual({
      index: 0,
      text: '',
      logprobs: null,
      finish_reason: 'stop',
      stop_reason: null,
    });
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
    expect(tokens.every((c) => c.object === 'text_completion' && c.model === FAKE_MODEL && !('usage' in c))).toBe(true);
  });

  it('sends no usage chunk unless asked, and one when stream_options is {} (vLLM default)', async () => {
    h = await startHarness(kind);
    const plain = await completionChunks(await complete({ stream: true }));
    expect(plain.every((c) => c.choices.length === 1)).toBe(true);
    const defaulted = await completionChunks(await complete({ stream: true, stream_options: {} }));
    expect(defaulted.at(-1)!.choices).toEqual([]);
  });

  it('continuous_usage_stats puts running usage on every chunk', async () => {
    h = await startHarness(kind);
    const options = { include_usage: true, continuous_usage_stats: true };
    const chunks = await completionChunks(await complete({ stream: true, max_tokens: 3, stream_options: options }));
    expect(chunks.slice(0, -1).map((c) => c.usage?.completion_tokens)).toEqual([1, 2, 3]);
  });

  it('cuts at max_tokens with finish_reason "length" (default max_tokens is 16)', async () => {
    h = await startHarness(kind);
    const chunks = await completionChunks(await complete({ stream: true, max_tokens: 4 }));
    expect(chunks.map((c) => c.choices[0]!.text).join('')).toBe('received 3 prompt embeddings;');
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe('length');
    const whole = (await (await complete({ prompt_embeds: oneHotEmbeds(Array(20).fill(1)) })).json()) as {
      choices: StreamChoice[];
      usage: { completion_tokens: number };
    };
    expect(whole.usage.completion_tokens).toBe(16);
    expect(whole.choices[0]!.finish_reason).toBe('length');
  });

  it('n=2: each token once per choice index, usage counts both', async () => {
    h = await startHarness(kind);
    const chunks = await completionChunks(
      await complete({ stream: true, n: 2, max_tokens: 3, stream_options: { include_usage: true } }),
    );
    const tokens = chunks.slice(0, -1);
    expect(tokens.map((c) => c.choices[0]!.index)).toEqual([0, 1, 0, 1, 0, 1]);
    expect(chunks.at(-1)!.usage?.completion_tokens).toBe(6);
    const whole = (await (await complete({ n: 2, max_tokens: 3 })).json()) as { choices: StreamChoice[] };
    expect(whole.choices.map((c) => [c.index, c.text])).toEqual([
      [0, 'received 3 prompt'],
      [1, 'received 3 prompt'],
    ]);
  });

  it('keeps the caller x-request-id, echoes it, and names the completion after it', async () => {
    h = await startHarness(kind);
    const response = await complete({}, { 'x-request-id': 'req-abc-123' });
    expect(response.headers.get('x-request-id')).toBe('req-abc-123');
    expect(((await response.json()) as { id: string }).id).toBe('cmpl-req-abc-123');
    const generated = await h.target.send('/v1/models');
    expect(generated.headers.get('x-request-id')).toMatch(/^[0-9a-f]{32}$/);
  });

  it('takes [1, T, H] (squeezed), bfloat16 and float16 tensors', async () => {
    h = await startHarness(kind);
    for (const embeds of [
      oneHotEmbeds([0, 1, 2], 'float32', [1, 3, FAKE_HIDDEN]),
      oneHotEmbeds([0, 1, 2], 'bfloat16'),
      oneHotEmbeds([0, 1, 2], 'float16'),
    ]) {
      const body = (await (await complete({ prompt_embeds: embeds, max_tokens: 50 })).json()) as {
        choices: StreamChoice[];
      };
      expect(body.choices[0]!.text).toBe(ECHO_TEXT);
    }
  });

  it('takes a request without model, with an empty prompt, and with sampling parameters', async () => {
    h = await startHarness(kind);
    const response = await h.target.send(
      '/v1/completions',
      postJson({
        prompt: '',
        prompt_embeds: oneHotEmbeds([0]),
        temperature: 0.7,
        top_p: 0.9,
        seed: 7,
        stop: ['\n'],
        presence_penalty: 0.5,
        frequency_penalty: -0.5,
        user: 'u1',
        some_vllm_extra: true,
      }),
    );
    expect(response.status).toBe(200);
  });

  it('paced mode: exactly max_tokens distinct tokens, finish_reason "length"', async () => {
    h = await startHarness(kind, { mode: 'paced', tokenIntervalMs: 1 });
    const chunks = await completionChunks(
      await complete({ stream: true, max_tokens: 25, stream_options: { include_usage: true } }),
    );
    const texts = chunks.slice(0, -1).map((c) => c.choices[0]!.text);
    expect(texts).toHaveLength(25);
    expect(new Set(texts).size).toBe(25);
    expect(texts[0]).toBe(' tok0');
    expect(chunks.at(-2)!.choices[0]!.finish_reason).toBe('length');
    expect(chunks.at(-1)!.usage).toEqual({ prompt_tokens: 3, completion_tokens: 25, total_tokens: 28 });
    const whole = (await (await complete({ max_tokens: 5 })).json()) as { choices: StreamChoice[] };
    expect(whole.choices[0]!.text).toBe(' tok0 tok1 tok2 tok3 tok4');
  });

  it('answers a failure of its own with a bare 500 InternalServerError and logs the cause', async () => {
    const broken = {
      ...fakeSgt(),
      nearestTokens: async () => Promise.reject(new Error('onnx exploded at /secret/path')),
    };
    h = await startHarness(kind, { sgt: broken });
    const response = await complete({});
    expect(response.status).toBe(500);
    expect(await response.json()).toEqual({
      error: { message: 'Internal server error', type: 'InternalServerError', param: null, code: 500 },
    });
    const failure = h.logs.lines.find((l) => l.msg === 'request failed');
    expect(JSON.stringify(failure)).toContain('onnx exploded');
  });

  it('logs one line per request, without prompt_embeds or credentials', async () => {
    h = await startHarness(kind);
    const embeds = oneHotEmbeds([0, 1, 2]);
    await (
      await complete({ prompt_embeds: embeds }, { authorization: 'Bearer secret-token', 'x-request-id': 'log-1' })
    ).text();
    await collectText((await complete({ stream: true }, { 'x-request-id': 'log-2' })).body!);
    await h.ends.next((e) => e.requestId === 'log-2');
    await expect.poll(() => h.logs.lines.filter((l) => l.msg === 'request').length).toBe(2);
    const lines = h.logs.lines.filter((l) => l.msg === 'request');
    expect(lines[0]).toMatchObject({ method: 'POST', path: '/v1/completions', status: 200, request_id: 'log-1' });
    expect(typeof lines[0]?.duration_ms).toBe('number');
    expect(lines[1]).toMatchObject({ request_id: 'log-2', outcome: 'completed', completion_tokens: ECHO_TOKENS });
    const everything = h.logs.raw.join('\n');
    expect(everything).not.toContain(embeds.slice(0, 40));
    expect(everything).not.toContain('secret-token');
  });
});
