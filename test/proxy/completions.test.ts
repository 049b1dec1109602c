/**
 * POST /v1/completions (the legacy completions API) through the transform: real proxies in front
 * of the reference server (the vLLM stand-in), of a recording tap, or of a scripted upstream; the
 * answers checked against OpenAI's own schema (test/fixtures/openai/completion-schemas.yaml).
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { generateKeyPair, publicKeyHeader } from '../../src/client/index.js';
import type { RunningServer } from '../../src/reference-server/index.js';
import { loadSgt, type Sgt } from '../../src/sgt/index.js';
import { DEMO_SGT_DIR, IDENTITY_SGT_DIR } from '../support/artifacts.js';
import { startEchoReference } from '../support/reference-upstream.js';
import { postJson, startProxy, type ProxyUnderTest } from '../support/proxy-harness.js';
import { openAiSchemas } from '../support/schema-check.js';
import { scriptedReference } from '../support/scripted-reference.js';
import {
  forwardTo,
  hang,
  startScriptedUpstream,
  streamThenStall,
  streamTokens,
  type ScriptedUpstream,
} from '../support/scripted-upstream.js';
import { sseDataEvents } from '../support/streams.js';

const conformsTo = openAiSchemas();
const PROMPT = 'The lighthouse keeper wrote in his log';

let sgt: Sgt;
let demo: Sgt;
let reference: RunningServer;
let proxy: ProxyUnderTest;
let decrypting: ProxyUnderTest;
let tap: ScriptedUpstream;
let tapped: ProxyUnderTest;
let scripted: ReturnType<typeof scriptedReference>;
let upstream: ScriptedUpstream;
let toScripted: ProxyUnderTest;

beforeAll(async () => {
  [sgt, demo] = await Promise.all([loadSgt(IDENTITY_SGT_DIR), loadSgt(DEMO_SGT_DIR)]);
  reference = await startEchoReference(sgt);
  proxy = await startProxy({ sgt, upstreamUrl: reference.url });
  decrypting = await startProxy({ sgt, upstreamUrl: reference.url, protection: { decrypt: true } });
  tap = await startScriptedUpstream(forwardTo(reference.url));
  scripted = scriptedReference(demo, tap);
  tapped = await startProxy({ sgt: demo, upstreamUrl: tap.url, protection: { decrypt: true } });
  upstream = await startScriptedUpstream(streamTokens(['Hel', 'lo'], { usage: true }));
  toScripted = await startProxy({ sgt, upstreamUrl: upstream.url, upstreamTimeoutMs: 2_000 });
});

afterAll(async () => {
  await toScripted?.close();
  await upstream?.close();
  await tapped?.close();
  await scripted?.close();
  await tap?.close();
  await decrypting?.close();
  await proxy?.close();
  await reference?.close();
  await Promise.all([sgt?.close(), demo?.close()]);
});

const endpoint = (through: ProxyUnderTest) => `${through.url}/v1/completions`;
const body = (overrides: Record<string, unknown> = {}) => ({ prompt: PROMPT, max_tokens: 6, ...overrides });

async function chunksOf(response: Response): Promise<Record<string, unknown>[]> {
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const events = sseDataEvents(await response.text());
  expect(events.at(-1)).toBe('[DONE]');
  return events.slice(0, -1).map((event) => JSON.parse(event) as Record<string, unknown>);
}

type Choice = { text: string; finish_reason: string | null; logprobs: Record<string, unknown[]> | null };

/**
 * OpenAI's schema has one shape for the answer and each chunk, `finish_reason` always a string;
 * OpenAI's own stream sends null there until a choice's last chunk, as the proxy does. That one
 * field is checked here, the rest against the schema.
 */
function streamChunkProblems(chunk: Record<string, unknown>): string {
  const choices = chunk.choices as Choice[];
  return conformsTo('CreateCompletionResponse', {
    ...chunk,
    choices: choices.map((choice) => ({ ...choice, finish_reason: choice.finish_reason ?? 'stop' })),
  });
}

