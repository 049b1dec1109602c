import { Hono } from 'hono';
import { afterEach, describe, expect, it } from 'vitest';
import { directResponse, listen, type DirectBody, type RunningServer } from '../../src/http/index.js';

/** A body whose two edges say which one was used. */
function taggedBody(): DirectBody & { used: string[] } {
  const used: string[] = [];
  return {
    used,
    stream: new ReadableStream<Uint8Array>(
      {
        pull(controller) {
          used.push('stream');
          controller.enqueue(new TextEncoder().encode('from the stream'));
          controller.close();
        },
      },
      { highWaterMark: 0 }, // pulled only when read
    ),
    writeTo(res) {
      used.push('node');
      res.end('from the node writer');
    },
  };
}

function appWith(body: DirectBody): Hono {
  const app = new Hono();
  app.use(async (c, next) => {
    await next();
    c.header('x-after', 'set by a middleware after the handler');
  });
  app.get('/', () => {
    const headers = new Headers({ 'content-type': 'text/event-stream' });
    headers.append('set-cookie', 'a=1');
    headers.append('set-cookie', 'b=2');
    return directResponse(body, { status: 201, headers });
  });
  app.get('/plain', (c) => c.text('plain'));
  return app;
}

let server: RunningServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('a DirectBody', () => {
  it("on listen()'s server, writes itself to the socket, with the status and every header the app set", async () => {
    const body = taggedBody();
    server = await listen(appWith(body).fetch, '127.0.0.1', 0);
    const response = await fetch(`${server.url}/`);
    expect(await response.text()).toBe('from the node writer');
    expect(body.used).toEqual(['node']); // the Web Stream was never read
    expect(response.status).toBe(201);
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    expect(response.headers.get('x-after')).toBe('set by a middleware after the handler');
    expect(response.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
  });

  it('in-process (app.request), is read as its Web Stream', async () => {
    const body = taggedBody();
    const response = await appWith(body).request('/');
    expect(await response.text()).toBe('from the stream');
    expect(body.used).toEqual(['stream']);
  });

  it('leaves every other answer to the server as it was', async () => {
    server = await listen(appWith(taggedBody()).fetch, '127.0.0.1', 0);
    const response = await fetch(`${server.url}/plain`);
    expect(await response.text()).toBe('plain');
  });
});
