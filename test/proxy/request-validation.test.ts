import { Hono } from 'hono';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError } from '../../src/errors/index.js';
import { listen, type RunningServer } from '../../src/http/index.js';
import { boundedBody } from '../../src/proxy/request-validation.js';

/**
 * The request body bound, both ways a body arrives: with a declared length (read whole, off the
 * socket) and chunked (read as a stream, cut at the bound). In-process, where nothing enforces a
 * declared length, and on a real server, where Node's parser does.
 */
const MAX = 16;

const app = new Hono();
app.post('/echo', boundedBody(MAX), async (c) => c.text(await c.req.text()));
// The error's class by name, with its status: what the proxy's own handler serialises from it.
app.onError(
  (err) => new Response(JSON.stringify({ name: err.name }), { status: err instanceof ApiError ? err.status : 500 }),
);

let server: RunningServer;
beforeAll(async () => {
  server = await listen(app.fetch, '127.0.0.1', 0);
});
afterAll(() => server?.close());

function chunked(text: string): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (const char of text) controller.enqueue(new TextEncoder().encode(char));
      controller.close();
    },
  });
}

/** POST over a socket, as a client sends it: with `content-length`, or chunked when `framing` says so. */
function post(body: string, framing: 'content-length' | 'chunked'): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const headers =
      framing === 'chunked' ? { 'transfer-encoding': 'chunked' } : { 'content-length': Buffer.byteLength(body) };
    const req = httpRequest(`${server.url}/echo`, { method: 'POST', headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    if (framing === 'chunked') for (const char of body) req.write(char);
    else req.write(body);
    req.end();
  });
}

describe('on a real server', () => {
  it.each(['content-length', 'chunked'] as const)('%s: a body at the bound is read whole', async (framing) => {
    const body = 'é'.repeat(MAX / 2); // two bytes each: the bound counts bytes, not characters
    expect(await post(body, framing)).toEqual({ status: 200, text: body });
  });

  it.each(['content-length', 'chunked'] as const)('%s: one byte over the bound → 413', async (framing) => {
    const response = await post('x'.repeat(MAX + 1), framing);
    expect(response.status).toBe(413);
    expect(JSON.parse(response.text)).toEqual({ name: 'PayloadTooLargeError' });
  });

  it('an empty body with content-length: 0 is read as empty', async () => {
    expect(await post('', 'content-length')).toEqual({ status: 200, text: '' });
  });
});

describe('in-process (app.request)', () => {
  const call = (body: string | ReadableStream<Uint8Array>, headers: Record<string, string>) =>
    app.request('/echo', { method: 'POST', headers, body, duplex: 'half' } as RequestInit);

  it('a declared length that understates the body: the bound still holds (413)', async () => {
    const response = await call('x'.repeat(MAX + 1), { 'content-length': '4' });
    expect(response.status).toBe(413);
  });

  it('a declared length over the bound → 413 before the body is read', async () => {
    let pulled = false;
    const body = new ReadableStream(
      {
        pull() {
          pulled = true;
        },
      },
      { highWaterMark: 0 }, // pulled only when read
    );
    const response = await call(body, { 'content-length': String(MAX + 1) });
    expect(response.status).toBe(413);
    expect(pulled).toBe(false);
  });

  it('a stream without a declared length is cut at the bound (413) and read when within it', async () => {
    expect((await call(chunked('x'.repeat(MAX + 1)), {})).status).toBe(413);
    const within = await call(chunked('y'.repeat(MAX)), {});
    expect(await within.text()).toBe('y'.repeat(MAX));
  });

  it('a body that fails mid-read is the client closing (ClientClosedError), not a 500', async () => {
    const failing = () =>
      new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('{"a"'));
          controller.error(new Error('socket hang up'));
        },
      });
    for (const headers of [{ 'content-length': '10' }, {}] as Record<string, string>[]) {
      const response = await call(failing(), headers);
      expect(await response.json()).toEqual({ name: 'ClientClosedError' });
    }
  });
});
