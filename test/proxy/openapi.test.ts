/**
 * /openapi.json against the proxy it documents: every request example it proposes (what Swagger
 * UI's "Try it out" sends) is answered 200, every answer's status is one its route documents, and
 * every body conforms to the schema documented for it. Real proxy, real reference server upstream.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/reference-server/index.js';
import { loadSgt, type Sgt } from '../../src/sgt/index.js';
import { IDENTITY_SGT_DIR } from '../support/artifacts.js';
import { startEchoReference } from '../support/reference-upstream.js';
import { chatBody, postJson, startProxy, type ProxyUnderTest } from '../support/proxy-harness.js';
import { documentedAnswers, openAiSchemas, type OpenApiDocument } from '../support/schema-check.js';
import { jsonBody, startScriptedUpstream, type ScriptedUpstream } from '../support/scripted-upstream.js';
import { sseDataEvents } from '../support/streams.js';

const KEY = { authorization: 'Bearer proxy-key' };
const ROUTES_WITH_BODY = ['/v1/chat/completions', '/v1/stainedglass'];

let sgt: Sgt;
let reference: RunningServer;
let scripted: ScriptedUpstream;
/** In front of the reference server, with SGP_API_KEY. */
let proxy: ProxyUnderTest;
/** In front of a scripted upstream, with a short upstream timeout. */
let scriptedProxy: ProxyUnderTest;
/** In front of nothing. */
let deadProxy: ProxyUnderTest;
let doc: OpenApiDocument;
let conforms: ReturnType<typeof documentedAnswers>;

beforeAll(async () => {
  sgt = await loadSgt(IDENTITY_SGT_DIR);
  reference = await startEchoReference(sgt);
  scripted = await startScriptedUpstream(jsonBody(200, {}));
  proxy = await startProxy({ sgt, upstreamUrl: reference.url, settings: { apiKey: 'proxy-key' } });
  scriptedProxy = await startProxy({ sgt, upstreamUrl: scripted.url, upstreamTimeoutMs: 500 });
  deadProxy = await startProxy({ sgt, upstreamUrl: 'http://127.0.0.1:1' });
  doc = (await (await fetch(`${proxy.url}/openapi.json`)).json()) as OpenApiDocument;
  conforms = documentedAnswers(doc);
});

afterAll(async () => {
  await deadProxy?.close();
  await scriptedProxy?.close();
  await proxy?.close();
  await scripted?.close();
  await reference?.close();
  await sgt?.close();
});

/** What is wrong with this answer of `method path` according to the document ('' when nothing). */
async function undocumented(method: string, path: string, response: Response): Promise<string> {
  const mediaType = (response.headers.get('content-type') ?? '').split(';')[0]!;
  const text = await response.text();
  if (mediaType !== 'text/event-stream') return conforms(method, path, response.status, mediaType, JSON.parse(text));
  const events = sseDataEvents(text);
  // Chat completions end with [DONE]; the Responses API ends with its own final event.
  const chat = path !== '/v1/responses';
  if (chat && events.at(-1) !== '[DONE]') return 'the stream does not end with [DONE]';
  const found = events
    .slice(0, chat ? -1 : undefined)
    .map((event) => conforms(method, path, response.status, mediaType, JSON.parse(event)));
  return found.filter(Boolean).join('\n');
}

const operations = (): [string, string][] =>
  Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.keys(methods).map((method): [string, string] => [method, path]),
  );