describe('answers', () => {
  it("non-stream: OpenAI's CreateCompletionResponse, the prompt read back by the (identity) transform's upstream", async () => {
    const response = await postJson(endpoint(proxy), body({ n: 2, max_tokens: 64 }));
    expect(response.status).toBe(200);
    const completion = (await response.json()) as Record<string, unknown> & { choices: Choice[] };
    expect(conformsTo('CreateCompletionResponse', completion)).toBe('');
    expect(completion).toMatchObject({ object: 'text_completion', model: sgt.metadata.baseModel });
    expect(completion.id).toMatch(/^cmpl-/);
    expect(completion.choices).toHaveLength(2);
    expect(completion.choices[0]!.logprobs).toBeNull();
    // Echo mode answers with what it reads in the embeddings: the raw prompt's tokens, no chat template.
    const tokens = sgt.tokenize(PROMPT).length;
    expect(completion.choices[0]!.text).toContain(
      `received ${tokens} prompt embeddings; nearest-token reading: "${PROMPT}"`,
    );
    expect(completion.choices[0]!.text).not.toContain('<|im_start|>');
    expect(completion.usage).toMatchObject({ prompt_tokens: sgt.tokenize(PROMPT).length });
  });

  it('stream: completion chunks ending [DONE]; usage only when asked, on a last chunk of its own', async () => {
    const plain = await chunksOf(await postJson(endpoint(proxy), body({ stream: true })));
    expect(plain.length).toBeGreaterThan(1);
    for (const chunk of plain) expect(streamChunkProblems(chunk)).toBe('');
    expect(plain.some((chunk) => 'usage' in chunk)).toBe(false);
    const withUsage = await chunksOf(
      await postJson(endpoint(proxy), body({ stream: true, stream_options: { include_usage: true } })),
    );
    expect(withUsage.at(-1)).toMatchObject({ choices: [], usage: { completion_tokens: expect.any(Number) } });
    for (const chunk of withUsage) expect(streamChunkProblems(chunk)).toBe('');
  });

  it('an array of one prompt is that prompt; unknown fields are ignored, as on the chat route', async () => {
    const response = await postJson(endpoint(proxy), body({ prompt: [PROMPT], not_a_field: 1, echo: false }));
    expect(response.status).toBe(200);
  });

  it('the proxy decrypting: the answer is opened; logprobs are asked for under wire format v2 and mapped', async () => {
    const response = await postJson(endpoint(decrypting), body({ logprobs: 2 }));
    expect(response.status).toBe(200);
    const completion = (await response.json()) as { choices: Choice[] };
    expect(conformsTo('CreateCompletionResponse', completion)).toBe('');
    const [choice] = completion.choices;
    const logprobs = choice!.logprobs as { tokens: string[]; text_offset: number[]; top_logprobs: object[] };
    expect(logprobs.tokens.join('')).toBe(choice!.text);
    expect(logprobs.text_offset[0]).toBe(0);
    expect(logprobs.text_offset).toHaveLength(logprobs.tokens.length);
    const streamed = await chunksOf(await postJson(endpoint(decrypting), body({ stream: true, logprobs: 0 })));
    for (const chunk of streamed) expect(streamChunkProblems(chunk)).toBe('');
    const text = streamed.map((chunk) => (chunk.choices as Choice[])[0]?.text ?? '').join('');
    const tokens = streamed.flatMap((chunk) => (chunk.choices as Choice[])[0]?.logprobs?.tokens ?? []);
    expect(tokens.join('')).toBe(text);
  });
});

