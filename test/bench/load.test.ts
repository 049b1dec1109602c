import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLoad } from '../../bench/lib/load.js';
import { streamChat, type ChatTarget } from '../../bench/lib/sse-request.js';
import { startReferenceServer, type RunningServer } from '../../src/reference-server/index.js';
import { fakeSgt } from '../reference-server/helpers.js';
import { captureLogger } from '../support/capture-logger.js';

const body = (maxTokens: number): string =>
  JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], max_tokens: maxTokens, stream: true });

describe('load generator against the paced reference server', () => {
  let server: RunningServer;
  let target: ChatTarget;
  beforeAll(async () => {
    server = await startReferenceServer({
      sgt: fakeSgt({ maxSequenceLength: 4096 }),
      mode: 'paced',
      tokenIntervalMs: 2,
      logger: captureLogger().logger,
      host: '127.0.0.1',
      port: 0,
    });
    target = { port: server.port, path: '/v1/chat/completions', headers: {} };
  });
  afterAll(async () => server.close());

  it('closed loop: fixed concurrency, bounded by duration; every record exact, with TTFT and every gap', async () => {
    const result = await runLoad(
      { kind: 'closed', concurrency: 4, durationMs: 150, maxRequests: 1000, rampMs: 0 },
      { target, body: body(10), maxTokens: 10, timeoutMs: 5_000, requestId: (n) => `closed-${n}` },
    );
    expect(result.records.length).toBeGreaterThanOrEqual(4);
    for (const r of result.records) {
      expect(r.error).toBeNull();
      expect(r.status).toBe(200);
      expect(r.tokens).toMatchObject({ deltas: 10, lost: 0, duplicated: 0 });
      expect(r.gaps).toHaveLength(9);
      expect(r.ttftMs).toBeGreaterThan(0);
      expect(r.e2eMs).toBeGreaterThanOrEqual(r.ttftMs!);
      expect(r.finishReason).toBe('length');
    }
    expect(new Set(result.records.map((r) => r.requestId)).size).toBe(result.records.length);
  });

  it('closed loop: minRequests keeps a step of slow requests going past its duration, up to the hard bound', async () => {
    // Each request takes ~10 tokens × 2 ms; the duration alone would allow about one.
    const result = await runLoad(
      {
        kind: 'closed',
        concurrency: 1,
        durationMs: 1,
        maxRequests: 1000,
        rampMs: 0,
        minRequests: 4,
        hardDurationMs: 10_000,
      },
      { target, body: body(10), maxTokens: 10, timeoutMs: 5_000, requestId: (n) => `min-${n}` },
    );
    expect(result.records).toHaveLength(4);
    const bounded = await runLoad(
      {
        kind: 'closed',
        concurrency: 1,
        durationMs: 1,
        maxRequests: 1000,
        rampMs: 0,
        minRequests: 1000,
        hardDurationMs: 60,
      },
      { target, body: body(10), maxTokens: 10, timeoutMs: 5_000, requestId: (n) => `hard-${n}` },
    );
    expect(bounded.records.length).toBeGreaterThanOrEqual(1);
    expect(bounded.records.length).toBeLessThan(1000);
    expect(bounded.wallMs).toBeLessThan(2_000);
  });

  it('closed loop: maxRequests bounds the count', async () => {
    const result = await runLoad(
      { kind: 'closed', concurrency: 3, durationMs: 60_000, maxRequests: 5, rampMs: 0 },
      { target, body: body(3), maxTokens: 3, timeoutMs: 5_000, requestId: (n) => `count-${n}` },
    );
    expect(result.records).toHaveLength(5);
  });

  it('open loop: Poisson arrivals; an arrival over the in-flight cap is recorded as dropped, never lost silently', async () => {
    const result = await runLoad(
      { kind: 'open', ratePerSecond: 400, durationMs: 200, maxRequests: 1000, maxInFlight: 2, seed: 7 },
      { target, body: body(20), maxTokens: 20, timeoutMs: 5_000, requestId: (n) => `open-${n}` },
    );
    expect(result.dropped).toBeGreaterThan(0);
    const dropped = result.records.filter((r) => r.error?.startsWith('dropped'));
    expect(dropped).toHaveLength(result.dropped);
    expect(result.records.filter((r) => r.error === null).length).toBe(result.records.length - result.dropped);
  });

  it('records an HTTP error with its status and body', async () => {
    const agent = new http.Agent();
    const record = await streamChat({
      target,
      body: JSON.stringify({ messages: [] }),
      maxTokens: 3,
      requestId: 'bad-1',
      timeoutMs: 5_000,
      agent,
    });
    agent.destroy();
    expect(record.status).toBe(400);
    expect(record.error).toMatch(/^HTTP 400: .*messages/);
    expect(record.tokens.lost).toBe(3);
  });
});

