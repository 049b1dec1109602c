import { Hono } from 'hono';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createResponseDecryptor, generateKeyPair, publicKeyHeader, type KeyPair } from '../../src/client/index.js';
import {
  DEFAULT_PROTECTED_ROUTES,
  OutputProtectionRegistry,
  injectMiddleware,
  outputProtectionRegistry,
  userPublicKeyMiddleware,
  type OutputProtectionEnv,
  type UserPublicKeyMiddlewareOptions,
} from '../../src/protection/index.js';
import { listen, type RunningServer } from '../../src/http/index.js';
import type { ChatCompletionChunk, CompletionChunk } from '../../src/stream/index.js';
import { collectText, sseDataEvents } from '../support/streams.js';
import {
  PIECES,
  createGeneratorApp,
  createProtectedGeneratorApp,
  type GenerateRequest,
  type GeneratorEvents,
} from './fake-generator.js';

type FetchApp = { fetch(request: Request): Response | Promise<Response> };

interface Target {
  send(path: string, init?: RequestInit): Promise<Response>;
  close(): Promise<void>;
}

async function startTarget(where: 'in-process' | 'real server', app: FetchApp): Promise<Target> {
  if (where === 'in-process') {
    return {
      send: async (path, init) => app.fetch(new Request(`http://localhost${path}`, init)),
      close: async () => {},
    };
  }
  const server: RunningServer = await listen((request) => app.fetch(request), '127.0.0.1', 0);
  return { send: (path, init) => fetch(`${server.url}${path}`, init), close: () => server.close() };
}

function post(body: GenerateRequest, headers: Record<string, string> = {}, signal?: AbortSignal): RequestInit {
  return {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
    signal,
  };
}

const keyHeaders = (keys: KeyPair, name = 'x-client-public-key'): Record<string, string> => ({
  [name]: publicKeyHeader(keys.publicKey),
});

function expectedText(tokens = PIECES.length, index = 0): string {
  return Array.from({ length: tokens }, (_, s) => {
    const piece = PIECES[s % PIECES.length]!;
    return `${piece}${index === 0 || piece === '' ? '' : `#${index}`}`;
  }).join('');
}

/** Decrypts a chat or completions SSE body with the client library; returns text per choice. */
function decryptEvents(events: string[], serverKey: string | null, keys: KeyPair): string[] {
  const decryptor = createResponseDecryptor(serverKey, keys.privateKey);
  const texts: string[] = [];
  for (const event of events.filter((e) => e !== '[DONE]')) {
    const chunk = JSON.parse(event) as ChatCompletionChunk & CompletionChunk;
    const isChat = chunk.object === 'chat.completion.chunk';
    if (isChat) decryptor.decryptChatChunk(chunk);
    else decryptor.decryptCompletion(chunk);
    for (const choice of chunk.choices) {
      const text = isChat
        ? (choice as ChatCompletionChunk['choices'][number]).delta.content
        : (choice as CompletionChunk['choices'][number]).text;
      texts[choice.index] = (texts[choice.index] ?? '') + (text ?? '');
    }
  }
  return texts;
}

function plainEvents(events: string[]): string[] {
  const texts: string[] = [];
  for (const event of events.filter((e) => e !== '[DONE]')) {
    const chunk = JSON.parse(event) as ChatCompletionChunk;
    for (const choice of chunk.choices)
      texts[choice.index] = (texts[choice.index] ?? '') + (choice.delta.content ?? '');
  }
  return texts;
}

/** Reads SSE events until `count` data events have arrived. */
async function readEvents(reader: ReadableStreamDefaultReader<Uint8Array>, count: number): Promise<void> {
  const decoder = new TextDecoder();
  let text = '';
  while ((text.match(/^data: /gm) ?? []).length < count) {
    const { value, done } = await reader.read();
    if (done) throw new Error('stream ended early');
    text += decoder.decode(value, { stream: true });
  }
}

