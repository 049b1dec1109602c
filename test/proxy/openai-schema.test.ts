/**
 * The proxy's answers against OpenAI's own schemas (test/fixtures/openai/, vendored from OpenAI's
 * official OpenAPI document): real answers of the proxy, in front of the reference server (the
 * vLLM stand-in, echo mode) or of a scripted upstream for what the reference server never does.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/reference-server/index.js';
import { loadSgt, type Sgt } from '../../src/sgt/index.js';
import { IDENTITY_SGT_DIR } from '../support/artifacts.js';
import { startEchoReference } from '../support/reference-upstream.js';
import { chatBody, postJson, startProxy, type ProxyUnderTest } from '../support/proxy-harness.js';
import { openAiSchemas } from '../support/schema-check.js';
import {
  completionChunk,
  jsonBody,
  sse,
  startScriptedUpstream,
  streamThenStall,
  streamTokens,
  type ScriptedUpstream,
} from '../support/scripted-upstream.js';
import { sseDataEvents } from '../support/streams.js';

const conformsTo = openAiSchemas();

let sgt: Sgt;
let reference: RunningServer;
let proxy: ProxyUnderTest;
let scripted: ScriptedUpstream;
let scriptedProxy: ProxyUnderTest;

beforeAll(async () => {
  sgt = await loadSgt(IDENTITY_SGT_DIR);
  reference = await startEchoReference(sgt);
  proxy = await startProxy({ sgt, upstreamUrl: reference.url, settings: { apiKey: 'proxy-key' } });
  scripted = await startScriptedUpstream(jsonBody(200, completionChunk('hi', 'stop')));
  scriptedProxy = await startProxy({ sgt, upstreamUrl: scripted.url, upstreamTimeoutMs: 500 });
});

afterAll(async () => {
  await scriptedProxy?.close();
  await scripted?.close();
  await proxy?.close();
  await reference?.close();
  await sgt?.close();
});

const auth = { authorization: 'Bearer proxy-key' };

/** A request the reference server answers: no model (the SGT's base model, the one it serves), a short echo. */
function chat(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return chatBody({ model: undefined, max_tokens: 6, ...overrides });
}

async function chatChunks(body: Record<string, unknown>): Promise<Record<string, unknown>[]> {
  const response = await postJson(`${proxy.url}/v1/chat/completions`, chat({ stream: true, ...body }), auth);
  expect(response.status).toBe(200);
  const events = sseDataEvents(await response.text());
  expect(events.at(-1)).toBe('[DONE]');
  return events.slice(0, -1).map((event) => JSON.parse(event) as Record<string, unknown>);
}

