import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodePromptEmbeds, type EmbedsDtype } from '../../src/embeds/index.js';
import { loadSgt, type Sgt } from '../../src/sgt/index.js';
import { DEMO_SGT_DIR, IDENTITY_SGT_DIR } from '../support/artifacts.js';
import { collectText, sseDataEvents } from '../support/streams.js';
import { TARGET_KINDS, postJson, startHarness, type Harness } from './helpers.js';
import { testNoiseKey } from '../support/noise.js';

interface Chunk {
  choices: Array<{ text: string; finish_reason: string | null }>;
}

/** The user's prompt as the proxy would send it: templated, tokenized, transformed, serialised. */
async function promptEmbeds(
  sgt: Sgt,
  content: string,
  dtype: EmbedsDtype,
): Promise<{ text: string; tokens: number; base64: string }> {
  const text = sgt.renderPrompt([{ role: 'user', content }]);
  const result = await sgt.transform(sgt.tokenize(text), { noise: testNoiseKey(42n) });
  return {
    text,
    tokens: result.tokens,
    base64: encodePromptEmbeds(result.embeds, [result.tokens, result.hidden], dtype),
  };
}

const readingOf = (tokens: number, text: string): string =>
  `received ${tokens} prompt embeddings; nearest-token reading: "${text}"`;

describe.each(TARGET_KINDS)('echo mode with real SGT artifacts (%s)', (kind) => {
  let identity: Sgt;
  let h: Harness;
  beforeAll(async () => {
    identity = await loadSgt(IDENTITY_SGT_DIR);
    h = await startHarness(kind, { sgt: identity });
  });
  afterAll(async () => {
    await h?.target.close();
    await identity?.close();
  });

  const maxTokensFor = (sgt: Sgt, tokens: number): number => sgt.metadata.maxSequenceLength - tokens;

  it('streams the templated prompt back, token by token, when the noise is off', async () => {
    const prompt = await promptEmbeds(identity, 'Hello there', 'float32');
    const body = {
      model: identity.metadata.baseModel,
      prompt_embeds: prompt.base64,
      max_tokens: maxTokensFor(identity, prompt.tokens),
      stream: true,
    };
    const response = await h.target.send('/v1/completions', postJson(body));
    expect(response.status).toBe(200);
    const events = sseDataEvents(await collectText(response.body!));
    expect(events.at(-1)).toBe('[DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e) as Chunk);
    expect(chunks.map((c) => c.choices[0]!.text).join('')).toBe(readingOf(prompt.tokens, prompt.text));
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe('stop');
  });

  it('reads a bfloat16 tensor back too (not streamed)', async () => {
    const prompt = await promptEmbeds(identity, 'Hello there', 'bfloat16');
    const body = { prompt_embeds: prompt.base64, max_tokens: maxTokensFor(identity, prompt.tokens) };
    const response = await h.target.send('/v1/completions', postJson(body));
    expect(response.status).toBe(200);
    const completion = (await response.json()) as {
      choices: Array<{ text: string }>;
      usage: { prompt_tokens: number };
    };
    expect(completion.choices[0]!.text).toContain('Hello there');
    expect(completion.usage.prompt_tokens).toBe(prompt.tokens);
  });

  it("tokenizes a text prompt with the artifact's tokenizer, beside embeddings: embeddings first", async () => {
    const text = 'Ünïcode prompts, <think> tags and all 😀';
    const embeds = await promptEmbeds(identity, 'Hi', 'float32');
    const ids = identity.tokenize(text);
    const response = await h.target.send(
      '/v1/completions',
      postJson({ prompt: text, prompt_embeds: embeds.base64, max_tokens: 64 }),
    );
    const completion = (await response.json()) as {
      choices: Array<{ index: number; text: string }>;
      usage: { prompt_tokens: number };
    };
    expect(completion.choices.map((c) => c.index)).toEqual([0, 1]);
    expect(completion.choices[0]!.text).toBe(readingOf(embeds.tokens, embeds.text));
    expect(completion.choices[1]!.text).toBe(`received ${ids.length} prompt tokens; token reading: "${text}"`);
    expect(completion.usage.prompt_tokens).toBe(embeds.tokens + ids.length);
  });
});

describe('echo mode with the demo SGT (noise on)', () => {
  let demo: Sgt;
  let h: Harness;
  beforeAll(async () => {
    demo = await loadSgt(DEMO_SGT_DIR);
    h = await startHarness('in-process', { sgt: demo });
  });
  afterAll(async () => {
    await demo?.close();
  });

  it('shows what a curious server reads: not the prompt', async () => {
    const secret = 'My account password is hunter2, please keep it safe';
    const prompt = await promptEmbeds(demo, secret, 'bfloat16');
    const body = { prompt_embeds: prompt.base64, max_tokens: demo.metadata.maxSequenceLength - prompt.tokens };
    const completion = (await (await h.target.send('/v1/completions', postJson(body))).json()) as {
      choices: Array<{ text: string }>;
    };
    const text = completion.choices[0]!.text;
    expect(text.startsWith(`received ${prompt.tokens} prompt embeddings; nearest-token reading: "`)).toBe(true);
    expect(text).not.toContain(secret);
  });
});