describe('userPublicKeyMiddleware: options are validated at construction', () => {
  it.each<[string, unknown]>([
    ['no options', undefined],
    ['a bad mode', { mode: 'sometimes' }],
    ['a bad client header name', { mode: 'required', clientKeyHeader: 'x client key' }],
    ['a bad server header name', { mode: 'required', serverKeyHeader: '' }],
    ['the same header twice', { mode: 'required', clientKeyHeader: 'X-Key', serverKeyHeader: 'x-key' }],
    ['a registry that is not one', { mode: 'required', registry: new Map() }],
    ['routes that are not an array', { mode: 'required', routes: 'POST /v1/completions' }],
    ['a route without a path', { mode: 'required', routes: [{ method: 'POST' }] }],
    ['a route with a relative path', { mode: 'required', routes: [{ method: 'POST', path: 'v1/completions' }] }],
  ])('refuses %s', (_name, options) => {
    expect(() => userPublicKeyMiddleware(options as UserPublicKeyMiddlewareOptions)).toThrow(TypeError);
    // injectMiddleware checks when it wraps, before any app is built (no options: its default, `required`).
    if (options !== undefined)
      expect(() => injectMiddleware(createGeneratorApp, options as UserPublicKeyMiddlewareOptions)).toThrow(TypeError);
  });

  it('returns a named function, and protects POST /v1/completions and /v1/chat/completions by default', () => {
    expect(userPublicKeyMiddleware({ mode: 'optional' }).name).toBe('userPublicKeyMiddleware');
    expect(DEFAULT_PROTECTED_ROUTES).toEqual([
      { method: 'POST', path: '/v1/completions' },
      { method: 'POST', path: '/v1/chat/completions' },
    ]);
  });
});