describe("answers conform to OpenAI's schemas", () => {
  it('non-stream: CreateChatCompletionResponse, with refusal null, usage, and no system_fingerprint', async () => {
    for (const n of [1, 2]) {
      const response = await postJson(`${proxy.url}/v1/chat/completions`, chat({ n }), auth);
      expect(response.status).toBe(200);
      const body = (await response.json()) as Record<string, unknown> & { choices: { message: object }[] };
      expect(conformsTo('CreateChatCompletionResponse', body)).toBe('');
      expect(body.choices).toHaveLength(n);
      expect(body.choices[0]!.message).toMatchObject({ role: 'assistant', refusal: null });
      expect(body).not.toHaveProperty('system_fingerprint');
      expect(body.usage).toMatchObject({ completion_tokens: expect.any(Number) });
    }
  });

  it('stream: every chunk is a CreateChatCompletionStreamResponse; usage only on the last, when asked', async () => {
    const plain = await chatChunks({});
    expect(plain.length).toBeGreaterThan(2);
    for (const chunk of plain) expect(conformsTo('CreateChatCompletionStreamResponse', chunk)).toBe('');
    expect(plain.filter((chunk) => 'usage' in chunk || 'system_fingerprint' in chunk)).toEqual([]);

    const withUsage = await chatChunks({ stream_options: { include_usage: true } });
    for (const chunk of withUsage) expect(conformsTo('CreateChatCompletionStreamResponse', chunk)).toBe('');
    expect(withUsage.at(-1)).toMatchObject({ choices: [], usage: { total_tokens: expect.any(Number) } });
    expect(withUsage.slice(0, -1).filter((chunk) => 'usage' in chunk)).toEqual([]);
  });

  it('response_format text and json_object are accepted; json_schema without its schema is a 400 naming it', async () => {
    for (const type of ['text', 'json_object']) {
      const ok = await postJson(`${proxy.url}/v1/chat/completions`, chat({ response_format: { type } }), auth);
      expect(ok.status).toBe(200);
      expect(conformsTo('CreateChatCompletionResponse', await ok.json())).toBe('');
    }
    const bad = await postJson(
      `${proxy.url}/v1/chat/completions`,
      chat({ response_format: { type: 'json_schema' } }),
      auth,
    );
    expect(bad.status).toBe(400);
    const body = (await bad.json()) as { error: object };
    expect(conformsTo('ErrorResponse', body)).toBe('');
    expect(body.error).toMatchObject({ param: 'response_format.json_schema' });
  });

  it('logprobs (plaintext upstream): choices[].logprobs.content conforms, stream and non-stream', async () => {
    const whole = await postJson(`${proxy.url}/v1/chat/completions`, chat({ logprobs: true, top_logprobs: 2 }), auth);
    expect(whole.status).toBe(200);
    const body = (await whole.json()) as {
      choices: { message: { content: string }; logprobs: { content: { token: string; top_logprobs: unknown[] }[] } }[];
    };
    expect(conformsTo('CreateChatCompletionResponse', body)).toBe('');
    const tokens = body.choices[0]!.logprobs.content;
    expect(tokens.map((t) => t.token).join('')).toBe(body.choices[0]!.message.content);
    expect(tokens.every((t) => t.top_logprobs.length <= 2)).toBe(true);

    const chunks = await chatChunks({ logprobs: true, top_logprobs: 1 });
    for (const chunk of chunks) expect(conformsTo('CreateChatCompletionStreamResponse', chunk)).toBe('');
    const streamedTokens = chunks.flatMap((chunk) =>
      (chunk.choices as { logprobs: { content: { token: string }[] } | null }[]).flatMap(
        (choice) => choice.logprobs?.content.map((t) => t.token) ?? [],
      ),
    );
    expect(streamedTokens.join('')).toBe(body.choices[0]!.message.content);
  });

  it('answers with tool calls: message.tool_calls and streamed delta.tool_calls conform, finish_reason tool_calls', async () => {
    const call = 'Checking.<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>';
    const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }];
    scripted.setBehaviour(jsonBody(200, completionChunk(call, 'stop')));
    const whole = await postJson(`${scriptedProxy.url}/v1/chat/completions`, chatBody({ tools }));
    expect(whole.status).toBe(200);
    const body = (await whole.json()) as { choices: { message: object; finish_reason: string }[] };
    expect(conformsTo('CreateChatCompletionResponse', body)).toBe('');
    expect(body.choices[0]).toMatchObject({
      finish_reason: 'tool_calls',
      message: {
        content: 'Checking.',
        tool_calls: [{ type: 'function', function: { name: 'get_weather', arguments: '{"city": "Paris"}' } }],
      },
    });

    scripted.setBehaviour(
      streamTokens(['Checking.', '<tool_call>\n{"name": "get_weather", ', '"arguments": {}}</tool_call>']),
    );
    const streamed = await postJson(`${scriptedProxy.url}/v1/chat/completions`, chatBody({ tools, stream: true }));
    const chunks = sseDataEvents(await streamed.text())
      .slice(0, -1)
      .map(
        (event) => JSON.parse(event) as { choices: { delta: Record<string, unknown>; finish_reason: string | null }[] },
      );
    for (const chunk of chunks) expect(conformsTo('CreateChatCompletionStreamResponse', chunk)).toBe('');
    const deltas = chunks.flatMap((chunk) => chunk.choices.map((choice) => choice.delta));
    expect(deltas.filter((delta) => 'tool_calls' in delta)).toMatchObject([
      {
        tool_calls: [
          {
            index: 0,
            id: expect.stringMatching(/^chatcmpl-tool-/),
            type: 'function',
            function: { name: 'get_weather' },
          },
        ],
      },
      { tool_calls: [{ index: 0, function: { arguments: '{}' } }] },
    ]);
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe('tool_calls');
  });
});

