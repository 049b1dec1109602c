import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import type { ServerResponse } from 'node:http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ClientClosedError, UpstreamTimeoutError, UpstreamUnavailableError } from '../../src/errors/index.js';
import { UpstreamClient } from '../../src/upstream/index.js';
import { startScriptedUpstream, type Behaviour, type ScriptedUpstream } from '../support/scripted-upstream.js';
import { collectText } from '../support/streams.js';
import type { ByteSource } from '../../src/internal/byte-source.js';

const TIMEOUT_MS = 150;
const call = () => ({ headers: {}, signal: new AbortController().signal });
let upstream: ScriptedUpstream | undefined;

/** An SSE answer that sends one event and then holds the connection open. */
const oneEventThenHeld: Behaviour = (_req, res) => {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.write('data: one\n\n');
};

afterEach(async () => {
  vi.useRealTimers();
  await upstream?.close();
  upstream = undefined;
});

describe('the upstream body idle deadline', () => {
  it('errors the body with a timeout when no chunk comes while a read waits, and aborts the request', async () => {
    upstream = await startScriptedUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: one\n\n'); // then nothing, connection held open
    });
    const client = new UpstreamClient({ baseUrl: upstream.url, timeoutMs: TIMEOUT_MS, fixedHeaders: {} });
    const body = (await client.postJson('/v1/completions', '{}', call())).body;
    expect(new TextDecoder().decode(await body.read())).toBe('data: one\n\n');
    const aborted = upstream.nextAbort();
    await expect(body.read()).rejects.toBeInstanceOf(UpstreamTimeoutError);
    await aborted;
  });

  it('does not count the time the reader itself takes between reads', async () => {
    upstream = await startScriptedUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end('data: one\n\ndata: two\n\n');
    });
    const client = new UpstreamClient({ baseUrl: upstream.url, timeoutMs: TIMEOUT_MS, fixedHeaders: {} });
    // Faked before the call, so that the body's own deadline timer is a fake one.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const body = (await client.postJson('/v1/completions', '{}', call())).body;
    let text = new TextDecoder().decode(await body.read());
    // A slow client: many deadlines pass while nobody reads. The timer fires, finds no read waiting.
    await vi.advanceTimersByTimeAsync(TIMEOUT_MS * 10);
    for (let c = await body.read(); c !== undefined; c = await body.read()) text += new TextDecoder().decode(c);
    expect(text).toBe('data: one\n\ndata: two\n\n');
  });
});

describe('the idle deadline is one timer, refreshed by each read', () => {
  it('lets a stream whose gaps are each under the deadline run longer than it in all', async () => {
    let response: ServerResponse | undefined;
    let answered!: () => void;
    const started = new Promise<void>((resolve) => (answered = resolve));
    upstream = await startScriptedUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.flushHeaders();
      response = res;
      answered();
    });
    const client = new UpstreamClient({ baseUrl: upstream.url, timeoutMs: TIMEOUT_MS, fixedHeaders: {} });
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const body = (await client.postJson('/v1/completions', '{}', call())).body;
    await started;
    for (const text of ['one', 'two', 'three']) {
      const read = body.read();
      await vi.advanceTimersByTimeAsync(TIMEOUT_MS - 10); // most of a deadline, three times over
      response!.write(text);
      expect(new TextDecoder().decode(await read)).toBe(text);
    }
    const stalled = expect(body.read()).rejects.toBeInstanceOf(UpstreamTimeoutError);
    await vi.advanceTimersByTimeAsync(TIMEOUT_MS + 1);
    await stalled;
  });
});

/** An answer's body pushed (`flow`), collected: the chunks' text, and how it ended. */
function pushed(body: ByteSource) {
  let text = '';
  let ended!: (how: unknown) => void;
  const end = new Promise<unknown>((resolve) => (ended = resolve));
  const flow = body.flow!({
    data: (chunk) => (text += new TextDecoder().decode(chunk)),
    end: () => ended('end'),
    error: (err) => ended(err),
  });
  return { flow, end, text: () => text };
}

