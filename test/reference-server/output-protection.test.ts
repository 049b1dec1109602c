import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ChatOutputParser } from '../../src/chat-output/index.js';
import { createResponseDecryptor, generateKeyPair, publicKeyHeader } from '../../src/client/index.js';
import { encodePromptEmbeds } from '../../src/embeds/index.js';
import { outputProtectionRegistry } from '../../src/protection/index.js';
import { startReferenceServer, type RunningServer } from '../../src/reference-server/index.js';
import { loadSgt, type Sgt } from '../../src/sgt/index.js';
import { IDENTITY_SGT_DIR } from '../support/artifacts.js';
import { sseDataEvents } from '../support/streams.js';

/** The reference server with `--output-protection required`, on a real loopback port. */
let sgt: Sgt;
let server: RunningServer;
let renamed: RunningServer;
let scripted: RunningServer;
let embeds: string;

const TOOL_REPLY =
  'Let me look. <tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "days": 2.0}}\n</tool_call>';
const keys = generateKeyPair();

beforeAll(async () => {
  sgt = await loadSgt(IDENTITY_SGT_DIR);
  const base = { sgt, logger: pino({ level: 'silent' }), host: '127.0.0.1', port: 0, tokenIntervalMs: 0 } as const;
  server = await startReferenceServer({ ...base, mode: 'echo', outputProtection: 'required' });
  renamed = await startReferenceServer({
    ...base,
    mode: 'paced',
    tokenIntervalMs: 5,
    outputProtection: 'required',
    protectionHeaders: { client: 'x-k', server: 'x-s' },
  });
  scripted = await startReferenceServer({
    ...base,
    mode: 'scripted',
    replies: { replies: [{ text: TOOL_REPLY }] },
    outputProtection: 'required',
  });
  const ids = sgt.tokenize(sgt.renderPrompt([{ role: 'user', content: 'Hello there, encrypted world' }]));
  const result = await sgt.transform(ids);
  embeds = encodePromptEmbeds(result.embeds, [result.tokens, result.hidden], 'float32');
});

afterAll(async () => {
  await server?.close();
  await renamed?.close();
  await scripted?.close();
  await sgt?.close();
});

