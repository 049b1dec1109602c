import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadSgt, type Sgt } from '../../src/sgt/index.js';
import { IDENTITY_SGT_DIR } from '../support/artifacts.js';
import { chatBody, postJson, startProxy, type ProxyUnderTest } from '../support/proxy-harness.js';
import {
  hang,
  jsonBody,
  sse,
  completionChunk,
  startScriptedUpstream,
  streamThenStall,
  streamTokens,
  type ScriptedUpstream,
} from '../support/scripted-upstream.js';
import { sseDataEvents } from '../support/streams.js';

const tool = (name: string, parameters: Record<string, unknown> = { type: 'object' }) => ({
  type: 'function',
  function: { name, description: 'd', parameters },
});
const named = (name: string) => ({ type: 'function', function: { name } });

let sgt: Sgt;
let upstream: ScriptedUpstream;
let proxy: ProxyUnderTest;
let endpoint: string;

beforeAll(async () => {
  sgt = await loadSgt(IDENTITY_SGT_DIR);
  upstream = await startScriptedUpstream(streamTokens(['Hi', ' there']));
  proxy = await startProxy({ sgt, upstreamUrl: upstream.url, upstreamTimeoutMs: 1500 });
  endpoint = `${proxy.url}/v1/chat/completions`;
});

afterAll(async () => {
  await proxy?.close();
  await upstream?.close();
  await sgt?.close();
});

beforeEach(() => {
  upstream.requests.length = 0;
  upstream.setBehaviour(streamTokens(['Hi', ' there']));
});

async function expectError(
  response: Response,
  status: number,
  param?: string | null,
): Promise<{ message: string; type: string; param: string | null; code: string | null }> {
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toMatch(/application\/json/);
  const body = (await response.json()) as {
    error: { message: string; type: string; param: string | null; code: string | null };
  };
  expect(Object.keys(body)).toEqual(['error']);
  expect(typeof body.error.message).toBe('string');
  if (param !== undefined) expect(body.error.param).toBe(param);
  return body.error;
}

describe('what goes upstream', () => {
  it('sends prompt_embeds to /v1/completions, never the messages', async () => {
    const canary = 'CANARY-7f3a9 my secret prompt';
    const response = await postJson(
      endpoint,
      chatBody({ messages: [{ role: 'user', content: canary }], stream: true, seed: 42, temperature: 0.5 }),
    );
    expect(response.status).toBe(200);
    await response.text();
    const sent = upstream.requests[0]!;
    expect(sent.path).toBe('/v1/completions');
    expect(sent.raw.toString('utf8')).not.toContain('CANARY');
    const body = sent.json();
    expect(Object.keys(body).sort()).toEqual([
      'max_tokens',
      'model',
      'prompt_embeds',
      'seed',
      'stream',
      'stream_options',
      'temperature',
    ]);
    // Usage is always asked for (the completion-token metric); the client gets it only when it asked.
    expect(body).toMatchObject({
      model: 'up-model',
      max_tokens: 512,
      stream: true,
      stream_options: { include_usage: true },
      seed: 42,
      temperature: 0.5,
    });
    expect(body.prompt_embeds).toMatch(/^[A-Za-z0-9+/]+=*$/);
  });

  it('uses max_completion_tokens, then max_tokens, then SGP_MAX_NEW_TOKENS', async () => {
    await (await postJson(endpoint, chatBody({ max_tokens: 7 }))).text();
    await (await postJson(endpoint, chatBody({ max_tokens: 7, max_completion_tokens: 9 }))).text();
    expect(upstream.requests.map((r) => r.json().max_tokens)).toEqual([7, 9]);
  });

  it('propagates x-request-id both ways, and makes one when the client sent none', async () => {
    const response = await postJson(endpoint, chatBody(), { 'x-request-id': 'req-abc.123' });
    await response.text();
    expect(response.headers.get('x-request-id')).toBe('req-abc.123');
    expect(upstream.requests[0]!.headers['x-request-id']).toBe('req-abc.123');
    const second = await postJson(endpoint, chatBody(), { 'x-request-id': 'has spaces and /slashes/' });
    await second.text();
    expect(second.headers.get('x-request-id')).toMatch(/^[0-9a-f]{32}$/); // one generator for every server (vLLM's form)
  });

  it("forwards the client's Authorization when no upstream credentials are configured", async () => {
    await (await postJson(endpoint, chatBody(), { authorization: 'Bearer client-token' })).text();
    expect(upstream.requests[0]!.headers.authorization).toBe('Bearer client-token');
  });
});