describe.each(['in-process', 'real server'] as const)('userPublicKeyMiddleware (%s)', (where) => {
  let registry: OutputProtectionRegistry;
  let target: Target | undefined;
  const keys = generateKeyPair();

  beforeEach(() => {
    registry = new OutputProtectionRegistry();
  });
  afterEach(async () => {
    await target?.close();
    target = undefined;
  });

  async function start(
    options: Partial<UserPublicKeyMiddlewareOptions> = {},
    events: GeneratorEvents = {},
  ): Promise<Target> {
    target = await startTarget(where, createProtectedGeneratorApp({ mode: 'required', registry, ...options }, events));
    return target;
  }

  it('required, no key: 400 whose message and param name the header', async () => {
    const t = await start();
    const response = await t.send('/v1/chat/completions', post({ stream: true }));
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { message: string; param: string; type: string } };
    expect(body.error).toMatchObject({ param: 'x-client-public-key', type: 'invalid_request_error' });
    expect(body.error.message).toContain('x-client-public-key');
    expect(response.headers.get('x-server-public-key')).toBeNull();
    expect(registry.size).toBe(0);
  });

  it.each(['required', 'optional'] as const)('%s, malformed key: 400 naming the header', async (mode) => {
    const t = await start({ mode });
    for (const bad of ['not base64!', Buffer.alloc(16).toString('base64'), Buffer.alloc(32).toString('base64url')]) {
      const response = await t.send('/v1/completions', post({}, { 'x-client-public-key': bad }));
      expect(response.status).toBe(400);
      const body = (await response.json()) as { error: { message: string; param: string } };
      expect(body.error.param).toBe('x-client-public-key');
      expect(body.error.message).toContain('x-client-public-key');
    }
    expect(registry.size).toBe(0);
  });

  it('a low-order public key (all zeros): 400 naming the header', async () => {
    const t = await start();
    const response = await t.send(
      '/v1/completions',
      post({}, { 'x-client-public-key': Buffer.alloc(32).toString('base64') }),
    );
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { param: string } }).error.param).toBe('x-client-public-key');
  });

  it('optional, no key: plaintext and no server key header', async () => {
    const t = await start({ mode: 'optional' });
    const response = await t.send('/v1/chat/completions', post({ stream: true }));
    expect(response.status).toBe(200);
    expect(response.headers.get('x-server-public-key')).toBeNull();
    expect(plainEvents(sseDataEvents(await response.text()))).toEqual([expectedText()]);
    expect(registry.size).toBe(0);
  });

  it('off: the key is ignored, plaintext, no server key header', async () => {
    const t = await start({ mode: 'off' });
    const response = await t.send('/v1/chat/completions', post({ stream: true }, keyHeaders(keys)));
    expect(response.headers.get('x-server-public-key')).toBeNull();
    expect(plainEvents(sseDataEvents(await response.text()))).toEqual([expectedText()]);
  });

  it('a route that is not protected passes through, key or not', async () => {
    const t = await start();
    const response = await t.send('/v1/models', { headers: keyHeaders(keys) });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-server-public-key')).toBeNull();
  });

  it.each(['/v1/chat/completions', '/v1/completions'])(
    'stream on %s with n=2: the client decrypts; the registry holds the context during the response and is empty after',
    async (path) => {
      let registeredDuringHandler: boolean | undefined;
      const t = await start(
        {},
        { onRequest: ({ protectedAs }) => (registeredDuringHandler = registry.has(protectedAs!)) },
      );
      const response = await t.send(
        path,
        post({ stream: true, n: 2 }, { ...keyHeaders(keys), 'x-request-id': 'req-stream-1' }),
      );
      expect(response.status).toBe(200);
      const serverKey = response.headers.get('x-server-public-key');
      expect(serverKey).toMatch(/^[A-Za-z0-9+/]{43}=$/);
      expect(registeredDuringHandler).toBe(true);
      const events = sseDataEvents(await collectText(response.body!));
      expect(events.at(-1)).toBe('[DONE]');
      expect(events.join('\n')).not.toContain('llo'); // no plaintext on the wire
      expect(decryptEvents(events, serverKey, keys)).toEqual([expectedText(), expectedText(PIECES.length, 1)]);
      await vi.waitFor(() => expect(registry.size).toBe(0));
    },
  );

  it.each(['/v1/chat/completions', '/v1/completions'])(
    'non-stream on %s: encrypted body, registry empty after it is sent',
    async (path) => {
      const t = await start();
      const response = await t.send(path, post({ n: 2 }, keyHeaders(keys)));
      const body = (await response.json()) as {
        choices: { index: number; text?: string; message?: { content: string } }[];
      };
      const decryptor = createResponseDecryptor(response.headers.get('x-server-public-key'), keys.privateKey);
      if (path === '/v1/completions') decryptor.decryptCompletion(body as never);
      else decryptor.decryptChatCompletion(body as never);
      expect(body.choices.map((c) => c.text ?? c.message?.content)).toEqual([
        expectedText(),
        expectedText(PIECES.length, 1),
      ]);
      await vi.waitFor(() => expect(registry.size).toBe(0));
    },
  );

  it('header names are configurable', async () => {
    const t = await start({ clientKeyHeader: 'X-My-Client-Key', serverKeyHeader: 'x-my-server-key' });
    const missing = await t.send('/v1/chat/completions', post({ stream: true }, keyHeaders(keys))); // the default name is not read
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { error: { param: string } }).error.param).toBe('x-my-client-key');
    const response = await t.send('/v1/chat/completions', post({ stream: true }, keyHeaders(keys, 'x-my-client-key')));
    expect(response.headers.get('x-server-public-key')).toBeNull();
    const serverKey = response.headers.get('x-my-server-key');
    expect(decryptEvents(sseDataEvents(await response.text()), serverKey, keys)).toEqual([expectedText()]);
  });

  it('the registry is empty after the handler throws', async () => {
    const t = await start();
    const response = await t.send('/v1/chat/completions', post({ stream: true, fail: 'handler' }, keyHeaders(keys)));
    expect(response.status).toBe(500);
    await response.text();
    await vi.waitFor(() => expect(registry.size).toBe(0));
  });

  it('the registry is empty after a stream that fails mid-way (error event, then [DONE])', async () => {
    const t = await start();
    const response = await t.send('/v1/chat/completions', post({ stream: true, fail: 'mid-stream' }, keyHeaders(keys)));
    const events = sseDataEvents(await response.text());
    expect(JSON.parse(events.at(-2)!)).toHaveProperty('error');
    await vi.waitFor(() => expect(registry.size).toBe(0));
  });

  it('the registry is empty after the client leaves mid-stream', async () => {
    const t = await start();
    const client = new AbortController();
    const response = await t.send(
      '/v1/chat/completions',
      post(
        { stream: true, max_tokens: Number.MAX_SAFE_INTEGER, interval_ms: 2 },
        { ...keyHeaders(keys), 'x-request-id': 'leaving' },
        client.signal,
      ),
    );
    const reader = response.body!.getReader();
    await readEvents(reader, 4);
    expect(registry.has('leaving')).toBe(true);
    if (where === 'in-process')
      await reader.cancel(); // no socket: the client's cancel reaches the body directly
    else client.abort();
    await vi.waitFor(() => expect(registry.size).toBe(0));
  });

  it('concurrent requests with the same x-request-id get distinct registry entries', async () => {
    const seen: (string | undefined)[] = [];
    const t = await start({}, { onRequest: ({ protectedAs }) => seen.push(protectedAs) });
    const slow = { stream: true, max_tokens: Number.MAX_SAFE_INTEGER, interval_ms: 2 };
    const clients = [new AbortController(), new AbortController()];
    const responses = await Promise.all(
      clients.map((c) =>
        t.send('/v1/chat/completions', post(slow, { ...keyHeaders(keys), 'x-request-id': 'same' }, c.signal)),
      ),
    );
    expect(registry.size).toBe(2);
    expect(new Set(seen).size).toBe(2);
    expect(seen).toContain('same');
    for (const [i, response] of responses.entries()) {
      if (where === 'in-process') await response.body!.cancel();
      else clients[i]!.abort();
    }
    await vi.waitFor(() => expect(registry.size).toBe(0));
  });
});

