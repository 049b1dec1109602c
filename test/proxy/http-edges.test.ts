/**
 * HTTP edges a client or a broken upstream reaches (issue: nothing one client or one broken
 * upstream does can hurt the others), on real sockets.
 */
import { connect, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, type Logger } from '../../src/logging/index.js';
import { loadSgt, type Sgt } from '../../src/sgt/index.js';
import { IDENTITY_SGT_DIR } from '../support/artifacts.js';
import { chatBody, postJson, startProxy, type ProxyUnderTest } from '../support/proxy-harness.js';
import {
  completionChunk,
  jsonBody,
  sse,
  startScriptedUpstream,
  streamTokens,
  type ScriptedUpstream,
} from '../support/scripted-upstream.js';

let sgt: Sgt;
let upstream: ScriptedUpstream;

beforeAll(async () => {
  sgt = await loadSgt(IDENTITY_SGT_DIR);
  upstream = await startScriptedUpstream(streamTokens(['ok']));
});
afterAll(async () => {
  await upstream?.close();
  await sgt?.close();
});

/** Log lines as they arrive, and a way to wait for one. */
function capturedLogs(): {
  logger: Logger;
  lines: Record<string, unknown>[];
  waitFor(match: (l: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
} {
  const lines: Record<string, unknown>[] = [];
  const waiters: { match: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }[] =
    [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const text of String(chunk).split('\n').filter(Boolean)) {
        const line = JSON.parse(text) as Record<string, unknown>;
        lines.push(line);
        for (const w of waiters.filter((w) => w.match(line))) w.resolve(line);
      }
      done();
    },
  });
  return {
    logger: createLogger({ level: 'info', modules: {}, destination: 'stdout', redact: [] }, sink).forModule('proxy'),
    lines,
    waitFor: (match) => {
      const found = lines.find(match);
      return found ? Promise.resolve(found) : new Promise((resolve) => waiters.push({ match, resolve }));
    },
  };
}

/** A raw HTTP/1.1 exchange: everything the server sent, and whether it closed the connection. */
function rawExchange(
  url: string,
  request: string | Buffer,
  options: { destroyAfterWrite?: boolean } = {},
): Promise<{ response: string; closedByServer: boolean }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket: Socket = connect(Number(port), hostname, () => {
      socket.write(request);
      if (options.destroyAfterWrite) {
        socket.destroy();
        resolve({ response: '', closedByServer: false });
      }
    });
    const parts: Buffer[] = [];
    socket.on('data', (d: Buffer) => parts.push(d));
    socket.on('end', () => resolve({ response: Buffer.concat(parts).toString('utf8'), closedByServer: true }));
    socket.on('error', reject);
  });
}

async function withProxy(
  options: Partial<Parameters<typeof startProxy>[0]>,
  run: (proxy: ProxyUnderTest) => Promise<void>,
): Promise<void> {
  const proxy = await startProxy({ sgt, upstreamUrl: upstream.url, settings: { maxRequestBytes: 1024 }, ...options });
  try {
    await run(proxy);
  } finally {
    await proxy.close();
  }
}