describe('an answer pushed from the socket (flow, the relay path)', () => {
  it('hands over every chunk, then ends, and frees the connection for the next request', async () => {
    const sockets = new Set<unknown>();
    upstream = await startScriptedUpstream((_req, res) => {
      sockets.add(res.socket);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: one\n\n');
      res.end('data: two\n\n');
    });
    const client = new UpstreamClient({ baseUrl: upstream.url, timeoutMs: 5_000, fixedHeaders: {} });
    const onSettled = vi.fn();
    for (let i = 0; i < 2; i++) {
      const body = pushed((await client.postJson('/v1/completions', '{}', { ...call(), onSettled })).body);
      expect(await body.end).toBe('end');
      expect(body.text()).toBe('data: one\n\ndata: two\n\n');
    }
    expect(sockets.size).toBe(1);
    expect(onSettled).toHaveBeenCalledTimes(2);
  });

  it('fails with a timeout when no chunk comes within the deadline, and aborts the request', async () => {
    upstream = await startScriptedUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: one\n\n'); // then nothing, connection held open
    });
    const client = new UpstreamClient({ baseUrl: upstream.url, timeoutMs: TIMEOUT_MS, fixedHeaders: {} });
    const aborted = upstream.nextAbort();
    const body = pushed((await client.postJson('/v1/completions', '{}', call())).body);
    expect(await body.end).toBeInstanceOf(UpstreamTimeoutError);
    expect(body.text()).toBe('data: one\n\n');
    await aborted;
  });

  it('does not count the time it is paused (a slow client), and resumes where it was', async () => {
    let response!: ServerResponse;
    upstream = await startScriptedUpstream((_req, res) => {
      response = res;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: one\n\n');
    });
    const client = new UpstreamClient({ baseUrl: upstream.url, timeoutMs: TIMEOUT_MS, fixedHeaders: {} });
    // Faked before the call, so that the body's own deadline timer is a fake one.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { body } = await client.postJson('/v1/completions', '{}', call());
    let text = '';
    let got!: () => void;
    const first = new Promise<void>((resolve) => (got = resolve));
    let ended: unknown;
    const flow = body.flow!({
      data: (chunk) => {
        if (text === '') flow.pause(); // the client's buffer is full after the first chunk
        text += new TextDecoder().decode(chunk);
        got();
      },
      end: () => (ended = 'end'),
      error: (err) => (ended = err),
    });
    await first;
    await vi.advanceTimersByTimeAsync(TIMEOUT_MS * 10); // many deadlines pass while nobody wants data
    expect(ended).toBeUndefined();
    response.end('data: two\n\n');
    flow.resume();
    await vi.waitFor(() => expect(ended).toBe('end'));
    expect(text).toBe('data: one\n\ndata: two\n\n');
  });

  it('fails as the client leaving when the call is aborted mid-body', async () => {
    upstream = await startScriptedUpstream(oneEventThenHeld);
    const client = new UpstreamClient({ baseUrl: upstream.url, timeoutMs: 5_000, fixedHeaders: {} });
    const disconnect = new AbortController();
    const { body } = await client.postJson('/v1/completions', '{}', { headers: {}, signal: disconnect.signal });
    const aborted = upstream.nextAbort();
    const pushedBody = pushed(body);
    await vi.waitFor(() => expect(pushedBody.text()).toBe('data: one\n\n'));
    disconnect.abort();
    expect(await pushedBody.end).toBeInstanceOf(ClientClosedError);
    await aborted;
  });

  it('fails as the upstream unreachable when it drops the connection mid-body', async () => {
    upstream = await startScriptedUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: one\n\n', () => res.socket!.destroy());
    });
    const client = new UpstreamClient({ baseUrl: upstream.url, timeoutMs: 5_000, fixedHeaders: {} });
    const body = pushed((await client.postJson('/v1/completions', '{}', call())).body);
    expect(await body.end).toBeInstanceOf(UpstreamUnavailableError);
  });

  it('once cancelled, tells the sink nothing more, closes the connection and settles once', async () => {
    upstream = await startScriptedUpstream(oneEventThenHeld);
    const client = new UpstreamClient({ baseUrl: upstream.url, timeoutMs: 5_000, fixedHeaders: {} });
    const onSettled = vi.fn();
    const { body } = await client.postJson('/v1/completions', '{}', { ...call(), onSettled });
    const told = vi.fn();
    const aborted = upstream.nextAbort();
    const flow = body.flow!({ data: () => undefined, end: told, error: told });
    await flow.cancel();
    await aborted;
    expect(told).not.toHaveBeenCalled();
    expect(onSettled).toHaveBeenCalledOnce();
  });
});