describe('the registry entry lives exactly as long as the response body', () => {
  it('a body stream that errors releases the entry', async () => {
    const registry = new OutputProtectionRegistry();
    const app = new Hono<OutputProtectionEnv>();
    app.use('*', userPublicKeyMiddleware({ mode: 'required', registry }));
    let fail: (err: Error) => void = () => {};
    app.post(
      '/v1/completions',
      () =>
        new Response(
          new ReadableStream({
            start: (controller) => {
              controller.enqueue(new TextEncoder().encode('data: {}\n\n'));
              fail = (err) => controller.error(err);
            },
          }),
        ),
    );
    const response = await app.request('/v1/completions', { method: 'POST', headers: keyHeaders(generateKeyPair()) });
    const reader = response.body!.getReader();
    await reader.read();
    expect(registry.size).toBe(1);
    fail(new Error('upstream broke'));
    await expect(reader.read()).rejects.toThrow('upstream broke');
    expect(registry.size).toBe(0);
  });

  it('a response without a body releases the entry at once', async () => {
    const registry = new OutputProtectionRegistry();
    const app = new Hono<OutputProtectionEnv>();
    app.use('*', userPublicKeyMiddleware({ mode: 'required', registry }));
    app.post('/v1/completions', (c) => c.body(null, 204));
    const response = await app.request('/v1/completions', { method: 'POST', headers: keyHeaders(generateKeyPair()) });
    expect(response.status).toBe(204);
    expect(response.headers.get('x-server-public-key')).not.toBeNull();
    expect(registry.size).toBe(0);
  });

  it('uses the process-wide registry by default', async () => {
    const app = new Hono<OutputProtectionEnv>();
    app.use('*', userPublicKeyMiddleware({ mode: 'required' }));
    let during = -1;
    app.post('/v1/completions', (c) => {
      during = outputProtectionRegistry.has(c.get('outputProtection')!.requestId) ? 1 : 0;
      return c.json({});
    });
    const response = await app.request('/v1/completions', { method: 'POST', headers: keyHeaders(generateKeyPair()) });
    await response.text();
    expect(during).toBe(1);
  });
});

