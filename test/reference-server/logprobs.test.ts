/**
 * `logprobs` on /v1/completions: vLLM's shape (tokens, token_logprobs, top_logprobs as dicts,
 * text_offset) with well-formed values, read back by the openai SDK too; as vLLM's prompt-embeds
 * test asserts: 5 entries per list for 5 tokens, `max(k, 1) ≤ len(top) ≤ k + 1`.
 */
import OpenAI from 'openai';
import { captureLogger } from '../support/capture-logger.js';
import { afterEach, describe, expect, it } from 'vitest';
import { startReferenceServer, type RunningServer } from '../../src/reference-server/index.js';
import {
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

type Logprobs = NonNullable<StreamChoice['logprobs']>;

// The echo answer's first five tokens for three prompt embeddings.
const FIRST_FIVE = ['received', ' 3', ' prompt', ' embeddings;', ' nearest-token'];

function expectWellFormed(logprobs: Logprobs, tokens: readonly string[], requested: number): void {
  expect(logprobs.tokens).toEqual(tokens);
  expect(logprobs.token_logprobs).toEqual(tokens.map(() => 0));
  expect(logprobs.text_offset).toHaveLength(tokens.length);
  expect(logprobs.top_logprobs).toHaveLength(tokens.length);
  logprobs.top_logprobs.forEach((top, i) => {
    const entries = Object.entries(top);
    expect(entries.length).toBeGreaterThanOrEqual(Math.max(requested, 1));
    expect(entries.length).toBeLessThanOrEqual(requested + 1);
    expect(top[tokens[i]!]).toBe(0);
    for (const [token, logprob] of entries) if (token !== tokens[i]) expect(logprob).toBe(-9999);
  });
}

describe.each(TARGET_KINDS)('reference server logprobs (%s)', (kind) => {
  let h: Harness;
  afterEach(async () => h?.target.close());

  const complete = (body: Record<string, unknown>): Promise<Response> =>
    h.target.send(
      '/v1/completions',
      postJson({ model: FAKE_MODEL, prompt_embeds: oneHotEmbeds([0, 1, 2]), max_tokens: 5, ...body }),
    );

  it.each([0, 1, 5, 20])('not streamed, logprobs %i: one entry per token; offsets count the tokens', async (k) => {
    h = await startHarness(kind);
    const body = (await (await complete({ logprobs: k })).json()) as { choices: StreamChoice[] };
    const logprobs = body.choices[0]!.logprobs!;
    expectWellFormed(logprobs, FIRST_FIVE, k);
    expect(logprobs.text_offset).toEqual([0, 8, 10, 17, 29]);
  });

  it('a batch of prompt_embeds: every choice its own logprobs', async () => {
    h = await startHarness(kind);
    const body = (await (
      await complete({ prompt_embeds: [oneHotEmbeds([0, 1, 2]), oneHotEmbeds([3])], logprobs: 1 })
    ).json()) as { choices: StreamChoice[] };
    expect(body.choices).toHaveLength(2);
    expectWellFormed(body.choices[0]!.logprobs!, FIRST_FIVE, 1);
    expectWellFormed(body.choices[1]!.logprobs!, ['received', ' 1', ...FIRST_FIVE.slice(2)], 1);
  });

  it('streamed: each chunk its token, at the offset of the text sent before it', async () => {
    h = await startHarness(kind, { mode: 'paced' });
    const chunks = await completionChunks(await complete({ stream: true, logprobs: 2, stop: 'tok2', max_tokens: 6 }));
    const choices = chunks.map((c) => c.choices[0]!);
    // 'tok2' holds back three characters, so the text sent lags behind the tokens.
    expect(choices.map((c) => c.text)).toEqual([' t', 'ok0 t', 'ok1 ']);
    expect(choices.map((c) => c.logprobs!.tokens)).toEqual([[' tok0'], [' tok1'], [' tok2']]);
    expect(choices.map((c) => c.logprobs!.text_offset)).toEqual([[0], [2], [7]]);
    for (const choice of choices) expectWellFormed(choice.logprobs!, choice.logprobs!.tokens, 2);
    expect(choices.at(-1)).toMatchObject({ finish_reason: 'stop', stop_reason: 'tok2' });
  });

  it('counts offsets in code points, as Python does', async () => {
    h = await startHarness(kind, {
      mode: 'scripted',
      replies: { replies: [{ tokens: ['😀', 'a', '☃', 'b'], finish_reason: 'length' }] },
    });
    const body = (await (await complete({ logprobs: 0 })).json()) as { choices: StreamChoice[] };
    expect(body.choices[0]!.logprobs!.text_offset).toEqual([0, 1, 2, 3]);
    const chunks = await completionChunks(await complete({ logprobs: 0, stream: true }));
    expect(chunks.map((c) => c.choices[0]!.logprobs!.text_offset[0])).toEqual([0, 1, 2, 3]);
  });

  it('logprobs absent or null: null on every choice', async () => {
    h = await startHarness(kind);
    const body = (await (await complete({ logprobs: null })).json()) as { choices: StreamChoice[] };
    expect(body.choices[0]!.logprobs).toBeNull();
  });
});

describe('reference server logprobs through the openai SDK', () => {
  let server: RunningServer | undefined;
  afterEach(async () => server?.close());

  it('parses as the SDK Completion type, with prompt_embeds as extra body', async () => {
    server = await startReferenceServer({
      sgt: fakeSgt(),
      mode: 'echo',
      tokenIntervalMs: 0,
      logger: captureLogger().logger,
      host: '127.0.0.1',
      port: 0,
    });
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    // prompt_embeds is vLLM's extension: the SDK sends unknown body fields as they are.
    const params = {
      model: FAKE_MODEL,
      prompt: '',
      max_tokens: 5,
      logprobs: 3,
      prompt_embeds: oneHotEmbeds([0, 1, 2]),
    };
    const completion = await client.completions.create(params as OpenAI.CompletionCreateParamsNonStreaming);
    const logprobs = completion.choices[0]!.logprobs!;
    expect(logprobs.tokens).toEqual(FIRST_FIVE);
    expect(logprobs.token_logprobs).toHaveLength(5);
    expect(logprobs.text_offset).toHaveLength(5);
    expect(logprobs.top_logprobs?.map((top) => Object.keys(top).length)).toEqual([3, 3, 3, 3, 3]);

    const stream = await client.completions.create({
      ...params,
      stream: true,
    } as OpenAI.CompletionCreateParamsStreaming);
    const tokens: string[] = [];
    for await (const chunk of stream) tokens.push(...(chunk.choices[0]?.logprobs?.tokens ?? []));
    expect(tokens).toEqual(FIRST_FIVE);
  });
});