describe('answers', () => {
  it('streams chat chunks: role first, content, finish reason, [DONE] last', async () => {
    const response = await postJson(endpoint, chatBody({ stream: true }));
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(response.headers.get('cache-control')).toBe('no-cache');
    expect(response.headers.get('x-accel-buffering')).toBe('no');
    const events = sseDataEvents(await response.text());
    expect(events.at(-1)).toBe('[DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    expect(chunks[0].choices[0].delta).toEqual({ role: 'assistant', content: '' });
    expect(chunks.map((c) => c.choices[0].delta.content ?? '').join('')).toBe('Hi there');
    expect(chunks.at(-1).choices[0].finish_reason).toBe('stop');
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
  });

  it('relays usage as a final choices: [] chunk when include_usage is set', async () => {
    upstream.setBehaviour(streamTokens(['a', 'b'], { usage: true }));
    const response = await postJson(endpoint, chatBody({ stream: true, stream_options: { include_usage: true } }));
    const events = sseDataEvents(await response.text());
    expect(upstream.requests[0]!.json().stream_options).toEqual({ include_usage: true });
    expect(JSON.parse(events.at(-2)!)).toMatchObject({ choices: [], usage: { completion_tokens: 2 } });
  });

  it('maps a non-stream completion to chat.completion', async () => {
    upstream.setBehaviour(
      jsonBody(200, {
        ...completionChunk('Hello!', 'stop'),
        usage: { prompt_tokens: 4, completion_tokens: 2, total_tokens: 6 },
      }),
    );
    const response = await postJson(endpoint, chatBody());
    expect(response.status).toBe(200);
    const body = (await response.json()) as { id: string };
    expect(body).toMatchObject({
      object: 'chat.completion',
      model: 'up-model',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Hello!' }, finish_reason: 'stop' }],
      usage: { total_tokens: 6 },
    });
    expect(body.id).toMatch(/^chatcmpl-/);
  });
});

describe('request validation', () => {
  it.each([
    ['invalid JSON', '{"messages": [', null],
    ['a JSON array', '[1,2]', null],
    ['missing messages', { model: 'm' }, 'messages'],
    ['empty messages', { messages: [] }, 'messages'],
    ['messages not an array', { messages: 'hi' }, 'messages'],
    ['unknown role', { messages: [{ role: 'wizard', content: 'x' }] }, 'messages[0].role'],
    ['content of the wrong type', { messages: [{ role: 'user', content: 42 }] }, 'messages[0].content'],
    ['max_tokens 0', chatBody({ max_tokens: 0 }), 'max_tokens'],
    ['max_tokens negative', chatBody({ max_tokens: -5 }), 'max_tokens'],
    ['max_tokens not an integer', chatBody({ max_tokens: 1.5 }), 'max_tokens'],
    ['temperature out of range', chatBody({ temperature: 3 }), 'temperature'],
    ['stream not a boolean', chatBody({ stream: 'yes' }), 'stream'],
    ['malformed tools', chatBody({ tools: [{ type: 'function' }] }), 'tools[0].function'],
    ['a tool name with spaces', chatBody({ tools: [tool('get weather')] }), 'tools[0].function.name'],
    ['a tool named twice', chatBody({ tools: [tool('f'), tool('f')] }), 'tools[1].function.name'],
    ['tool_choice naming an unknown tool', chatBody({ tools: [tool('f')], tool_choice: named('g') }), 'tool_choice'],
    ['tool_choice required without tools', chatBody({ tool_choice: 'required' }), 'tool_choice'],
    ['tool_choice of an unknown kind', chatBody({ tools: [tool('f')], tool_choice: 'sometimes' }), 'tool_choice'],
    [
      'tool parameters that are not a JSON schema',
      chatBody({ tools: [tool('f', { type: 'objekt' })] }),
      'tools[0].function.parameters',
    ],
    [
      'an invalid JSON schema in response_format',
      chatBody({ response_format: { type: 'json_schema', json_schema: { name: 's', schema: { minLength: -1 } } } }),
      'response_format.json_schema.schema',
    ],
    [
      'a tool message without tool_call_id',
      { messages: [{ role: 'tool', content: '{}' }] },
      'messages[0].tool_call_id',
    ],
    ['functions (deprecated, unsupported)', chatBody({ functions: [{ name: 'f' }] }), 'functions'],
  ])('%s → 400 naming the field', async (_name, body, param) => {
    const error = await expectError(await postJson(endpoint, body), 400, param);
    expect(error.type).toBe('invalid_request_error');
    if (param) expect(error.message).toContain(param);
    expect(upstream.requests).toHaveLength(0);
  });

  it('a body over the limit → 413', async () => {
    const huge = chatBody({ messages: [{ role: 'user', content: 'x'.repeat(70 * 1024) }] });
    await expectError(await postJson(endpoint, huge), 413);
  });

  it('a body over the limit without content-length (chunked) → 413', async () => {
    const big = JSON.stringify(chatBody({ messages: [{ role: 'user', content: 'y'.repeat(70 * 1024) }] }));
    const body = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(big));
        controller.close();
      },
    });
    const response = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      duplex: 'half',
    } as RequestInit);
    await expectError(response, 413);
  });

  it('an unknown route → 404 envelope', async () => {
    await expectError(await fetch(`${proxy.url}/v1/nope`), 404);
  });
});

