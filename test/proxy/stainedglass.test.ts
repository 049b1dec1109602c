import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSgt, type Sgt } from '../../src/sgt/index.js';
import { DEMO_SGT_DIR, IDENTITY_SGT_DIR } from '../support/artifacts.js';
import { startProxy, type ProxyUnderTest } from '../support/proxy-harness.js';

interface StainedGlassBody {
  tokenized_plain_text: string[];
  plain_text_embeddings?: number[][];
  transformed_embeddings?: number[][];
  reconstructed_prompt?: string;
  obfuscation_score?: number;
}

const MESSAGES = [{ role: 'user', content: 'My card number is 4111 1111 1111 1111' }];

let identity: Sgt;
let demo: Sgt;
let identityProxy: ProxyUnderTest;
let demoProxy: ProxyUnderTest;

beforeAll(async () => {
  [identity, demo] = await Promise.all([loadSgt(IDENTITY_SGT_DIR), loadSgt(DEMO_SGT_DIR)]);
  // The route needs no upstream: nothing listens there, and nothing must be sent.
  identityProxy = await startProxy({ sgt: identity, upstreamUrl: 'http://127.0.0.1:1' });
  demoProxy = await startProxy({ sgt: demo, upstreamUrl: 'http://127.0.0.1:1' });
});

afterAll(async () => {
  await identityProxy?.close();
  await demoProxy?.close();
  await identity?.close();
  await demo?.close();
});

async function inspect(proxy: ProxyUnderTest, body: Record<string, unknown>): Promise<Response> {
  return proxy.app.request('/v1/stainedglass', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

describe('POST /v1/stainedglass', () => {
  it('always returns the tokenized templated prompt, and only what was asked for', async () => {
    const response = await inspect(demoProxy, { messages: MESSAGES });
    expect(response.status).toBe(200);
    const body = (await response.json()) as StainedGlassBody;
    expect(Object.keys(body)).toEqual(['tokenized_plain_text']);
    expect(body.tokenized_plain_text.join('')).toContain('My card number is 4111');
    expect(body.tokenized_plain_text.join('')).toContain('<|im_start|>user');
  });

  it('identity transform: transformed equals plain, the prompt is reconstructed, score 0', async () => {
    const response = await inspect(identityProxy, {
      messages: MESSAGES,
      return_plain_text_embeddings: true,
      return_transformed_embeddings: true,
      return_reconstructed_prompt: true,
      return_obfuscation_score: true,
    });
    const body = (await response.json()) as StainedGlassBody;
    const tokens = body.tokenized_plain_text.length;
    expect(body.plain_text_embeddings).toHaveLength(tokens);
    expect(body.plain_text_embeddings![0]).toHaveLength(identity.metadata.hiddenSize);
    expect(body.transformed_embeddings).toEqual(body.plain_text_embeddings);
    expect(body.reconstructed_prompt).toBe(body.tokenized_plain_text.join(''));
    expect(body.obfuscation_score).toBe(0);
  });

  it('demo transform: the reconstruction misses the secret and the score is high', async () => {
    const body = (await (
      await inspect(demoProxy, {
        messages: MESSAGES,
        return_reconstructed_prompt: true,
        return_obfuscation_score: true,
      })
    ).json()) as StainedGlassBody;
    expect(body.reconstructed_prompt).not.toContain('4111');
    expect(body.obfuscation_score).toBeGreaterThan(0.8);
  });

  it('prefix mode (the default): the same prompt gives the same transformed embeddings whatever the seed', async () => {
    const get = async (seed?: number) =>
      (
        (await (
          await inspect(demoProxy, {
            messages: MESSAGES,
            ...(seed === undefined ? {} : { seed }),
            return_transformed_embeddings: true,
          })
        ).json()) as StainedGlassBody
      ).transformed_embeddings;
    const [a, b, c] = [await get(7), await get(8), await get()];
    expect(a).toEqual(b);
    expect(a).toEqual(c);
  });

  it('fresh mode: the same seed gives the same transformed embeddings; another seed, or none, does not', async () => {
    const fresh = await startProxy({ sgt: demo, upstreamUrl: 'http://127.0.0.1:1', noiseMode: 'fresh' });
    try {
      const get = async (seed?: number) =>
        (
          (await (
            await inspect(fresh, {
              messages: MESSAGES,
              ...(seed === undefined ? {} : { seed }),
              return_transformed_embeddings: true,
            })
          ).json()) as StainedGlassBody
        ).transformed_embeddings;
      const [a, b, c, d, e] = [await get(7), await get(7), await get(8), await get(), await get()];
      expect(a).toEqual(b);
      expect(a).not.toEqual(c);
      expect(d).not.toEqual(e);
    } finally {
      await fresh.close();
    }
  });

  it('the same prompt under another SGP_NOISE_SECRET gives different noise', async () => {
    const other = await startProxy({
      sgt: demo,
      upstreamUrl: 'http://127.0.0.1:1',
      noiseSecret: 'a-different-noise-secret-42',
    });
    try {
      const get = async (proxy: ProxyUnderTest) =>
        (
          (await (
            await inspect(proxy, { messages: MESSAGES, seed: 7, return_transformed_embeddings: true })
          ).json()) as StainedGlassBody
        ).transformed_embeddings;
      const [mine, again, theirs] = [await get(demoProxy), await get(demoProxy), await get(other)];
      expect(mine).toEqual(again);
      expect(theirs).not.toEqual(mine);
    } finally {
      await other.close();
    }
  });

  it.each([
    ['missing messages', {}, 'messages'],
    ['a flag of the wrong type', { messages: MESSAGES, return_obfuscation_score: 'yes' }, 'return_obfuscation_score'],
    ['an unknown role', { messages: [{ role: 'robot', content: 'x' }] }, 'messages[0].role'],
  ])('%s → 400 envelope naming the field', async (_name, body, param) => {
    const response = await inspect(demoProxy, body);
    expect(response.status).toBe(400);
    const { error } = (await response.json()) as { error: { param: string; type: string } };
    expect(error).toMatchObject({ param, type: 'invalid_request_error' });
  });

  it('invalid JSON → 400', async () => {
    const response = await demoProxy.app.request('/v1/stainedglass', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{',
    });
    expect(response.status).toBe(400);
  });
});