describe('the upstream connection', () => {
  it('is closed when the client disconnects mid-stream: the read fails as the client leaving, settled once', async () => {
    upstream = await startScriptedUpstream(oneEventThenHeld);
    const client = new UpstreamClient({ baseUrl: upstream.url, timeoutMs: 5_000, fixedHeaders: {} });
    const disconnect = new AbortController();
    const onSettled = vi.fn();
    const body = (await client.postJson('/v1/completions', '{}', { headers: {}, signal: disconnect.signal, onSettled }))
      .body;
    expect(new TextDecoder().decode(await body.read())).toBe('data: one\n\n');
    const pending = body.read();
    const aborted = upstream.nextAbort();
    disconnect.abort();
    await expect(pending).rejects.toBeInstanceOf(ClientClosedError);
    await aborted; // the upstream saw its connection close
    await body.cancel();
    expect(await body.read()).toBeUndefined();
    expect(onSettled).toHaveBeenCalledOnce();
  });

  it('is closed by cancel, which settles once however often it is called', async () => {
    upstream = await startScriptedUpstream(oneEventThenHeld);
    const client = new UpstreamClient({ baseUrl: upstream.url, timeoutMs: 5_000, fixedHeaders: {} });
    const onSettled = vi.fn();
    const { body } = await client.postJson('/v1/completions', '{}', { ...call(), onSettled });
    const aborted = upstream.nextAbort();
    await body.cancel();
    await body.cancel();
    await aborted;
    expect(await body.read()).toBeUndefined();
    expect(onSettled).toHaveBeenCalledOnce();
  });

  it('is reused for the next request once an answer was read to its end, and settles each once', async () => {
    const sockets = new Set<unknown>();
    upstream = await startScriptedUpstream((_req, res) => {
      sockets.add(res.socket);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
    const client = new UpstreamClient({ baseUrl: upstream.url, timeoutMs: 5_000, fixedHeaders: {} });
    const onSettled = vi.fn();
    for (let i = 0; i < 3; i++)
      expect(await collectText((await client.get('/v1/models', { ...call(), onSettled })).body)).toBe('{}');
    expect(sockets.size).toBe(1);
    expect(onSettled).toHaveBeenCalledTimes(3);
  });

  it('is replaced once when a pooled one turns out closed by the server before it answered', async () => {
    const served = new WeakMap<object, number>();
    let dropped = 0;
    upstream = await startScriptedUpstream((_req, res) => {
      const count = (served.get(res.socket!) ?? 0) + 1;
      served.set(res.socket!, count);
      // The second request on a connection finds it closing: what a keep-alive timeout race looks like.
      if (count === 2) {
        dropped += 1;
        return void res.socket!.destroy();
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`{"n":${count}}`);
    });
    const client = new UpstreamClient({ baseUrl: upstream.url, timeoutMs: 5_000, fixedHeaders: {} });
    expect(await collectText((await client.postJson('/v1/completions', '{}', call())).body)).toBe('{"n":1}');
    const onSettled = vi.fn();
    const again = await client.postJson('/v1/completions', '{}', { ...call(), onSettled });
    expect(await collectText(again.body)).toBe('{"n":1}'); // a new connection's first
    expect(dropped).toBe(1);
    expect(onSettled).toHaveBeenCalledOnce();
  });

  it('a body in pieces goes out whole with its length, and is sent whole again on a replaced connection', async () => {
    const served = new WeakMap<object, number>();
    upstream = await startScriptedUpstream((request, res) => {
      const count = (served.get(res.socket!) ?? 0) + 1;
      served.set(res.socket!, count);
      if (count === 2) return void res.socket!.destroy();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ length: request.headers['content-length'], got: request.raw.toString('utf8') }));
    });
    const client = new UpstreamClient({ baseUrl: upstream.url, timeoutMs: 5_000, fixedHeaders: {} });
    const pieces = ['{"prompt_embeds":"', 'QUJD', '","model":"é"}'].map((text) => new TextEncoder().encode(text));
    const got = '{"prompt_embeds":"QUJD","model":"é"}';
    const expected = { length: String(Buffer.byteLength(got)), got }; // bytes, not characters
    for (let i = 0; i < 2; i++) {
      // The second goes out on the pooled connection, which the server drops: it is sent again on a new one.
      const answer = await collectText((await client.postJson('/v1/completions', pieces, call())).body);
      expect(JSON.parse(answer)).toEqual(expected);
    }
    expect(upstream.requests.map((r) => r.raw.toString('utf8'))).toEqual(Array(3).fill(got));
  });

  it('is not retried when it is refused: a 502-mapped error, settled once', async () => {
    const gone = await startScriptedUpstream(() => undefined);
    await gone.close();
    const client = new UpstreamClient({ baseUrl: gone.url, timeoutMs: 5_000, fixedHeaders: {} });
    const onSettled = vi.fn();
    const failed = client.postJson('/v1/completions', '{}', { ...call(), onSettled });
    await expect(failed).rejects.toBeInstanceOf(UpstreamUnavailableError);
    await expect(failed).rejects.toThrow(/ECONNREFUSED/);
    expect(onSettled).toHaveBeenCalledOnce();
  });
});

describe('an https:// base URL', () => {
  it('is spoken to in TLS, on the URL port, and a peer that is not TLS is a 502-mapped error', async () => {
    const sockets: Socket[] = [];
    const server = createServer((socket) => void sockets.push(socket));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const firstBytes = new Promise<Buffer>((resolve) =>
      server.once('connection', (socket: Socket) =>
        socket.once('data', (data: Buffer) => {
          resolve(data);
          socket.end('HTTP/1.1 200 OK\r\n\r\n'); // plain text where a TLS record is due
        }),
      ),
    );
    const { port } = server.address() as { port: number };
    const client = new UpstreamClient({ baseUrl: `https://127.0.0.1:${port}`, timeoutMs: 5_000, fixedHeaders: {} });
    const result = client.get('/health', call());
    const hello = await firstBytes;
    expect(hello[0]).toBe(0x16); // a TLS handshake record: the ClientHello
    await expect(result).rejects.toBeInstanceOf(UpstreamUnavailableError);
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
});