describe('upstream failures', () => {
  it('upstream 4xx → the same status and its message', async () => {
    upstream.setBehaviour(
      jsonBody(404, {
        error: { message: 'The model `up-model` does not exist.', type: 'NotFoundError', param: null, code: 404 },
      }),
    );
    const error = await expectError(await postJson(endpoint, chatBody({ stream: true })), 404);
    expect(error.message).toBe('The model `up-model` does not exist.');
  });

  it("upstream 4xx in vLLM's older top-level envelope → the same status and message", async () => {
    upstream.setBehaviour(
      jsonBody(400, { object: 'error', message: 'prompt too long', type: 'BadRequestError', code: 400 }),
    );
    const error = await expectError(await postJson(endpoint, chatBody()), 400);
    expect(error.message).toBe('prompt too long');
  });

  it('upstream 500 → 502', async () => {
    upstream.setBehaviour(jsonBody(500, { error: { message: 'engine crashed' } }));
    await expectError(await postJson(endpoint, chatBody()), 502);
  });

  it('upstream refusing connections → 502', async () => {
    const closed = await startScriptedUpstream(hang);
    const deadUrl = closed.url;
    await closed.close();
    const other = await startProxy({ sgt, upstreamUrl: deadUrl });
    try {
      const error = await expectError(
        await postJson(`${other.url}/v1/chat/completions`, chatBody({ stream: true })),
        502,
      );
      expect(error.message).toMatch(/could not be reached/);
      expect(error.message).toMatch(/ECONNREFUSED/);
    } finally {
      await other.close();
    }
  });

  it('upstream not answering in time → 504', async () => {
    upstream.setBehaviour(hang);
    const aborted = upstream.nextAbort();
    const error = await expectError(await postJson(endpoint, chatBody({ stream: true })), 504);
    expect(error.code).toBe('upstream_timeout');
    await aborted; // and the hanging upstream request was closed
  });

  it('upstream stalling mid-stream → error event after the timeout, then [DONE]', async () => {
    upstream.setBehaviour(streamThenStall('partial'));
    const response = await postJson(endpoint, chatBody({ stream: true }));
    expect(response.status).toBe(200);
    const events = sseDataEvents(await response.text());
    expect(JSON.parse(events.at(-2)!).error.code).toBe('upstream_timeout');
    expect(events.at(-1)).toBe('[DONE]');
  });

  it('stream truncated without [DONE] → error event, never a normal end', async () => {
    upstream.setBehaviour((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(sse(completionChunk('half an ans')));
    });
    const events = sseDataEvents(await (await postJson(endpoint, chatBody({ stream: true }))).text());
    const error = JSON.parse(events.at(-2)!);
    expect(error.error.message).toMatch(/incomplete/);
    expect(events.at(-1)).toBe('[DONE]');
  });

  it('connection reset mid-stream → error event', async () => {
    upstream.setBehaviour((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(sse(completionChunk('a')), () => res.socket?.destroy());
    });
    const events = sseDataEvents(await (await postJson(endpoint, chatBody({ stream: true }))).text());
    expect(JSON.parse(events.at(-2)!).error.code).toBe('upstream_unavailable');
  });

  it('non-stream body that is not JSON → 502', async () => {
    upstream.setBehaviour((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('<html>proxy error</html>');
    });
    await expectError(await postJson(endpoint, chatBody()), 502);
  });
});

describe('client disconnect', () => {
  it('aborting mid-stream closes the upstream connection', async () => {
    upstream.setBehaviour(streamThenStall('first'));
    const controller = new AbortController();
    const response = await postJson(endpoint, chatBody({ stream: true }), {}, controller.signal);
    const reader = response.body!.getReader();
    const { value } = await reader.read();
    expect(new TextDecoder().decode(value)).toContain('data:');
    const aborted = upstream.nextAbort();
    controller.abort();
    const request = await aborted;
    expect(request.path).toBe('/v1/completions');
  });

  it('aborting before the first byte of the answer closes the upstream request', async () => {
    upstream.setBehaviour(hang);
    const controller = new AbortController();
    const pending = postJson(endpoint, chatBody({ stream: true }), {}, controller.signal).catch((err: Error) => err);
    await vi.waitFor(() => expect(upstream.requests).toHaveLength(1));
    const aborted = upstream.nextAbort();
    controller.abort();
    await aborted;
    expect(await pending).toBeInstanceOf(Error);
  });
});