describe('request bodies', () => {
  it('413 says Connection: close and closes, so a keep-alive client does not reuse a socket left with unread bytes', async () => {
    await withProxy({}, async (proxy) => {
      const { host } = new URL(proxy.url);
      for (const framing of ['content-length', 'chunked'] as const) {
        const body = JSON.stringify(chatBody({ messages: [{ role: 'user', content: 'x'.repeat(4096) }] }));
        const head = `POST /v1/chat/completions HTTP/1.1\r\nhost: ${host}\r\ncontent-type: application/json\r\nconnection: keep-alive\r\n`;
        const request =
          framing === 'content-length'
            ? `${head}content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
            : `${head}transfer-encoding: chunked\r\n\r\n${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n0\r\n\r\n`;
        const { response, closedByServer } = await rawExchange(proxy.url, request);
        expect(response, framing).toMatch(/^HTTP\/1\.1 413 /);
        expect(response.toLowerCase(), framing).toContain('connection: close');
        expect(response, framing).toContain('"type":"invalid_request_error"');
        expect(closedByServer, framing).toBe(true);
      }
      // And the next request, on a new connection, is served.
      const ok = await postJson(`${proxy.url}/v1/chat/completions`, chatBody({ stream: true }));
      expect(ok.status).toBe(200);
      await ok.text();
    });
  });

  it('a client that hangs up mid-upload is a closed request (499, info), never a 500 at error level', async () => {
    const logs = capturedLogs();
    await withProxy({ logger: logs.logger }, async (proxy) => {
      const { host } = new URL(proxy.url);
      await rawExchange(
        proxy.url,
        `POST /v1/chat/completions HTTP/1.1\r\nhost: ${host}\r\ncontent-type: application/json\r\ncontent-length: 900\r\n\r\n{"messages": [`,
        { destroyAfterWrite: true },
      );
      const outcome = await logs.waitFor((l) => l.msg === 'request rejected' || l.msg === 'request failed');
      expect(outcome).toMatchObject({ msg: 'request rejected', status: 499, code: 'client_closed_request', level: 30 });
      expect(logs.lines.filter((l) => (l.level as number) >= 50)).toEqual([]);
    });
  });

  it('on a real socket, a JSON body is read with its JSON Content-Type only; another, or none, is a 415 that closes', async () => {
    await withProxy({}, async (proxy) => {
      const { host } = new URL(proxy.url);
      // The accepted ones ask for the close themselves; a refused one is sent keep-alive: the server must close it.
      const exchange = async (type: string | undefined, body: string, close = true) => {
        const head = `POST /v1/chat/completions HTTP/1.1\r\nhost: ${host}\r\n${close ? 'connection: close\r\n' : ''}${type ? `content-type: ${type}\r\n` : ''}`;
        return rawExchange(proxy.url, `${head}content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      };
      const valid = JSON.stringify(chatBody({ stream: true }));
      for (const type of ['application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON']) {
        expect((await exchange(type, valid)).response, type).toMatch(/^HTTP\/1\.1 200 [\s\S]*data: \[DONE\]/);
        const { response: broken } = await exchange(type, '{"messages": [');
        expect(broken, type).toMatch(/^HTTP\/1\.1 400 /);
        expect(broken).toContain('"code":"invalid_json"');
      }
      for (const type of ['text/plain;charset=UTF-8', 'application/x-www-form-urlencoded', undefined]) {
        const { response, closedByServer } = await exchange(type, valid, false);
        expect(closedByServer).toBe(true);
        expect(response, String(type)).toMatch(/^HTTP\/1\.1 415 /);
        expect(response.toLowerCase()).toContain('connection: close');
        expect(response).toContain('"code":"unsupported_media_type"');
      }
    });
  });
});

describe('upstream error answers', () => {
  const answer =
    (status: number, headers: Record<string, string>, body: string): Parameters<ScriptedUpstream['setBehaviour']>[0] =>
    (_req, res) => {
      res.writeHead(status, headers);
      res.end(body);
    };

  it("relays the upstream's Retry-After on 429 and 503", async () => {
    await withProxy({}, async (proxy) => {
      for (const status of [429, 503]) {
        upstream.setBehaviour(
          answer(
            status,
            { 'content-type': 'application/json', 'retry-after': '7' },
            JSON.stringify({ error: { message: 'busy' } }),
          ),
        );
        const response = await postJson(`${proxy.url}/v1/chat/completions`, chatBody());
        expect(response.status).toBe(status);
        expect(response.headers.get('retry-after')).toBe('7');
        expect(((await response.json()) as { error: { message: string } }).error.message).toBe('busy');
      }
      upstream.setBehaviour(answer(503, { 'retry-after': 'soon, maybe' }, '{}'));
      const odd = await postJson(`${proxy.url}/v1/chat/completions`, chatBody());
      expect(odd.headers.get('retry-after')).toBeNull(); // not a delay or an HTTP-date: not relayed
      await odd.text();
    });
    upstream.setBehaviour(streamTokens(['ok']));
  });

  it('a body that is not JSON becomes a generic message with the status; a huge JSON message is capped', async () => {
    await withProxy({}, async (proxy) => {
      upstream.setBehaviour(
        answer(
          502,
          { 'content-type': 'text/html' },
          '<html><body><h1>502 Bad Gateway</h1><p>nginx internal 10.0.0.7</p></body></html>',
        ),
      );
      const html = await postJson(`${proxy.url}/v1/chat/completions`, chatBody());
      expect(html.status).toBe(502);
      const htmlError = ((await html.json()) as { error: { message: string } }).error;
      expect(htmlError.message).toBe('The upstream answered HTTP 502 with a body that is not JSON.');
      upstream.setBehaviour(
        answer(400, { 'content-type': 'application/json' }, JSON.stringify({ error: { message: 'y'.repeat(50_000) } })),
      );
      const long = await postJson(`${proxy.url}/v1/chat/completions`, chatBody());
      expect(long.status).toBe(400);
      const longError = ((await long.json()) as { error: { message: string } }).error;
      expect(longError.message.length).toBeLessThanOrEqual(1024 + 20);
      expect(longError.message.endsWith('… (truncated)')).toBe(true);
      // 2 MB: more than the proxy reads of an error body (64 KiB), so not JSON as far as it can tell.
      upstream.setBehaviour(
        answer(
          400,
          { 'content-type': 'application/json' },
          JSON.stringify({ error: { message: 'y'.repeat(2_000_000) } }),
        ),
      );
      const huge = await postJson(`${proxy.url}/v1/chat/completions`, chatBody());
      expect(huge.status).toBe(400);
      expect(((await huge.json()) as { error: { message: string } }).error.message).toBe(
        'The upstream answered HTTP 400 with a body that is not JSON.',
      );
    });
    upstream.setBehaviour(streamTokens(['ok']));
  });
});

describe('upstream chunks are checked, not trusted', () => {
  const lying: [string, unknown, RegExp][] = [
    ['choices: [null]', { id: 'c', created: 1, model: 'm', choices: [null] }, /choices\[0\] is not an object/],
    [
      'an index that is not an integer',
      { id: 'c', created: 1, model: 'm', choices: [{ index: 'zero', text: 'x', finish_reason: null }] },
      /choices\[0\]\.index is not a non-negative integer/,
    ],
    [
      'text that is a number',
      { id: 'c', created: 1, model: 'm', choices: [{ index: 0, text: 5, finish_reason: null }] },
      /choices\[0\]\.text is not a string/,
    ],
    [
      'a finish_reason that is a number',
      { id: 'c', created: 1, model: 'm', choices: [{ index: 0, text: 'x', finish_reason: 3 }] },
      /finish_reason is not a string or null/,
    ],
    [
      'usage that is a string',
      { id: 'c', created: 1, model: 'm', choices: [], usage: 'lots' },
      /usage is not an object or null/,
    ],
  ];

  it.each(lying)(
    'stream with %s: one upstream_protocol_error event naming the field, then [DONE]',
    async (_name, event, message) => {
      await withProxy({}, async (proxy) => {
        upstream.setBehaviour((_req, res) => {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.end(sse(completionChunk('fine ')) + sse(event) + 'data: [DONE]\n\n');
        });
        const response = await postJson(`${proxy.url}/v1/chat/completions`, chatBody({ stream: true }));
        expect(response.status).toBe(200);
        const events = (await response.text())
          .split('\n\n')
          .filter((e) => e.startsWith('data: '))
          .map((e) => e.slice(6));
        expect(events.at(-1)).toBe('[DONE]');
        const error = JSON.parse(events.at(-2) as string) as { error: { code: string; message: string } };
        expect(error.error.code).toBe('upstream_protocol_error');
        expect(error.error.message).toMatch(message);
        expect(events.join('')).not.toContain('"content":5');
      });
      upstream.setBehaviour(streamTokens(['ok']));
    },
  );

  it.each(lying)(
    'non-stream answer with %s: 502 upstream_protocol_error naming the field',
    async (_name, body, message) => {
      await withProxy({}, async (proxy) => {
        upstream.setBehaviour(jsonBody(200, body));
        const response = await postJson(`${proxy.url}/v1/chat/completions`, chatBody());
        expect(response.status).toBe(502);
        const { error } = (await response.json()) as { error: { code: string; message: string } };
        expect(error.code).toBe('upstream_protocol_error');
        expect(error.message).toMatch(message);
      });
      upstream.setBehaviour(streamTokens(['ok']));
    },
  );
});

describe('the HTTP server itself', () => {
  const parserRejections: [string, string, number][] = [
    [
      'duplicate Content-Length',
      'POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\n{}',
      400,
    ],
    [
      'Content-Length with Transfer-Encoding',
      'POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n',
      400,
    ],
    [
      'a bad chunk size',
      'POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n',
      400,
    ],
    ['NUL in a header', 'GET /livez HTTP/1.1\r\nhost: x\r\nx-bad: a\u0000b\r\n\r\n', 400],
    ['headers over the limit', `GET /livez HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`, 431],
  ];

  it.each(parserRejections)(
    '%s → the OpenAI envelope with its status, then the connection is closed',
    async (_name, request, status) => {
      await withProxy({}, async (proxy) => {
        const { response, closedByServer } = await rawExchange(proxy.url, request);
        expect(response).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
        const body = JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4)) as {
          error: { type: string; message: string };
        };
        expect(body.error.type).toBe('invalid_request_error');
        expect(closedByServer).toBe(true);
      });
    },
  );

  it('a body that trickles in slower than the request timeout gets 408 and the connection back', async () => {
    await withProxy({ listen: { requestTimeoutMs: 300 } }, async (proxy) => {
      const { host, hostname, port } = new URL(proxy.url);
      const socket = connect(Number(port), hostname);
      const parts: Buffer[] = [];
      socket.on('data', (d: Buffer) => parts.push(d));
      const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
      socket.write(
        `POST /v1/chat/completions HTTP/1.1\r\nhost: ${host}\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{"mess`,
      );
      await closed; // the server ends it: no sleep on this side
      const response = Buffer.concat(parts).toString('utf8');
      expect(response).toMatch(/^HTTP\/1\.1 408 /);
      expect(response).toContain('"code":"request_timeout"');
    });
  });

  it('connections over SGP_MAX_CONNECTIONS get 503 with Retry-After at once; those under it are served', async () => {
    await withProxy({ listen: { maxConnections: 2 } }, async (proxy) => {
      const { hostname, port } = new URL(proxy.url);
      const held = await Promise.all(
        [0, 1].map(
          () =>
            new Promise<Socket>((resolve) => {
              const s: Socket = connect(Number(port), hostname, () => resolve(s));
            }),
        ),
      );
      try {
        const { response, closedByServer } = await rawExchange(
          proxy.url,
          `GET /livez HTTP/1.1\r\nhost: ${hostname}\r\n\r\n`,
        );
        expect(response).toMatch(/^HTTP\/1\.1 503 /);
        expect(response.toLowerCase()).toContain('retry-after: 1');
        expect(response).toContain('"type":"overloaded_error"');
        expect(closedByServer).toBe(true);
        // One of the held connections is still served normally.
        const first = held[0] as Socket;
        const answer = new Promise<string>((resolve) => first.once('data', (d: Buffer) => resolve(d.toString('utf8'))));
        first.write(`GET /livez HTTP/1.1\r\nhost: ${hostname}\r\n\r\n`);
        expect(await answer).toMatch(/^HTTP\/1\.1 200 /);
      } finally {
        for (const s of held) s.destroy();
      }
    });
  });
});

describe('bounded work per request', () => {
  it('a prompt longer than max_sequence_length × the longest token is refused before it is tokenized', async () => {
    await withProxy({ settings: { maxRequestBytes: 4 * 1024 * 1024 } }, async (proxy) => {
      const response = await postJson(
        `${proxy.url}/v1/chat/completions`,
        chatBody({ messages: [{ role: 'user', content: 'a'.repeat(1_000_000) }] }),
      );
      expect(response.status).toBe(400);
      const { error } = (await response.json()) as { error: { code: string; param: string; message: string } };
      expect(error).toMatchObject({ code: 'context_length_exceeded', param: 'messages' });
      // "characters, at least N tokens": the early path; a tokenized prompt would report its exact token count.
      expect(error.message).toMatch(
        /prompt has 1000\d{3} characters, at least \d+ tokens, more than this model's limit of 4096/,
      );
    });
  });
});

describe('bounded upstream events', () => {
  it('an upstream event over SGP_MAX_UPSTREAM_EVENT_BYTES ends the stream with one error event, and the upstream is released', async () => {
    await withProxy({}, async (proxy) => {
      upstream.setBehaviour((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(sse(completionChunk('fine ')));
        res.write(
          `data: {"id":"c","created":1,"model":"m","choices":[{"index":0,"text":"${'z'.repeat(2 * 1024 * 1024)}`,
        );
        // … and never ends the line: only the bound can end this stream.
      });
      const aborted = upstream.nextAbort();
      const response = await postJson(`${proxy.url}/v1/chat/completions`, chatBody({ stream: true }));
      const events = (await response.text())
        .split('\n\n')
        .filter((e) => e.startsWith('data: '))
        .map((e) => e.slice(6));
      expect(events.at(-1)).toBe('[DONE]');
      const { error } = JSON.parse(events.at(-2) as string) as { error: { code: string; message: string } };
      expect(error.code).toBe('upstream_protocol_error');
      expect(error.message).toMatch(/larger than 1048576 bytes/);
      expect(events.join('')).not.toContain('zzzz');
      await aborted;
    });
    upstream.setBehaviour(streamTokens(['ok']));
  });
});