function complete(
  url: string,
  body: Record<string, unknown>,
  headers: Record<string, string>,
  signal?: AbortSignal,
): Promise<Response> {
  return fetch(`${url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model: sgt.metadata.baseModel, prompt_embeds: embeds, max_tokens: 64, ...body }),
    signal,
  });
}

const withKey = { 'x-client-public-key': publicKeyHeader(keys.publicKey) };

describe('reference server, output protection required', () => {
  it('without a key → 400 naming the header', async () => {
    const response = await complete(server.url, { stream: true }, {});
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { message: string } }).error.message).toMatch(/x-client-public-key/);
  });

  it('with a key, every streamed text is ciphertext and decrypts in order to the echo', async () => {
    const response = await complete(server.url, { stream: true }, withKey);
    const chunks = sseDataEvents(await response.text())
      .slice(0, -1)
      .map((e) => JSON.parse(e) as { choices: { index: number; text: string }[] });
    const texts = chunks.map((c) => c.choices[0]!.text).filter((t) => t !== '');
    expect(texts.length).toBeGreaterThan(5);
    for (const text of texts) expect(Buffer.from(text, 'base64').length).toBeGreaterThanOrEqual(16); // a GCM tag at least
    expect(texts.join('')).not.toContain('Hello');
    const decryptor = createResponseDecryptor(response.headers.get('x-server-public-key'), keys.privateKey);
    const plain = chunks.map((c) => decryptor.decryptCompletion(c).choices[0]!.text).join('');
    expect(plain).toContain('Hello there, encrypted world');
    await vi.waitFor(() => expect(outputProtectionRegistry.size).toBe(0));
  });

  it('encrypts a non-stream body too', async () => {
    const response = await complete(server.url, {}, withKey);
    const body = (await response.json()) as { choices: { index: number; text: string }[] };
    expect(body.choices[0]!.text).not.toContain('Hello');
    const decryptor = createResponseDecryptor(response.headers.get('x-server-public-key'), keys.privateKey);
    expect(decryptor.decryptCompletion(body).choices[0]!.text).toContain('Hello there, encrypted world');
  });

  it('the registry is emptied after a failed request and after a client abort mid-stream', async () => {
    const failed = await complete(server.url, { max_tokens: 0 }, withKey);
    expect(failed.status).toBe(400);
    await failed.text();
    const controller = new AbortController();
    const streaming = await complete(
      renamed.url,
      { stream: true, max_tokens: 1000 },
      { 'x-k': withKey['x-client-public-key'] },
      controller.signal,
    );
    const reader = streaming.body!.getReader();
    await reader.read();
    expect(outputProtectionRegistry.size).toBe(1);
    controller.abort();
    await vi.waitFor(() => expect(outputProtectionRegistry.size).toBe(0));
  });

  it('header names come from configuration', async () => {
    const response = await complete(
      renamed.url,
      { stream: true, max_tokens: 3 },
      { 'x-k': withKey['x-client-public-key'] },
    );
    expect(response.status).toBe(200);
    expect(response.headers.get('x-s')).toMatch(/=$/);
    const decryptor = createResponseDecryptor(response.headers.get('x-s'), keys.privateKey, { serverKeyHeader: 'x-s' });
    const chunks = sseDataEvents(await response.text())
      .slice(0, -1)
      .map((e) => JSON.parse(e) as { choices: { index: number; text: string }[] });
    expect(chunks.map((c) => decryptor.decryptCompletion(c).choices[0]?.text ?? '').join('')).toBe(' tok0 tok1 tok2');
  });

  it('refuses logprobs on a protected answer with a 400 naming logprobs: their tokens are plaintext', async () => {
    const response = await complete(server.url, { logprobs: 1 }, withKey);
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { message: string; param: string } };
    expect(body.error.param).toBe('logprobs');
    expect(body.error.message).toMatch(/plaintext/);
    await vi.waitFor(() => expect(outputProtectionRegistry.size).toBe(0));
  });

  it('with wire format v2, logprobs are allowed and every token in them is encrypted, stream and whole body', async () => {
    const v2 = { ...withKey, 'x-output-protection-version': '2' };
    type Choice = {
      index: number;
      text: string;
      logprobs: { tokens: string[]; top_logprobs: Record<string, number>[]; token_logprobs: number[] };
    };
    const stream = await complete(scripted.url, { stream: true, logprobs: 2 }, v2);
    expect(stream.status).toBe(200);
    expect(stream.headers.get('x-output-protection-version')).toBe('2');
    const raw = sseDataEvents(await stream.text()).slice(0, -1);
    expect(raw.join('')).not.toMatch(/get_weather|Paris|tool_call/);
    const decryptor = createResponseDecryptor(stream.headers, keys.privateKey);
    const choices = raw.map((e) => decryptor.decryptCompletion(JSON.parse(e) as { choices: Choice[] }).choices[0]!);
    expect(choices.map((c) => c.text).join('')).toBe(TOOL_REPLY);
    for (const c of choices) {
      expect(c.logprobs.tokens).toEqual([c.text]);
      expect(Object.keys(c.logprobs.top_logprobs[0]!)).toContain(c.text);
      expect(c.logprobs.token_logprobs).toEqual([0]);
    }

    const whole = await complete(scripted.url, { logprobs: 1, n: 2 }, v2);
    const body = (await whole.json()) as { choices: Choice[] };
    expect(JSON.stringify(body)).not.toMatch(/get_weather|Paris/);
    const opened = createResponseDecryptor(whole.headers, keys.privateKey).decryptCompletion(body);
    for (const c of opened.choices) {
      expect(c.text).toBe(TOOL_REPLY);
      expect(c.logprobs.tokens.join('')).toBe(TOOL_REPLY);
    }
    await vi.waitFor(() => expect(outputProtectionRegistry.size).toBe(0));
  });

  it('streams a scripted tool-call reply encrypted, token by token; decrypted, it parses to the call', async () => {
    const response = await complete(scripted.url, { stream: true }, withKey);
    const chunks = sseDataEvents(await response.text())
      .slice(0, -1)
      .map((e) => JSON.parse(e) as { choices: { index: number; text: string; finish_reason: string | null }[] });
    expect(chunks.length).toBeGreaterThan(10);
    expect(chunks.map((c) => c.choices[0]!.text).join('')).not.toContain('get_weather');
    const decryptor = createResponseDecryptor(response.headers.get('x-server-public-key'), keys.privateKey);
    const parser = new ChatOutputParser({ tools: 'hermes', newToolCallId: () => 'call-1' });
    const deltas = chunks.map((c) => decryptor.decryptCompletion(c).choices[0]!.text);
    expect(deltas.join('')).toBe(TOOL_REPLY);
    // The tokenizer's own pieces: `<tool_call>` is one token of this vocabulary.
    expect(deltas).toContain('<tool_call>');
    const events = [...deltas.flatMap((d) => parser.feed(d)), ...parser.end().events];
    expect(events.filter((e) => e.kind !== 'content')).toEqual([
      { kind: 'tool-call-start', index: 0, id: 'call-1', name: 'get_weather' },
      { kind: 'tool-call-arguments', index: 0, fragment: '{"city": "Paris", "days": 2.0}' },
    ]);
    expect(events.map((e) => (e.kind === 'content' ? e.text : '')).join('')).toBe('Let me look. ');
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe('stop');
  });

  it('applies stop before encrypting: the answer ends before the stop string, which stop_reason names', async () => {
    const response = await complete(scripted.url, { stop: ['</tool_call>'] }, withKey);
    const body = (await response.json()) as { choices: { index: number; text: string; stop_reason: string }[] };
    expect(body.choices[0]!.stop_reason).toBe('</tool_call>');
    const decryptor = createResponseDecryptor(response.headers.get('x-server-public-key'), keys.privateKey);
    expect(decryptor.decryptCompletion(body).choices[0]!.text).toBe(
      TOOL_REPLY.slice(0, TOOL_REPLY.indexOf('</tool_call>')),
    );
  });
});
