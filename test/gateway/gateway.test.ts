import { request } from 'node:http';
import type { ServerResponse } from 'node:http';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createResponseDecryptor, generateKeyPair, publicKeyHeader } from '../../src/client/index.js';
import { listen, type RunningServer } from '../../src/http/index.js';
import { createProtectGateway } from '../../src/gateway/index.js';
import { outputProtectionRegistry } from '../../src/protection/index.js';
import {
  jsonBody,
  startScriptedUpstream,
  streamThenStall,
  streamTokens,
  type ScriptedUpstream,
} from '../support/scripted-upstream.js';
import { sseDataEvents } from '../support/streams.js';

/** An unmodified vLLM (plaintext) behind `sgt-proxy protect`. */
let vllm: ScriptedUpstream;
let gateway: RunningServer;
const keys = generateKeyPair();
const keyHeader = { 'x-client-public-key': publicKeyHeader(keys.publicKey) };

beforeAll(async () => {
  vllm = await startScriptedUpstream(streamTokens(['one', ' two', ' thrée']));
  const app = createProtectGateway({
    upstream: vllm.url,
    mode: 'required',
    clientKeyHeader: 'x-client-public-key',
    serverKeyHeader: 'x-server-public-key',
    logger: pino({ level: 'silent' }),
  });
  gateway = await listen(app.fetch, '127.0.0.1', 0);
});

afterAll(async () => {
  await gateway?.close();
  await vllm?.close();
});

beforeEach(() => {
  vllm.requests.length = 0;
  vllm.setBehaviour((req, res) => {
    if (req.path === '/v1/models')
      return jsonBody(200, { object: 'list', data: [{ id: 'm', object: 'model' }] })(req, res);
    return streamTokens(['one', ' two', ' thrée'])(req, res);
  });
});