/** A server that misbehaves on purpose, chosen by the request id. */
function misbehaving(): Promise<{ server: http.Server; port: number }> {
  const chunk = (content: string, finish: string | null = null): string =>
    `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content }, finish_reason: finish }] })}\n\n`;
  const server = http.createServer((req, res) => {
    const id = String(req.headers['x-request-id']);
    req.resume();
    if (id === 'http-500') {
      res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"message":"boom"}}');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const tokens = [' tok0', ' tok1', ' tok2', ' tok3'];
    if (id === 'drop') tokens.splice(2, 1);
    if (id === 'dup') tokens.splice(2, 0, ' tok1');
    // One write with several events and a split in the middle of an event: the parser must cope.
    const text = tokens.map((t, i) => chunk(t, i === tokens.length - 1 ? 'length' : null)).join('');
    if (id === 'error-event') {
      res.write(chunk(' tok0'));
      res.end(`data: ${JSON.stringify({ error: { message: 'upstream stalled' } })}\n\ndata: [DONE]\n\n`);
      return;
    }
    if (id === 'no-done') {
      res.end(text);
      return;
    }
    if (id === 'reset') {
      res.write(chunk(' tok0'));
      setTimeout(() => res.socket?.destroy(), 5);
      return;
    }
    if (id === 'hang') {
      res.write(chunk(' tok0'));
      return;
    }
    const cut = Math.floor(text.length / 2);
    res.write(text.slice(0, cut));
    setTimeout(() => res.end(`${text.slice(cut)}data: [DONE]\n\n`), 5);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as AddressInfo).port })),
  );
}

describe('streamChat records every failure a gateway can make', () => {
  let server: http.Server;
  let target: ChatTarget;
  const agent = new http.Agent({ keepAlive: true });
  beforeAll(async () => {
    const started = await misbehaving();
    server = started.server;
    target = { port: started.port, path: '/v1/chat/completions', headers: {} };
  });
  afterAll(async () => {
    agent.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const send = (requestId: string, timeoutMs = 5_000) =>
    streamChat({ target, body: '{}', maxTokens: 4, requestId, timeoutMs, agent });

  it.each([
    ['ok', null],
    ['drop', /^tokens: 3\/4 deltas, lost 1/],
    ['dup', /^tokens: 5\/4 deltas, lost 0, duplicated 1/],
    ['error-event', /^error event: upstream stalled/],
    ['no-done', /^stream ended without \[DONE\]/],
    ['http-500', /^HTTP 500: .*boom/],
    ['reset', /^response aborted|^(response|transport): |^stream ended without \[DONE\]/],
  ])('%s', async (id, expected) => {
    const record = await send(id);
    if (expected === null) {
      expect(record.error).toBeNull();
      expect(record.tokens.deltas).toBe(4);
    } else {
      expect(record.error).toMatch(expected);
    }
  });

  it('a stream that stops sending times out, bounded', async () => {
    const started = performance.now();
    const record = await send('hang', 200);
    expect(record.error).toBe('timeout after 200 ms');
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(record.tokens.deltas).toBe(1);
  });
});
