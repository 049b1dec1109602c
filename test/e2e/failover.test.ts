import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { startReferenceServer, type RunningServer } from '../../src/reference-server/index.js';
import { loadSgt, type Sgt } from '../../src/sgt/index.js';
import { DEMO_SGT_DIR } from '../support/artifacts.js';
import { ManualSchedule } from '../support/manual-schedule.js';
import { chatBody, postJson, startProxy, type ProxyUnderTest } from '../support/proxy-harness.js';
import {
  completionChunk,
  sse,
  startScriptedUpstream,
  streamTokens,
  type ScriptedUpstream,
} from '../support/scripted-upstream.js';
import { sseDataEvents } from '../support/streams.js';

/**
 * Issue 13's failover check: the proxy (real ONNX transform) over two real reference servers, one
 * of them killed mid-run and started again; and the proxy's edges of the pool with scripted upstreams.
 */

const TOKEN_MS = 20;
const silent = pino({ level: 'silent' });
let sgt: Sgt;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  sgt = await loadSgt(DEMO_SGT_DIR);
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(() => sgt?.close());

async function reference(port = 0): Promise<RunningServer> {
  const server = await startReferenceServer({
    sgt,
    mode: 'paced', // " tok0 tok1 …", one token every TOKEN_MS
    tokenIntervalMs: TOKEN_MS,
    logger: silent,
    host: '127.0.0.1',
    port,
  });
  cleanups.push(() => server.close());
  return server;
}

async function scripted(...args: Parameters<typeof startScriptedUpstream>): Promise<ScriptedUpstream> {
  const upstream = await startScriptedUpstream(...args);
  cleanups.push(() => upstream.close());
  return upstream;
}

async function proxyOver(urls: string[], schedule = new ManualSchedule()): Promise<ProxyUnderTest> {
  const proxy = await startProxy({ sgt, upstreamUrl: urls, healthChecks: { schedule: schedule.schedule } });
  cleanups.push(() => proxy.close());
  await proxy.upstream.readiness(); // the first round of probes has answered
  return proxy;
}

const chat = (proxy: ProxyUnderTest, body: Record<string, unknown>) =>
  postJson(`${proxy.url}/v1/chat/completions`, chatBody({ model: sgt.metadata.baseModel, ...body }));
const inFlight = (proxy: ProxyUnderTest) => proxy.upstream.upstreamStates().map((s) => s.inFlight);
const requestsTo = (proxy: ProxyUnderTest) => proxy.upstream.upstreamStates().map((s) => s.requests);

/** Which upstream took the request that just went out: the one whose in-flight count rose. */
async function placed(proxy: ProxyUnderTest, before: number[], send: () => Promise<unknown>): Promise<number> {
  await send();
  let index = -1;
  await vi.waitFor(() => {
    index = inFlight(proxy).findIndex((count, i) => count > before[i]!);
    expect(index).toBeGreaterThanOrEqual(0);
  });
  return index;
}

interface OpenStream {
  /** The rest of the stream, read to its end: every `data:` payload. */
  finish(): Promise<string[]>;
}

/** A streamed chat whose first token has reached the client. */
async function streamStarted(proxy: ProxyUnderTest, maxTokens: number): Promise<OpenStream> {
  const response = await chat(proxy, { stream: true, max_tokens: maxTokens });
  expect(response.status).toBe(200);
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  const readMore = async (): Promise<boolean> => {
    const { value, done } = await reader.read();
    if (!done) text += decoder.decode(value, { stream: true });
    return !done;
  };
  while (!text.includes('tok0') && (await readMore()));
  return {
    finish: async () => {
      while (await readMore());
      return sseDataEvents(text);
    },
  };
}

const tokensOf = (events: string[]) =>
  events
    .filter((e) => e !== '[DONE]' && !e.includes('"error"'))
    .map((e) => (JSON.parse(e) as { choices: { delta: { content?: string } }[] }).choices[0]?.delta.content ?? '')
    .join('')
    .match(/tok\d+/g) ?? [];

