/**
 * Several prompts in one completion request, as vLLM's prompt-embeds tests send them
 * (tests/entrypoints/openai/test_completion_with_prompt_embeds.py): a list of `prompt_embeds`, a
 * text `prompt` alone or beside embeddings, token prompts. Embeddings come first, then text; prompt
 * `p`'s choices are `p·n … p·n + n − 1`.
 */
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

const readingOf = (tokens: number, text: string): string =>
  `received ${tokens} prompt embeddings; nearest-token reading: "${text}"`;
const tokenReadingOf = (text: string): string => `received ${[...text].length} prompt tokens; token reading: "${text}"`;

interface Completion {
  choices: StreamChoice[];
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

describe.each(TARGET_KINDS)('reference server, several prompts (%s)', (kind) => {
  let h: Harness;
  afterEach(async () => h?.target.close());

  const complete = async (body: Record<string, unknown>): Promise<Response> =>
    h.target.send('/v1/completions', postJson({ model: FAKE_MODEL, max_tokens: 40, ...body }));
  const whole = async (body: Record<string, unknown>): Promise<Completion> => {
    const response = await complete(body);
    expect(response.status).toBe(200);
    return (await response.json()) as Completion;
  };

  it('a batch of prompt_embeds, not streamed: one choice per tensor and n, in order; usage adds them', async () => {
    h = await startHarness(kind);
    const body = await whole({ prompt_embeds: [oneHotEmbeds([0, 1]), oneHotEmbeds([3])], n: 2 });
    expect(body.choices.map((c) => [c.index, c.text, c.finish_reason])).toEqual([
      [0, readingOf(2, 'Hello there'), 'stop'],
      [1, readingOf(2, 'Hello there'), 'stop'],
      [2, readingOf(1, '!'), 'stop'],
      [3, readingOf(1, '!'), 'stop'],
    ]);
    // 7 prefix words + the ids + the quote + EOS, per choice; each prompt's tokens counted once.
    expect(body.usage).toEqual({ prompt_tokens: 3, completion_tokens: 2 * 11 + 2 * 10, total_tokens: 45 });
  });

  it('a batch of prompt_embeds, streamed: every choice its own chunks and one finish, then usage', async () => {
    h = await startHarness(kind);
    const chunks = await completionChunks(
      await complete({
        prompt_embeds: [oneHotEmbeds([0, 1, 2]), oneHotEmbeds([3])],
        stream: true,
        stream_options: { include_usage: true },
      }),
    );
    const usage = chunks.pop();
    expect(usage?.usage).toEqual({ prompt_tokens: 4, completion_tokens: 12 + 10, total_tokens: 26 });
    expect(chunks.every((c) => c.choices.length === 1)).toBe(true);
    const byIndex = (index: number): StreamChoice[] =>
      chunks.map((c) => c.choices[0]!).filter((c) => c.index === index);
    expect(
      byIndex(0)
        .map((c) => c.text)
        .join(''),
    ).toBe(readingOf(3, 'Hello there ☃'));
    expect(
      byIndex(1)
        .map((c) => c.text)
        .join(''),
    ).toBe(readingOf(1, '!'));
    expect(chunks.filter((c) => c.choices[0]!.finish_reason !== null)).toHaveLength(2);
    // The shorter prompt finishes first; the longer one's chunks go on alone.
    expect(byIndex(1).at(-1)!.finish_reason).toBe('stop');
    expect(chunks.at(-1)!.choices[0]!.index).toBe(0);
  });

  it('a text prompt beside prompt_embeds: the embeddings first, then the text', async () => {
    h = await startHarness(kind);
    const mixed = await whole({ prompt: 'This is a prompt', prompt_embeds: oneHotEmbeds([1]) });
    const embedsOnly = await whole({ prompt: '', prompt_embeds: oneHotEmbeds([1]) });
    const textOnly = await whole({ prompt: 'This is a prompt' });
    expect(mixed.choices.map((c) => c.text)).toEqual([embedsOnly.choices[0]!.text, textOnly.choices[0]!.text]);
    expect(textOnly.choices[0]!.text).toBe(tokenReadingOf('This is a prompt'));
    expect(mixed.usage.prompt_tokens).toBe(1 + 16);
  });

  it('a text prompt with an empty prompt_embeds list (vLLM test_empty_prompt_embeds)', async () => {
    h = await startHarness(kind);
    const body = await whole({ prompt: 'Hello', prompt_embeds: [], max_tokens: 5 });
    expect(body.choices).toHaveLength(1);
    expect(body.usage.prompt_tokens).toBe(5);
  });

  it('strings, token ids and lists of token ids, each a prompt', async () => {
    h = await startHarness(kind);
    const strings = await whole({ prompt: ['Hi', 'there'] });
    expect(strings.choices.map((c) => c.text)).toEqual([tokenReadingOf('Hi'), tokenReadingOf('there')]);
    const ids = await whole({ prompt: [72, 105] });
    expect(ids.choices.map((c) => c.text)).toEqual([tokenReadingOf('Hi')]);
    const lists = await whole({ prompt: [[72], [105, 33]] });
    expect(lists.choices.map((c) => c.text)).toEqual([tokenReadingOf('H'), tokenReadingOf('i!')]);
  });

  it('paced mode: a text prompt counts its tokens; every prompt gets max_tokens', async () => {
    h = await startHarness(kind, { mode: 'paced' });
    const body = await whole({ prompt: ['abc', 'de'], max_tokens: 3 });
    expect(body.choices.map((c) => c.text)).toEqual([' tok0 tok1 tok2', ' tok0 tok1 tok2']);
    expect(body.usage).toEqual({ prompt_tokens: 5, completion_tokens: 6, total_tokens: 11 });
  });
});