function post(
  path: string,
  body: unknown,
  headers: Record<string, string> = keyHeader,
  signal?: AbortSignal,
): Promise<Response> {
  return fetch(`${gateway.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
    signal,
  });
}

/** A vLLM chat stream chunk whose every string is generated: content, a tool call, logprobs. */
const chatChunkWithEverything = (): Record<string, unknown> => ({
  id: 'chatcmpl-up',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'm',
  choices: [
    {
      index: 0,
      delta: {
        content: 'secret',
        tool_calls: [{ index: 0, id: 'call-x', type: 'function', function: { name: 'get_weather', arguments: '{}' } }],
      },
      logprobs: {
        content: [
          {
            token: 'secret',
            logprob: -0.5,
            bytes: [115, 101, 99, 114, 101, 116],
            top_logprobs: [{ token: 'hidden', logprob: -1, bytes: [104, 105, 100, 100, 101, 110] }],
          },
        ],
      },
      finish_reason: 'tool_calls',
    },
  ],
});

describe('sgt-proxy protect, wire format v2', () => {
  const streamOf = (chunk: Record<string, unknown>) => (_req: unknown, res: ServerResponse) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end(`data: ${JSON.stringify(chunk)}\n\ndata: [DONE]\n\n`);
  };

  it('with x-output-protection-version: 2, logprobs tokens and tool calls are encrypted too', async () => {
    vllm.setBehaviour(streamOf(chatChunkWithEverything()));
    const response = await post(
      '/v1/chat/completions',
      { model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true, logprobs: true, top_logprobs: 1 },
      { ...keyHeader, 'x-output-protection-version': '2' },
    );
    expect(response.headers.get('x-output-protection-version')).toBe('2');
    expect(vllm.requests[0]!.headers['x-output-protection-version']).toBeUndefined();
    const events = sseDataEvents(await response.text());
    for (const secret of ['secret', 'hidden', 'get_weather', '115,101']) expect(events[0]).not.toContain(secret);
    const decryptor = createResponseDecryptor(response.headers, keys.privateKey);
    expect(decryptor.decryptChatChunk(JSON.parse(events[0]!) as never)).toEqual(chatChunkWithEverything());
  });

  it('without a version header (v1), an answer with logprobs is refused, not relayed in the clear', async () => {
    vllm.setBehaviour(streamOf(chatChunkWithEverything()));
    const response = await post('/v1/chat/completions', {
      model: 'm',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
      logprobs: true,
    });
    expect(response.headers.get('x-output-protection-version')).toBe('1');
    const events = sseDataEvents(await response.text());
    expect(events.join('\n')).not.toMatch(/secret|hidden|get_weather/);
    expect(events.at(-1)).toBe('[DONE]');
    const error = (JSON.parse(events.at(-2)!) as { error: { code: string; message: string } }).error;
    expect(error.code).toBe('unprotectable_output');
    expect(error.message).toMatch(/x-output-protection-version: 2/);
  });

  it('an unknown version → 400 naming the header, and nothing reaches vLLM', async () => {
    const response = await post(
      '/v1/completions',
      { model: 'm', prompt: 'x' },
      { ...keyHeader, 'x-output-protection-version': '3' },
    );
    expect(response.status).toBe(400);
    const { error } = (await response.json()) as { error: { code: string; param: string } };
    expect(error).toMatchObject({ code: 'invalid_output_protection_version', param: 'x-output-protection-version' });
    expect(vllm.requests).toHaveLength(0);
  });
});

describe('sgt-proxy protect', () => {
  it('encrypts every streamed token for the client key; the client library opens them in order', async () => {
    const response = await post('/v1/completions', { model: 'm', prompt: 'x', stream: true });
    expect(response.status).toBe(200);
    const events = sseDataEvents(await response.text());
    expect(events.at(-1)).toBe('[DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e) as { choices: { index: number; text: string }[] });
    expect(chunks.map((c) => c.choices[0]!.text).join('')).not.toContain('two');
    const decryptor = createResponseDecryptor(response.headers.get('x-server-public-key'), keys.privateKey);
    expect(chunks.map((c) => decryptor.decryptCompletion(c).choices[0]!.text).join('')).toBe('one two thrée');
    expect(vllm.requests[0]!.headers['x-client-public-key']).toBeUndefined(); // vLLM never sees the key
    await vi.waitFor(() => expect(outputProtectionRegistry.size).toBe(0));
  });

  it('encrypts a non-stream chat completion', async () => {
    vllm.setBehaviour(
      jsonBody(200, {
        id: 'c',
        object: 'chat.completion',
        created: 1,
        model: 'm',
        choices: [{ index: 0, message: { role: 'assistant', content: 'secret reply' }, finish_reason: 'stop' }],
      }),
    );
    const response = await post('/v1/chat/completions', { model: 'm', messages: [{ role: 'user', content: 'hi' }] });
    const body = (await response.json()) as {
      choices: { index: number; message: { role: 'assistant'; content: string } }[];
    };
    expect(body.choices[0]!.message.content).not.toBe('secret reply');
    const decryptor = createResponseDecryptor(response.headers.get('x-server-public-key'), keys.privateKey);
    expect(decryptor.decryptChatCompletion(body).choices[0]!.message.content).toBe('secret reply');
  });

  it('a protected route without a key → 400 naming the header, and nothing reaches vLLM', async () => {
    const response = await post('/v1/completions', { model: 'm', prompt: 'x' }, {});
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { message: string } }).error.message).toMatch(/x-client-public-key/);
    expect(vllm.requests).toHaveLength(0);
  });

  it('passes other routes through untouched', async () => {
    const response = await fetch(`${gateway.url}/v1/models`);
    expect(await response.json()).toEqual({ object: 'list', data: [{ id: 'm', object: 'model' }] });
  });

  it("relays vLLM's errors unchanged", async () => {
    vllm.setBehaviour(
      jsonBody(404, { error: { message: 'The model `z` does not exist.', type: 'NotFoundError', code: 404 } }),
    );
    const response = await post('/v1/completions', { model: 'z', prompt: 'x' });
    expect(response.status).toBe(404);
    expect(((await response.json()) as { error: { message: string } }).error.message).toBe(
      'The model `z` does not exist.',
    );
  });

  it('a request with Expect: 100-continue (curl, large bodies) is relayed', async () => {
    // fetch cannot send Expect; node:http can, as curl does.
    const body = JSON.stringify({ model: 'm', prompt: 'x', stream: true });
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${gateway.url}/v1/completions`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          expect: '100-continue',
          ...keyHeader,
        },
      });
      req.on('continue', () => req.end(body));
      req.on('response', (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
    });
    expect(status).toBe(200);
  });

  it('a non-JSON event mid-stream → one error event and [DONE], its content never echoed', async () => {
    vllm.setBehaviour((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end('data: My secret generated answer is 42\n\ndata: [DONE]\n\n');
    });
    const response = await post('/v1/completions', { model: 'm', prompt: 'x', stream: true });
    const text = await response.text();
    expect(text).not.toContain('secret');
    const events = sseDataEvents(text);
    expect(JSON.parse(events.at(-2)!)).toMatchObject({ error: { code: 'upstream_protocol_error' } });
    expect(events.at(-1)).toBe('[DONE]');
  });

  it('a stream truncated before [DONE] ends with an error event', async () => {
    vllm.setBehaviour((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(
        `data: ${JSON.stringify({ id: 'c', created: 1, model: 'm', choices: [{ index: 0, text: 'half', finish_reason: null }] })}\n\n`,
      );
    });
    const events = sseDataEvents(
      await (await post('/v1/completions', { model: 'm', prompt: 'x', stream: true })).text(),
    );
    expect(JSON.parse(events.at(-2)!).error.message).toMatch(/incomplete/);
  });

  it('vLLM resetting the connection mid-stream → an upstream_unavailable error event, as the proxy reports it', async () => {
    vllm.setBehaviour((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(
        `data: ${JSON.stringify({ id: 'c', created: 1, model: 'm', choices: [{ index: 0, text: 'half', finish_reason: null }] })}\n\n`,
        () => res.socket?.destroy(),
      );
    });
    const events = sseDataEvents(
      await (await post('/v1/completions', { model: 'm', prompt: 'x', stream: true })).text(),
    );
    expect(events.at(-1)).toBe('[DONE]');
    expect(JSON.parse(events.at(-2)!)).toMatchObject({ error: { code: 'upstream_unavailable' } });
  });

  it('has the request context every server has: x-request-id kept or made, echoed, one access line without bodies', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) };
    const app = createProtectGateway({
      upstream: vllm.url,
      mode: 'required',
      clientKeyHeader: 'x-client-public-key',
      serverKeyHeader: 'x-server-public-key',
      logger: pino({ level: 'info' }, sink),
    });
    const response = await app.request('/v1/completions', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'prot-1', ...keyHeader },
      body: JSON.stringify({ model: 'm', prompt: 'SECRETPROMPT', stream: true }),
    });
    expect(response.headers.get('x-request-id')).toBe('prot-1');
    await response.text();
    expect(lines.find((l) => l.msg === 'request')).toMatchObject({
      request_id: 'prot-1',
      method: 'POST',
      path: '/v1/completions',
      status: 200,
    });
    expect(JSON.stringify(lines)).not.toContain('SECRETPROMPT');
    const made = await app.request('/v1/models');
    expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f]{32}$/);
  });

  it("vLLM that never answers → 504 within the upstream deadline (the proxy's upstream client)", async () => {
    vllm.setBehaviour(() => undefined); // headers never come
    const app = createProtectGateway({
      upstream: vllm.url,
      mode: 'required',
      clientKeyHeader: 'x-client-public-key',
      serverKeyHeader: 'x-server-public-key',
      logger: pino({ level: 'silent' }),
      upstreamTimeoutMs: 200,
    });
    const aborted = vllm.nextAbort();
    const response = await app.request('/v1/completions', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...keyHeader },
      body: JSON.stringify({ model: 'm', prompt: 'x' }),
    });
    expect(response.status).toBe(504);
    await response.text();
    await aborted; // and the connection to vLLM was given up
  });

  it('vLLM down → 502', async () => {
    const dead = createProtectGateway({
      upstream: 'http://127.0.0.1:1',
      mode: 'required',
      clientKeyHeader: 'x-client-public-key',
      serverKeyHeader: 'x-server-public-key',
      logger: pino({ level: 'silent' }),
    });
    const response = await dead.request('/v1/completions', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...keyHeader },
      body: '{}',
    });
    expect(response.status).toBe(502);
    await response.text(); // in-process, the registry entry lives until the body is consumed
  });

  it('a client abort mid-stream closes the vLLM connection and empties the registry', async () => {
    vllm.setBehaviour(streamThenStall('first'));
    const controller = new AbortController();
    const response = await post(
      '/v1/completions',
      { model: 'm', prompt: 'x', stream: true },
      keyHeader,
      controller.signal,
    );
    const reader = response.body!.getReader();
    await reader.read();
    expect(outputProtectionRegistry.size).toBe(1);
    const aborted = vllm.nextAbort();
    controller.abort();
    await aborted;
    await vi.waitFor(() => expect(outputProtectionRegistry.size).toBe(0));
  });
});