describe("errors conform to OpenAI's ErrorResponse", () => {
  it('an unknown model is a 404 model_not_found naming `model`', async () => {
    const response = await postJson(`${proxy.url}/v1/chat/completions`, chat({ model: 'string' }), auth);
    expect(response.status).toBe(404);
    const body = (await response.json()) as { error: object };
    expect(conformsTo('ErrorResponse', body)).toBe('');
    expect(body.error).toEqual({
      message: 'The model `string` does not exist.',
      type: 'invalid_request_error',
      param: 'model',
      code: 'model_not_found',
    });
  });

  it("an unknown model in older vLLM's envelope (no param) is model_not_found too", async () => {
    scripted.setBehaviour(
      jsonBody(404, { object: 'error', message: 'The model `x` does not exist.', type: 'NotFoundError', code: 404 }),
    );
    const response = await postJson(`${scriptedProxy.url}/v1/chat/completions`, chatBody({ model: 'x' }));
    expect(response.status).toBe(404);
    expect(((await response.json()) as { error: object }).error).toMatchObject({
      param: 'model',
      code: 'model_not_found',
    });
    // Any other 404 of the upstream stays what it was.
    scripted.setBehaviour(jsonBody(404, { error: { message: 'Not Found' } }));
    const other = await postJson(`${scriptedProxy.url}/v1/chat/completions`, chatBody());
    expect(((await other.json()) as { error: object }).error).toMatchObject({ param: null, code: 'upstream_error' });
  });

  it.each([
    ['a bad field (400)', chat({ temperature: 9 }), auth, 400],
    ['a body that is not JSON (400)', '{"messages": [', auth, 400],
    ['no API key (401)', chat(), {}, 401],
    ['a body over the limit (413)', chat({ messages: [{ role: 'user', content: 'x'.repeat(70_000) }] }), auth, 413],
  ])('%s', async (_name, body, headers, status) => {
    const response = await postJson(`${proxy.url}/v1/chat/completions`, body, headers);
    expect(response.status).toBe(status);
    expect(conformsTo('ErrorResponse', await response.json())).toBe('');
  });

  it('upstream failures (502, 504), and the error event that ends a broken stream', async () => {
    scripted.setBehaviour(jsonBody(500, { error: { message: 'engine crashed' } }));
    const failed = await postJson(`${scriptedProxy.url}/v1/chat/completions`, chatBody());
    expect(failed.status).toBe(502);
    expect(conformsTo('ErrorResponse', await failed.json())).toBe('');

    scripted.setBehaviour(() => undefined); // never answers
    const late = await postJson(`${scriptedProxy.url}/v1/chat/completions`, chatBody());
    expect(late.status).toBe(504);
    expect(conformsTo('ErrorResponse', await late.json())).toBe('');

    scripted.setBehaviour(streamThenStall('partial'));
    const events = sseDataEvents(
      await (await postJson(`${scriptedProxy.url}/v1/chat/completions`, chatBody({ stream: true }))).text(),
    );
    const [error, ...chunks] = events
      .slice(0, -1)
      .map((event) => JSON.parse(event) as object)
      .reverse();
    expect(conformsTo('ErrorResponse', error)).toBe('');
    for (const chunk of chunks) expect(conformsTo('CreateChatCompletionStreamResponse', chunk)).toBe('');
  });
});

describe('what the upstream leaves out stays out', () => {
  it('a non-stream answer without usage has no `usage` key (never usage: null)', async () => {
    for (const usage of [undefined, null]) {
      scripted.setBehaviour(jsonBody(200, { ...completionChunk('hi', 'stop'), usage }));
      const response = await postJson(`${scriptedProxy.url}/v1/chat/completions`, chatBody());
      const body = (await response.json()) as Record<string, unknown>;
      expect(conformsTo('CreateChatCompletionResponse', body)).toBe('');
      expect(body).not.toHaveProperty('usage');
    }
  });

  it('a stream whose upstream chunks carry usage: null relays none', async () => {
    scripted.setBehaviour((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(
        sse({ ...completionChunk('a'), usage: null }) +
          sse({ ...completionChunk('b', 'stop'), usage: null }) +
          sse('[DONE]'),
      );
    });
    const response = await postJson(`${scriptedProxy.url}/v1/chat/completions`, chatBody({ stream: true }));
    const chunks = sseDataEvents(await response.text())
      .slice(0, -1)
      .map((event) => JSON.parse(event) as Record<string, unknown>);
    for (const chunk of chunks) expect(conformsTo('CreateChatCompletionStreamResponse', chunk)).toBe('');
    expect(chunks.filter((chunk) => 'usage' in chunk)).toEqual([]);
  });
});

describe('the validator itself', () => {
  it('rejects what the proxy used to send: system_fingerprint null, no refusal, usage null', () => {
    const old = {
      id: 'chatcmpl-1',
      object: 'chat.completion',
      created: 1,
      model: 'm',
      system_fingerprint: null,
      choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, logprobs: null, finish_reason: 'stop' }],
      usage: null,
    };
    const found = conformsTo('CreateChatCompletionResponse', old);
    expect(found).toMatch(/system_fingerprint must be string/);
    expect(found).toMatch(/must have required property 'refusal'/);
    expect(found).toMatch(/usage must be object/);
    expect(conformsTo('CreateChatCompletionStreamResponse', { ...old, object: 'chat.completion.chunk' })).not.toBe('');
    expect(conformsTo('ErrorResponse', { error: { message: 'x', type: 'y' } })).toMatch(/param/);
  });
});