describe('what reaches the upstream', () => {
  it('only the obfuscated embeddings, never the prompt text (a recording tap, the demo transform)', async () => {
    const secret = 'My card number is 4111 1111 1111 1111';
    await scripted.replyWith({ text: 'Noted.' });
    const response = await postJson(endpoint(tapped), body({ prompt: secret, temperature: 0.5, stop: ['\n'] }));
    expect(response.status).toBe(200);
    expect(((await response.json()) as { choices: Choice[] }).choices[0]!.text).toBe('Noted.');
    const [request] = tap.requests;
    expect(request!.path).toBe('/v1/completions');
    const wire = request!.raw.toString('utf8');
    for (const piece of ['4111', 'card number', secret]) expect(wire).not.toContain(piece);
    const sent = request!.json();
    expect(sent).not.toHaveProperty('prompt');
    expect(sent).toMatchObject({ prompt_embeds: expect.any(String), max_tokens: 6, temperature: 0.5, stop: ['\n'] });
    // The answer, sealed on the wire, opened by the proxy.
    expect(request!.headers['x-client-public-key']).toBeDefined();
  });
});

describe('the official openai SDK (client.completions.create)', () => {
  const client = () => new OpenAI({ baseURL: `${proxy.url}/v1`, apiKey: 'not-needed', maxRetries: 0 });

  it('non-stream and stream', async () => {
    const completion = await client().completions.create({
      model: sgt.metadata.baseModel,
      prompt: PROMPT,
      max_tokens: 5,
    });
    expect(completion.object).toBe('text_completion');
    expect(completion.choices[0]!.text.length).toBeGreaterThan(0);
    const stream = await client().completions.create({
      model: sgt.metadata.baseModel,
      prompt: PROMPT,
      max_tokens: 5,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | undefined | null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.text ?? '';
      usage = chunk.usage ?? usage;
    }
    expect(text).toBe(completion.choices[0]!.text);
    expect(usage?.completion_tokens).toBeGreaterThan(0);
  });

  it('a refused parameter is an SDK BadRequestError naming it', async () => {
    const error = await client()
      .completions.create({ model: sgt.metadata.baseModel, prompt: PROMPT, echo: true })
      .catch((err: unknown) => err);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error).toMatchObject({ param: 'echo', code: 'unsupported_parameter' });
  });
});

describe('bad input: 400 naming the field', () => {
  const cases: [string, Record<string, unknown>, string, string][] = [
    ['no prompt', { prompt: undefined }, 'prompt', 'invalid_value'],
    ['a number', { prompt: 5 }, 'prompt', 'invalid_value'],
    ['token ids', { prompt: [1, 2, 3] }, 'prompt', 'unsupported_parameter'],
    ['token-id arrays', { prompt: [[1, 2]] }, 'prompt', 'unsupported_parameter'],
    ['several prompts', { prompt: ['a', 'b'] }, 'prompt', 'invalid_value'],
    ['an empty array', { prompt: [] }, 'prompt', 'invalid_value'],
    ['echo', { echo: true }, 'echo', 'unsupported_parameter'],
    ['suffix', { suffix: ' and so on' }, 'suffix', 'unsupported_parameter'],
    ['best_of', { best_of: 3 }, 'best_of', 'unsupported_parameter'],
    ['logit_bias', { logit_bias: { '1': 5 } }, 'logit_bias', 'unsupported_parameter'],
    ['logprobs too many', { logprobs: 50 }, 'logprobs', 'invalid_value'],
    ['max_tokens 0', { max_tokens: 0 }, 'max_tokens', 'invalid_value'],
    ['temperature 3', { temperature: 3 }, 'temperature', 'invalid_value'],
  ];
  for (const [name, overrides, param, code] of cases) {
    it(name, async () => {
      const response = await postJson(endpoint(proxy), body(overrides));
      expect(response.status).toBe(400);
      const { error } = (await response.json()) as { error: { param: string; code: string } };
      expect(conformsTo('ErrorResponse', { error })).toBe('');
      expect(error).toMatchObject({ param, code });
    });
  }

  it('a prompt over max_sequence_length: context_length_exceeded naming prompt', async () => {
    const long = 'word '.repeat(sgt.metadata.maxSequenceLength + 10);
    const response = await postJson(endpoint(proxy), body({ prompt: long }));
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: { param: 'prompt', code: 'context_length_exceeded' } });
  });

  it("logprobs while relaying the client's own key: refused, as on the chat route", async () => {
    const key = { 'x-client-public-key': publicKeyHeader(generateKeyPair().publicKey) };
    const response = await postJson(endpoint(proxy), body({ logprobs: 1 }), key);
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: { param: 'logprobs', code: 'unsupported_parameter' } });
  });
});