describe('the documented examples', () => {
  it('every route is documented, each with the statuses it can answer', () => {
    expect(operations().sort()).toEqual([
      ['get', '/livez'],
      ['get', '/readyz'],
      ['get', '/v1/models'],
      ['post', '/v1/chat/completions'],
      ['post', '/v1/completions'],
      ['post', '/v1/responses'],
      ['post', '/v1/stainedglass'],
    ]);
    const statuses = (method: string, path: string) => Object.keys(doc.paths[path]![method]!.responses).sort();
    expect(statuses('post', '/v1/chat/completions')).toEqual(
      ['200', '400', '401', '404', '408', '413', '415', '431', '499', '4XX', '500', '502', '503', '504'].sort(),
    );
    expect(statuses('post', '/v1/completions')).toEqual(statuses('post', '/v1/chat/completions'));
    expect(statuses('post', '/v1/stainedglass')).toEqual(
      ['200', '400', '401', '408', '413', '415', '431', '499', '500', '503'].sort(),
    );
  });

  it("each request example is a valid request: posted as Swagger UI's Try it out would, it gets a documented 200", async () => {
    let posted = 0;
    for (const [method, path] of operations()) {
      const examples = doc.paths[path]![method]!.requestBody?.content['application/json']?.examples ?? {};
      for (const [name, { value }] of Object.entries(examples)) {
        const response = await postJson(`${proxy.url}${path}`, value, KEY);
        expect(response.status, `${path} example ${name}`).toBe(200);
        expect(await undocumented(method, path, response), `${path} example ${name}`).toBe('');
        posted++;
      }
    }
    expect(posted).toBe(7); // chat, completions and responses (answer, stream each) and stainedglass
  });

  it('each example in the document conforms to the schema it illustrates, and OpenAI’s for the chat shapes', () => {
    const openAi = openAiSchemas();
    const components = doc.components.schemas as Record<string, { example?: unknown }>;
    const illustrated: [string, string][] = [
      ['ChatCompletion', 'CreateChatCompletionResponse'],
      ['ChatCompletionChunk', 'CreateChatCompletionStreamResponse'],
      ['ErrorEnvelope', 'ErrorResponse'],
    ];
    for (const [ours, theirs] of illustrated) {
      expect(components[ours]!.example, ours).toBeDefined();
      expect(openAi(theirs as Parameters<typeof openAi>[0], components[ours]!.example), ours).toBe('');
    }
    let checked = 0;
    for (const [method, path] of operations()) {
      for (const [status, response] of Object.entries(doc.paths[path]![method]!.responses)) {
        for (const [mediaType, media] of Object.entries(response.content ?? {})) {
          const example = (media as { example?: unknown }).example ?? (media.schema as { example?: unknown }).example;
          if (example === undefined) continue;
          // `4XX` stands for the statuses not listed: 429, the one the upstream most often sends.
          const asStatus = status === '4XX' ? 429 : Number(status);
          expect(conforms(method, path, asStatus, mediaType, example), `${path} ${status}`).toBe('');
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(30);
  });
});

describe('every answer is documented', () => {
  const chat = (overrides: Record<string, unknown> = {}) => chatBody({ model: undefined, max_tokens: 4, ...overrides });
  const big = { messages: [{ role: 'user', content: 'x'.repeat(70_000) }] };

  const cases: [string, string, () => Promise<Response>, number][] = [
    ['GET /livez', '/livez', () => fetch(`${proxy.url}/livez`), 200],
    ['GET /readyz', '/readyz', () => fetch(`${proxy.url}/readyz`), 200],
    ['GET /readyz, upstream down', '/readyz', () => fetch(`${deadProxy.url}/readyz`), 503],
    ['GET /v1/models', '/v1/models', () => fetch(`${proxy.url}/v1/models`, { headers: KEY }), 200],
    ['GET /v1/models, no key', '/v1/models', () => fetch(`${proxy.url}/v1/models`), 401],
    ['GET /v1/models, upstream down', '/v1/models', () => fetch(`${deadProxy.url}/v1/models`), 502],
    [
      'chat, bad field',
      '/v1/chat/completions',
      () => postJson(`${proxy.url}/v1/chat/completions`, chat({ n: 0 }), KEY),
      400,
    ],
    ['chat, no key', '/v1/chat/completions', () => postJson(`${proxy.url}/v1/chat/completions`, chat()), 401],
    [
      'chat, unknown model',
      '/v1/chat/completions',
      () => postJson(`${proxy.url}/v1/chat/completions`, chat({ model: 'string' }), KEY),
      404,
    ],
    [
      'chat, too large',
      '/v1/chat/completions',
      () => postJson(`${proxy.url}/v1/chat/completions`, chat(big), KEY),
      413,
    ],
    [
      'chat, upstream down',
      '/v1/chat/completions',
      () => postJson(`${deadProxy.url}/v1/chat/completions`, chat()),
      502,
    ],
    [
      'stainedglass, bad field',
      '/v1/stainedglass',
      () => postJson(`${proxy.url}/v1/stainedglass`, { messages: [] }, KEY),
      400,
    ],
    ['stainedglass, no key', '/v1/stainedglass', () => postJson(`${proxy.url}/v1/stainedglass`, chat()), 401],
    ['stainedglass, too large', '/v1/stainedglass', () => postJson(`${proxy.url}/v1/stainedglass`, big, KEY), 413],
    ...ROUTES_WITH_BODY.map(
      (path) =>
        [
          `${path.slice(4)}, text/plain`,
          path,
          () =>
            fetch(`${proxy.url}${path}`, {
              method: 'POST',
              headers: { ...KEY, 'content-type': 'text/plain' },
              body: JSON.stringify(chat()),
            }),
          415,
        ] as [string, string, () => Promise<Response>, number],
    ),
  ];

  it.each(cases)('%s → %s', async (_name, path, send, status) => {
    const response = await send();
    expect(response.status).toBe(status);
    expect(
      await undocumented(
        path === '/v1/chat/completions' || path === '/v1/stainedglass' ? 'post' : 'get',
        path,
        response,
      ),
    ).toBe('');
  });

  it.each([
    ['the upstream rate-limits (429, relayed)', jsonBody(429, { error: { message: 'slow down' } }), 429],
    ['the upstream is overloaded (503, relayed)', jsonBody(503, { error: { message: 'busy' } }), 503],
    ['the upstream fails (500 → 502)', jsonBody(500, { error: { message: 'engine crashed' } }), 502],
    ['the upstream never answers (504)', () => undefined, 504],
    ['the upstream sends a model list that is not one (502)', jsonBody(200, { object: 'list', data: [{}] }), 502],
  ] as const)('chat and models: %s', async (_name, behaviour, status) => {
    scripted.setBehaviour(behaviour);
    const answers = [
      ['post', '/v1/chat/completions', await postJson(`${scriptedProxy.url}/v1/chat/completions`, chat())],
      ['get', '/v1/models', await fetch(`${scriptedProxy.url}/v1/models`)],
    ] as const;
    for (const [method, path, response] of answers) {
      expect(response.status, path).toBe(status);
      expect(await undocumented(method, path, response), path).toBe('');
    }
  });
});