describe('failover between two reference servers', () => {
  it('killing one mid-run loses no request that had not started streaming; its streams end with an error event', async () => {
    const a = await reference();
    const b = await reference();
    const schedule = new ManualSchedule();
    const proxy = await proxyOver([a.url, b.url], schedule);

    // Four streams, one after the other, then two plain answers: balanced by in-flight count.
    const placements: number[] = [];
    const streams: OpenStream[] = [];
    for (let i = 0; i < 4; i++) {
      placements.push(await placed(proxy, inFlight(proxy), async () => streams.push(await streamStarted(proxy, 150))));
    }
    const answers: Promise<Response>[] = [];
    for (let i = 0; i < 2; i++) {
      // 100 tokens at 20 ms: the killed server is still generating when it dies, no header sent yet.
      placements.push(await placed(proxy, inFlight(proxy), async () => answers.push(chat(proxy, { max_tokens: 100 }))));
    }
    expect(placements).toEqual([0, 1, 0, 1, 0, 1]);
    expect(inFlight(proxy)).toEqual([3, 3]);

    await a.close(); // every connection destroyed, mid-stream and mid-answer

    const ended = await Promise.all(streams.map((s) => s.finish()));
    ended.forEach((events, i) => {
      expect(events.at(-1)).toBe('[DONE]');
      if (placements[i] === 0) {
        // Never silently: an error event, no finish_reason, the tokens cut short.
        const error = JSON.parse(events.at(-2)!) as { error: { code: string } };
        expect(error.error.code).toBe('upstream_unavailable');
        expect(events.join('\n')).not.toContain('"finish_reason":"length"');
        expect(tokensOf(events).length).toBeLessThan(150);
      } else {
        expect(events.some((e) => e.includes('"error"'))).toBe(false);
        expect(tokensOf(events)).toHaveLength(150);
      }
    });
    for (const answer of await Promise.all(answers)) {
      expect(answer.status).toBe(200);
      const body = (await answer.json()) as { choices: { message: { content: string } }[] };
      expect(body.choices[0]!.message.content.match(/tok\d+/g)).toHaveLength(100);
    }
    // The plain answer that was on the dead server was retried, on the other, which took it out.
    expect(proxy.upstream.upstreamStates()).toMatchObject([
      { url: a.url, healthy: false, inFlight: 0, failures: 1 },
      { url: b.url, healthy: true, inFlight: 0, failures: 0 },
    ]);

    // New requests go to the one left.
    const before = requestsTo(proxy);
    for (let i = 0; i < 3; i++) expect((await chat(proxy, { max_tokens: 2 })).status).toBe(200);
    expect(requestsTo(proxy)).toEqual([before[0], before[1]! + 3]);
    const ready = await fetch(`${proxy.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({
      status: 'ready',
      sgt: 'loaded',
      upstream: 'reachable',
      upstreams: [
        { url: a.url, state: 'out', in_flight: 0 },
        { url: b.url, state: 'healthy', in_flight: 0 },
      ],
    });

    // Back on the same port: the next probe puts it back in, and it takes requests again.
    await reference(a.port);
    await schedule.fire();
    expect(proxy.upstream.upstreamStates().map((s) => s.healthy)).toEqual([true, true]);
    const back = requestsTo(proxy);
    for (let i = 0; i < 2; i++) expect((await chat(proxy, { max_tokens: 2 })).status).toBe(200);
    expect(requestsTo(proxy)[0]).toBe(back[0]! + 1);
  });
});

describe('the proxy over several upstreams', () => {
  it('a stream that broke after its first byte ends with an error event and is not retried', async () => {
    const breaking = await scripted((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.write(sse(completionChunk('partial')), () => response.destroy());
    });
    const other = await scripted(streamTokens(['never']));
    const proxy = await proxyOver([breaking.url, other.url]);
    const events = sseDataEvents(await (await chat(proxy, { stream: true })).text());
    expect(events.join('\n')).toContain('partial');
    expect(JSON.parse(events.at(-2)!)).toMatchObject({ error: { code: 'upstream_unavailable' } });
    expect(events.at(-1)).toBe('[DONE]');
    expect(other.requests.filter((r) => r.path === '/v1/completions')).toHaveLength(0);
  });

  it('a plain answer that broke after its headers is a 502, not a retry', async () => {
    const breaking = await scripted((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.write('{"id":"cmpl', () => response.destroy());
    });
    const other = await scripted(streamTokens(['never']));
    const proxy = await proxyOver([breaking.url, other.url]);
    const response = await chat(proxy, {});
    expect(response.status).toBe(502);
    expect(other.requests.filter((r) => r.path === '/v1/completions')).toHaveLength(0);
  });

  it('/readyz is 503 once every upstream is out, and names each by its URL alone', async () => {
    const gone = await startScriptedUpstream(streamTokens([]));
    await gone.close();
    const proxy = await proxyOver([`${gone.url}/base`, 'http://127.0.0.1:1']);
    const ready = await fetch(`${proxy.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({
      status: 'not ready',
      sgt: 'loaded',
      upstream: 'unreachable',
      upstreams: [
        { url: `${gone.url}/base`, state: 'out', in_flight: 0 },
        { url: 'http://127.0.0.1:1', state: 'out', in_flight: 0 },
      ],
    });
    // Still tried, and answered at once with the envelope.
    const answer = await chat(proxy, {});
    expect(answer.status).toBe(502);
    expect(await answer.json()).toMatchObject({ error: { code: 'upstream_unavailable', type: 'upstream_error' } });
  });
});
