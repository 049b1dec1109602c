/**
 * Scripted mode: replies from a file, in turn or by `match`, streamed as their tokens through the
 * same paths as echo mode; the replies file is checked at start-up.
 */
import { captureLogger } from '../support/capture-logger.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ScriptedRepliesError,
  createReferenceServerApp,
  readScriptedReplies,
} from '../../src/reference-server/index.js';
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

const REPLIES = {
  replies: [
    { match: 'weather', text: 'sunny' },
    { text: 'first' },
    { tokens: ['<think>', 'hm', '</think>', '{"a": ', '1}'] },
    { text: 'cut short', finish_reason: 'length' as const },
  ],
};

describe.each(TARGET_KINDS)('reference server, scripted mode (%s)', (kind) => {
  let h: Harness;
  afterEach(async () => h?.target.close());

  const complete = async (
    body: Record<string, unknown>,
  ): Promise<{ choices: StreamChoice[]; usage: { completion_tokens: number } }> => {
    const response = await h.target.send('/v1/completions', postJson({ model: FAKE_MODEL, max_tokens: 40, ...body }));
    expect(response.status).toBe(200);
    return (await response.json()) as { choices: StreamChoice[]; usage: { completion_tokens: number } };
  };
  const text = async (body: Record<string, unknown>): Promise<string> => (await complete(body)).choices[0]!.text;

  it('takes the unconditional replies in turn, one per prompt, and starts over', async () => {
    h = await startHarness(kind, { mode: 'scripted', replies: REPLIES });
    expect(await text({ prompt: 'a' })).toBe('first');
    expect(await text({ prompt: 'b' })).toBe('<think>hm</think>{"a": 1}');
    const both = await complete({ prompt: ['c', 'd'], n: 2 });
    expect(both.choices.map((c) => [c.index, c.text])).toEqual([
      [0, 'cut short'],
      [1, 'cut short'],
      [2, 'first'],
      [3, 'first'],
    ]);
  });

  it('answers a prompt whose reading contains `match` with that reply, out of turn', async () => {
    h = await startHarness(kind, { mode: 'scripted', replies: REPLIES });
    expect(await text({ prompt: 'What is the weather?' })).toBe(REPLIES.replies[0]!.text);
    expect(await text({ prompt: 'next' })).toBe('first');
    // Embeddings are read as echo mode reads them: one-hot rows 0 and 1 read "Hello there".
    h = await startHarness(kind, {
      mode: 'scripted',
      replies: { replies: [{ match: 'Hello there', text: 'hi!' }, { text: 'other' }] },
    });
    expect(await text({ prompt_embeds: oneHotEmbeds([0, 1]) })).toBe('hi!');
    expect(await text({ prompt_embeds: oneHotEmbeds([3]) })).toBe('other');
  });

  it('streams `tokens` one chunk each, then EOS; `finish_reason: "length"` has no EOS; max_tokens cuts', async () => {
    h = await startHarness(kind, {
      mode: 'scripted',
      replies: { replies: [REPLIES.replies[2]!, REPLIES.replies[3]!] },
    });
    const first = await completionChunks(
      await h.target.send('/v1/completions', postJson({ prompt: 'x', stream: true })),
    );
    expect(first.map((c) => c.choices[0]!.text)).toEqual(['<think>', 'hm', '</think>', '{"a": ', '1}', '']);
    expect(first.at(-1)!.choices[0]).toMatchObject({ finish_reason: 'stop', stop_reason: null });
    const cut = await complete({ prompt: 'x' });
    expect(cut.choices[0]).toMatchObject({ text: 'cut short', finish_reason: 'length' });
    expect(cut.usage.completion_tokens).toBe('cut short'.length);
    const limited = await complete({ prompt: 'x', max_tokens: 2 });
    expect(limited.choices[0]).toMatchObject({ text: '<think>hm', finish_reason: 'length' });
  });

  it('answers chat completions too, matching the messages', async () => {
    h = await startHarness(kind, { mode: 'scripted', replies: REPLIES });
    const response = await h.target.send(
      '/v1/chat/completions',
      postJson({ messages: [{ role: 'user', content: 'Weather in Paris? weather!' }], stream: true }),
    );
    const chunks = await completionChunks(response);
    const content = chunks.map((c) => (c.choices[0] as unknown as { delta: { content?: string } }).delta.content ?? '');
    expect(content.join('')).toBe(REPLIES.replies[0]!.text);
  });

  it('a prompt that no reply applies to is a 400', async () => {
    h = await startHarness(kind, { mode: 'scripted', replies: { replies: [{ match: 'only this', text: 'x' }] } });
    const response = await h.target.send('/v1/completions', postJson({ prompt: 'something else' }));
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { message: string } }).error.message).toMatch(/no reply/);
  });
});

describe('scripted replies, checked at start-up', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sgp-replies-'));
  const file = (name: string, content: string): string => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  };

  it('reads a replies file', async () => {
    expect(await readScriptedReplies(file('ok.json', JSON.stringify(REPLIES)))).toEqual(REPLIES);
  });

  it.each([
    ['a missing file', undefined, /cannot read the replies file/],
    ['not JSON', '{', /is not JSON/],
    ['no replies', '{"replies": []}', /replies/],
    ['text and tokens', '{"replies": [{"text": "a", "tokens": ["a"]}]}', /exactly one of "text"/],
    ['an unknown key', '{"replies": [{"text": "a", "delay": 3}]}', /delay/],
    ['a bad finish_reason', '{"replies": [{"text": "a", "finish_reason": "tool_calls"}]}', /finish_reason/],
  ])('refuses %s with one message', async (name, content, message) => {
    const path = content === undefined ? join(dir, 'missing.json') : file(`${name}.json`, content);
    const error = await readScriptedReplies(path).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(ScriptedRepliesError);
    expect(String(error)).toMatch(message);
  });

  it('replies belong to scripted mode, and scripted mode needs them', () => {
    const base = { sgt: fakeSgt(), tokenIntervalMs: 0, logger: captureLogger().logger };
    expect(() => createReferenceServerApp({ ...base, mode: 'scripted' })).toThrow(/scripted mode/);
    expect(() => createReferenceServerApp({ ...base, mode: 'echo', replies: REPLIES })).toThrow(/scripted mode/);
  });

  it("a reply the artifact's tokenizer cannot take stops start-up", () => {
    const base = { sgt: fakeSgt(), tokenIntervalMs: 0, logger: captureLogger().logger, mode: 'scripted' as const };
    // The fake tokenizer has no token for U+0001.
    expect(() => createReferenceServerApp({ ...base, replies: { replies: [{ text: '\u0001' }] } })).toThrow(
      ScriptedRepliesError,
    );
  });
});
