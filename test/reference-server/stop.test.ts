/** `stop` over HTTP: the answer ends before the stop string, `finish_reason: "stop"`, `stop_reason` the string. */
import { afterEach, describe, expect, it } from 'vitest';
import {
  FAKE_MODEL,
  TARGET_KINDS,
  completionChunks,
  oneHotEmbeds,
  postJson,
  startHarness,
  type Harness,
  type StreamChoice,
} from './helpers.js';

describe.each(TARGET_KINDS)('reference server stop strings (%s)', (kind) => {
  let h: Harness;
  afterEach(async () => h?.target.close());

  const send = (path: string, body: Record<string, unknown>): Promise<Response> =>
    h.target.send(
      path,
      postJson({ model: FAKE_MODEL, prompt_embeds: oneHotEmbeds([0, 1, 2]), max_tokens: 40, ...body }),
    );

  it('echo, not streamed: cut before the string; the token that completed it counts', async () => {
    h = await startHarness(kind);
    const response = await send('/v1/completions', { stop: ['there', 'nearest'] });
    const body = (await response.json()) as { choices: StreamChoice[]; usage: { completion_tokens: number } };
    expect(body.choices[0]).toMatchObject({
      text: 'received 3 prompt embeddings; ',
      finish_reason: 'stop',
      stop_reason: 'nearest',
    });
    expect(body.usage.completion_tokens).toBe(5);
  });

  it('echo, streamed: the same text, held back so no chunk sends what the cut removes', async () => {
    h = await startHarness(kind);
    const chunks = await completionChunks(await send('/v1/completions', { stream: true, stop: 'reading' }));
    const texts = chunks.map((c) => c.choices[0]!.text);
    expect(texts.join('')).toBe('received 3 prompt embeddings; nearest-token ');
    expect(chunks.at(-1)!.choices[0]).toMatchObject({ finish_reason: 'stop', stop_reason: 'reading' });
    expect(
      chunks.slice(0, -1).every((c) => c.choices[0]!.finish_reason === null && c.choices[0]!.stop_reason === null),
    ).toBe(true);
  });

  it('include_stop_str_in_output keeps the string', async () => {
    h = await startHarness(kind);
    const response = await send('/v1/completions', { stop: 'nearest', include_stop_str_in_output: true });
    const body = (await response.json()) as { choices: StreamChoice[] };
    expect(body.choices[0]).toMatchObject({ text: 'received 3 prompt embeddings; nearest', stop_reason: 'nearest' });
  });

  it('chat, paced: the finish chunk carries stop_reason; the whole answer too', async () => {
    h = await startHarness(kind, { mode: 'paced' });
    const chat = { messages: [{ role: 'user', content: 'hi' }], max_tokens: 5, stop: [' tok3'] };
    const chunks = await completionChunks(await send('/v1/chat/completions', { ...chat, stream: true }));
    type ChatChoice = { delta: { content?: string }; finish_reason: string | null; stop_reason?: string | null };
    const choices = chunks.map((c) => c.choices[0] as unknown as ChatChoice);
    expect(choices.map((c) => c.delta.content ?? '').join('')).toBe(' tok0 tok1 tok2');
    expect(choices.at(-1)).toMatchObject({ finish_reason: 'stop', stop_reason: ' tok3' });
    const whole = (await (await send('/v1/chat/completions', chat)).json()) as {
      choices: Array<{ message: { content: string }; finish_reason: string; stop_reason: string }>;
    };
    expect(whole.choices[0]).toMatchObject({
      message: { content: ' tok0 tok1 tok2' },
      finish_reason: 'stop',
      stop_reason: ' tok3',
    });
  });
});