describe('the upstream', () => {
  it("a scripted stream: relayed under the proxy's id and model, usage only when asked", async () => {
    upstream.setBehaviour(streamTokens(['Hel', 'lo'], { usage: true }));
    const chunks = await chunksOf(await postJson(endpoint(toScripted), body({ stream: true, model: 'up-model' })));
    expect(chunks.map((chunk) => (chunk.choices as Choice[])[0]?.text)).toEqual(['Hel', 'lo']);
    expect(new Set(chunks.map((chunk) => chunk.id)).size).toBe(1);
    expect(chunks[0]!.id).not.toBe('cmpl-up');
    expect(chunks.every((chunk) => chunk.model === 'up-model' && chunk.object === 'text_completion')).toBe(true);
  });

  it("the client's own key: the ciphertext is relayed as it is", async () => {
    upstream.setBehaviour((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json', 'x-server-public-key': 'A'.repeat(43) + '=' });
      response.end(
        JSON.stringify({
          id: 'cmpl-up',
          object: 'text_completion',
          created: 1,
          model: 'up-model',
          choices: [{ index: 0, text: 'c2VhbGVk', logprobs: null, finish_reason: 'stop' }],
        }),
      );
    });
    const key = { 'x-client-public-key': publicKeyHeader(generateKeyPair().publicKey) };
    const response = await postJson(endpoint(toScripted), body(), key);
    expect(response.status).toBe(200);
    expect(response.headers.get('x-server-public-key')).toBe('A'.repeat(43) + '=');
    expect(await response.json()).toMatchObject({ choices: [{ text: 'c2VhbGVk' }] });
  });

  it('down: 502 upstream_unavailable', async () => {
    const closed = await startScriptedUpstream(hang);
    await closed.close();
    const other = await startProxy({ sgt, upstreamUrl: closed.url });
    try {
      const response = await postJson(endpoint(other), body());
      expect(response.status).toBe(502);
      expect(await response.json()).toMatchObject({ error: { code: 'upstream_unavailable' } });
    } finally {
      await other.close();
    }
  });

  it('a stream truncated without [DONE]: an error event, then [DONE]', async () => {
    upstream.setBehaviour((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.end('data: {"id":"x","object":"text_completion","created":1,"model":"m","choices":[]}\n\n');
    });
    const events = sseDataEvents(await (await postJson(endpoint(toScripted), body({ stream: true }))).text());
    expect(JSON.parse(events.at(-2)!)).toMatchObject({ error: { message: expect.stringMatching(/incomplete/) } });
    expect(events.at(-1)).toBe('[DONE]');
  });

  it('a client that goes away mid-stream: the upstream request is closed', async () => {
    upstream.setBehaviour(streamThenStall('first'));
    const controller = new AbortController();
    const response = await postJson(endpoint(toScripted), body({ stream: true }), {}, controller.signal);
    const reader = response.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toContain('data:');
    const aborted = upstream.nextAbort();
    controller.abort();
    expect((await aborted).path).toBe('/v1/completions');
  });

  it('a client that goes away before the answer: the upstream request is closed', async () => {
    upstream.setBehaviour(hang);
    upstream.requests.length = 0;
    const controller = new AbortController();
    const pending = postJson(endpoint(toScripted), body({ stream: true }), {}, controller.signal).catch(
      (err: Error) => err,
    );
    await vi.waitFor(() => expect(upstream.requests).toHaveLength(1));
    const aborted = upstream.nextAbort();
    controller.abort();
    await aborted;
    expect(await pending).toBeInstanceOf(Error);
  });
});