describe.each(['in-process', 'real server'] as const)('injectMiddleware (%s)', (where) => {
  let target: Target | undefined;
  afterEach(async () => {
    await target?.close();
    target = undefined;
  });

  it('wraps an app factory: same arguments, the app behind the middleware, handlers find the context', async () => {
    const registry = new OutputProtectionRegistry();
    const seen: { requestIdHeader: string | undefined; protectedAs: string | undefined }[] = [];
    const build = injectMiddleware((events: GeneratorEvents) => createGeneratorApp(events), {
      mode: 'required',
      registry,
    });
    target = await startTarget(where, build({ onRequest: (s) => seen.push(s) }));
    const keys = generateKeyPair();

    const missing = await target.send('/v1/chat/completions', post({ stream: true }));
    expect(missing.status).toBe(400);
    expect(seen).toHaveLength(0); // the wrapped app never saw it

    const response = await target.send('/v1/chat/completions', post({ stream: true }, keyHeaders(keys)));
    expect(response.status).toBe(200);
    expect(
      decryptEvents(sseDataEvents(await response.text()), response.headers.get('x-server-public-key'), keys),
    ).toEqual([expectedText()]);
    // The wrapped app sees the registry key as its x-request-id.
    expect(seen[0]?.protectedAs).toBeDefined();
    expect(seen[0]?.requestIdHeader).toBe(seen[0]?.protectedAs);
    await vi.waitFor(() => expect(registry.size).toBe(0));

    // Its own routes, error handler and 404 still work.
    expect((await target.send('/v1/models')).status).toBe(200);
    expect((await target.send('/nowhere')).status).toBe(404);
    const failed = await target.send('/v1/completions', post({ fail: 'handler' }, keyHeaders(keys)));
    expect(failed.status).toBe(500);
    await failed.text();
    await vi.waitFor(() => expect(registry.size).toBe(0));
  });

  it('a client that leaves mid-stream empties the registry and cancels the wrapped app', async () => {
    const registry = new OutputProtectionRegistry();
    let cancelled = false;
    target = await startTarget(
      where,
      injectMiddleware(createGeneratorApp, { mode: 'required', registry })({ onCancel: () => (cancelled = true) }),
    );
    const client = new AbortController();
    const response = await target.send(
      '/v1/completions',
      post(
        { stream: true, max_tokens: Number.MAX_SAFE_INTEGER, interval_ms: 2 },
        keyHeaders(generateKeyPair()),
        client.signal,
      ),
    );
    const reader = response.body!.getReader();
    await readEvents(reader, 3);
    expect(registry.size).toBe(1);
    if (where === 'in-process') await reader.cancel();
    else client.abort();
    await vi.waitFor(() => expect(registry.size).toBe(0));
    await vi.waitFor(() => expect(cancelled).toBe(true));
  });

  it('the wrapped app sees the client leave through its request signal', async () => {
    let started: () => void = () => {};
    const handlerStarted = new Promise<void>((resolve) => (started = resolve));
    let aborted = false;
    const build = injectMiddleware(
      () => {
        const inner = new Hono();
        inner.post('/v1/completions', async (c) => {
          started();
          await new Promise<void>((resolve) =>
            c.req.raw.signal.addEventListener('abort', () => resolve(), { once: true }),
          );
          aborted = true;
          return c.json({});
        });
        return inner;
      },
      { mode: 'required', registry: new OutputProtectionRegistry() },
    );
    target = await startTarget(where, build());
    const client = new AbortController();
    const pending = target.send('/v1/completions', post({}, keyHeaders(generateKeyPair()), client.signal));
    await handlerStarted;
    client.abort();
    await pending.catch(() => undefined); // a real client's fetch rejects; app.fetch just answers
    await vi.waitFor(() => expect(aborted).toBe(true));
  });

  it('defaults to required mode', async () => {
    target = await startTarget(where, injectMiddleware(createGeneratorApp)());
    expect((await target.send('/v1/completions', post({}))).status).toBe(400);
  });
});
