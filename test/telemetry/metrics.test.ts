import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadSgt, type Sgt } from '../../src/sgt/index.js';
import { IDENTITY_SGT_DIR } from '../support/artifacts.js';
import { chatBody, postJson, startProxy, type ProxyUnderTest } from '../support/proxy-harness.js';
import {
  completionChunk,
  hang,
  jsonBody,
  protectedStream,
  sse,
  startScriptedUpstream,
  streamThenStall,
  streamTokens,
  type Behaviour,
  type ScriptedUpstream,
} from '../support/scripted-upstream.js';
import { sseDataEvents } from '../support/streams.js';
import { sampleValue } from './prometheus-text.js';
import { gatedStream, readRest, readUntilContent } from './gated-stream.js';
import {
  OUTPUT_PROTECTION_INFO,
  encodeBase64,
  parseClientPublicKey,
  sealText,
  setupBaseS,
} from '../../src/protection/index.js';

let sgt: Sgt;
let upstream: ScriptedUpstream;
const proxies: ProxyUnderTest[] = [];

beforeAll(async () => {
  sgt = await loadSgt(IDENTITY_SGT_DIR);
  upstream = await startScriptedUpstream(streamTokens(['a']));
});

afterEach(async () => {
  for (const proxy of proxies.splice(0)) await proxy.close();
  upstream.requests.length = 0;
});

afterAll(async () => {
  await upstream.close();
  await sgt?.close();
});

async function proxyFor(options: Partial<Parameters<typeof startProxy>[0]> = {}): Promise<ProxyUnderTest> {
  const proxy = await startProxy({ sgt, upstreamUrl: upstream.url, upstreamTimeoutMs: 2000, ...options });
  proxies.push(proxy);
  return proxy;
}

async function scrape(proxy: ProxyUnderTest, headers: Record<string, string> = {}): Promise<string> {
  const response = await fetch(`${proxy.url}/metrics`, { headers });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return response.text();
}

const CHAT_ROUTE = { method: 'POST', route: '/v1/chat/completions' };

describe('GET /metrics during and after a streamed chat completion', () => {
  it('shows the stream in flight while it runs, and the histograms counting once it ended', async () => {
    const proxy = await proxyFor();
    const gate = gatedStream(['b', 'c', 'd']);
    upstream.setBehaviour(gate.behaviour);
    const response = await postJson(`${proxy.url}/v1/chat/completions`, chatBody({ stream: true }));
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    const head = await readUntilContent(reader);

    const during = await scrape(proxy);
    expect(sampleValue(during, 'sgp_chat_streams_in_flight')).toBe(1);
    expect(sampleValue(during, 'sgp_chat_time_to_first_token_seconds_count')).toBe(1);
    expect(sampleValue(during, 'sgp_chat_inter_token_gap_seconds_count')).toBe(0);
    // Counted when the status went out; its duration only once the stream ends.
    expect(sampleValue(during, 'sgp_http_requests_total', { ...CHAT_ROUTE, status: '200' })).toBe(1);
    expect(sampleValue(during, 'sgp_http_request_duration_seconds_count', CHAT_ROUTE)).toBeUndefined();

    gate.release();
    const events = sseDataEvents(head + (await readRest(reader)));
    // The usage chunk was asked for upstream, but this client did not ask: it does not get it.
    expect(events.some((e) => e.includes('"usage"'))).toBe(false);
    expect(events.at(-1)).toBe('[DONE]');

    const after = await scrape(proxy);
    expect(sampleValue(after, 'sgp_chat_streams_in_flight')).toBe(0);
    expect(sampleValue(after, 'sgp_chat_streams_total', { outcome: 'completed' })).toBe(1);
    expect(sampleValue(after, 'sgp_chat_time_to_first_token_seconds_count')).toBe(1);
    expect(sampleValue(after, 'sgp_chat_inter_token_gap_seconds_count')).toBe(3);
    expect(sampleValue(after, 'sgp_http_request_duration_seconds_count', { ...CHAT_ROUTE, status: '200' })).toBe(1);
    expect(sampleValue(after, 'sgp_chat_completion_tokens_total')).toBe(4);
    expect(sampleValue(after, 'sgp_chat_prompt_tokens_total')).toBeGreaterThan(0);
    expect(sampleValue(after, 'sgp_transform_duration_seconds_count')).toBe(1);
    expect(sampleValue(after, 'sgp_transform_queue_wait_seconds_count')).toBe(1);
    expect(sampleValue(after, 'sgp_transform_batch_size_count')).toBe(1);
    expect(sampleValue(after, 'sgp_transform_batch_size_bucket', { le: '1' })).toBe(1);
    expect(sampleValue(after, 'sgp_transform_queue_depth')).toBe(0);
    // The gap histogram's sum is bounded by the time the stream was held open.
    expect(sampleValue(after, 'sgp_chat_inter_token_gap_seconds_sum')).toBeGreaterThanOrEqual(0);
  });

  it('counts a stream the client abandons as aborted, and takes it out of flight', async () => {
    const proxy = await proxyFor();
    const gate = gatedStream(['never']);
    upstream.setBehaviour(gate.behaviour);
    const abort = new AbortController();
    const response = await postJson(`${proxy.url}/v1/chat/completions`, chatBody({ stream: true }), {}, abort.signal);
    const reader = response.body!.getReader();
    await readUntilContent(reader);
    const upstreamGone = upstream.nextAbort();
    abort.abort();
    await upstreamGone;
    gate.release();
    let text = await scrape(proxy);
    // The relay's cancel runs when Node notices the closed socket: wait for it on the metric itself.
    while (sampleValue(text, 'sgp_chat_streams_in_flight') !== 0) text = await scrape(proxy);
    expect(sampleValue(text, 'sgp_chat_streams_total', { outcome: 'aborted' })).toBe(1);
  });
});

describe('labels stay bounded', () => {
  it('names routes by pattern, unknown paths "unmatched", and never carries a request id', async () => {
    const proxy = await proxyFor();
    upstream.setBehaviour(streamTokens(['x']));
    const requestId = 'req-id-that-must-not-be-a-label-4711';
    await (
      await postJson(`${proxy.url}/v1/chat/completions`, chatBody({ stream: true }), { 'x-request-id': requestId })
    ).text();
    await (await fetch(`${proxy.url}/v1/secret-looking-path-123`)).text();
    await (await fetch(`${proxy.url}/livez`, { method: 'PROPFIND' })).text();
    const text = await scrape(proxy);
    expect(text).not.toContain(requestId);
    expect(text).not.toContain('secret-looking-path');
    expect(text).not.toContain('Hello there'); // the prompt of chatBody()
    expect(sampleValue(text, 'sgp_http_requests_total', { method: 'GET', route: 'unmatched', status: '404' })).toBe(1);
    expect(sampleValue(text, 'sgp_http_requests_total', { method: '_OTHER', route: 'unmatched' })).toBe(1);
    expect(sampleValue(text, 'sgp_http_requests_total', { ...CHAT_ROUTE, status: '200' })).toBe(1);
  });
});

async function closedPort(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

describe('sgp_upstream_failures_total', () => {
  const cases: { name: string; failure: string; behaviour: Behaviour; stream: boolean }[] = [
    { name: 'an upstream 4xx', failure: '4xx', behaviour: jsonBody(400, { error: { message: 'no' } }), stream: false },
    { name: 'an upstream 500', failure: '5xx', behaviour: jsonBody(500, { error: { message: 'oops' } }), stream: true },
    { name: 'no answer in time', failure: 'timeout', behaviour: hang, stream: true },
    {
      name: 'a stream that stalls after its first token',
      failure: 'timeout',
      behaviour: streamThenStall('a'),
      stream: true,
    },
    {
      name: 'a stream without [DONE]',
      failure: 'truncated',
      behaviour: (_request, response) => {
        response.writeHead(200, { 'content-type': 'text/event-stream' });
        response.end(sse(completionChunk('cut')));
      },
      stream: true,
    },
    {
      name: 'a connection broken mid-body',
      failure: 'truncated',
      behaviour: (_request, response) => {
        response.writeHead(200, { 'content-type': 'text/event-stream' });
        response.write(sse(completionChunk('cut')), () => response.destroy());
      },
      stream: true,
    },
    {
      name: 'a body that is not JSON',
      failure: 'invalid',
      behaviour: (_request, response) => {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end('<html>');
      },
      stream: false,
    },
  ];

  for (const { name, failure, behaviour, stream } of cases) {
    it(`counts ${name} as ${failure}`, async () => {
      const proxy = await proxyFor({ upstreamTimeoutMs: 300 });
      upstream.setBehaviour(behaviour);
      await (await postJson(`${proxy.url}/v1/chat/completions`, chatBody({ stream }))).text();
      const text = await scrape(proxy);
      const origin = new URL(upstream.url).origin;
      expect(sampleValue(text, 'sgp_upstream_failures_total', { upstream: origin, class: failure })).toBe(1);
      const total = ['refused', 'timeout', '4xx', '5xx', 'truncated', 'invalid']
        .map((c) => sampleValue(text, 'sgp_upstream_failures_total', { class: c }) ?? 0)
        .reduce((a, b) => a + b);
      expect(total).toBe(1);
    });
  }

  it('counts an upstream that refuses the connection as refused', async () => {
    const proxy = await proxyFor({ upstreamUrl: await closedPort() });
    const response = await postJson(`${proxy.url}/v1/chat/completions`, chatBody());
    expect(response.status).toBe(502);
    const text = await scrape(proxy);
    expect(sampleValue(text, 'sgp_upstream_failures_total', { class: 'refused' })).toBe(1);
  });

  it('does not blame the upstream for a client that leaves', async () => {
    const proxy = await proxyFor();
    upstream.setBehaviour(hang);
    const abort = new AbortController();
    const sent = postJson(`${proxy.url}/v1/chat/completions`, chatBody(), {}, abort.signal).catch(() => undefined);
    const upstreamGone = upstream.nextAbort();
    while (upstream.requests.length === 0) await new Promise((resolve) => setImmediate(resolve));
    abort.abort();
    await sent;
    await upstreamGone;
    const text = await scrape(proxy);
    const total = ['refused', 'timeout', '4xx', '5xx', 'truncated', 'invalid']
      .map((c) => sampleValue(text, 'sgp_upstream_failures_total', { class: c }) ?? 0)
      .reduce((a, b) => a + b);
    expect(total).toBe(0);
  });
});

describe('output-protection events', () => {
  it('counts a ciphertext that does not open in a stream', async () => {
    const proxy = await proxyFor({ protection: { decrypt: true } });
    upstream.setBehaviour(protectedStream(['a', 'b', 'c'], { tamperAt: 1 }));
    const events = sseDataEvents(
      await (await postJson(`${proxy.url}/v1/chat/completions`, chatBody({ stream: true }))).text(),
    );
    expect(events.at(-2)).toContain('output_decryption_failed');
    const text = await scrape(proxy);
    expect(sampleValue(text, 'sgp_output_decryption_failures_total')).toBe(1);
    expect(sampleValue(text, 'sgp_chat_streams_total', { outcome: 'failed' })).toBe(1);
    expect(sampleValue(text, 'sgp_upstream_failures_total', { class: 'invalid' })).toBe(0);
  });

  it('counts a ciphertext that does not open in a whole answer', async () => {
    const proxy = await proxyFor({ protection: { decrypt: true } });
    upstream.setBehaviour((request, response) => {
      const clientKey = parseClientPublicKey(request.headers['x-client-public-key'] as string, 'x-client-public-key');
      const { enc, context } = setupBaseS(clientKey, OUTPUT_PROTECTION_INFO);
      const sealed = Buffer.from(sealText(context, 0, 'answer'), 'base64');
      sealed[0]! ^= 1;
      response.writeHead(200, { 'content-type': 'application/json', 'x-server-public-key': encodeBase64(enc) });
      response.end(JSON.stringify(completionChunk(sealed.toString('base64'), 'stop')));
    });
    const response = await postJson(`${proxy.url}/v1/chat/completions`, chatBody());
    expect(response.status).toBe(502);
    expect(sampleValue(await scrape(proxy), 'sgp_output_decryption_failures_total')).toBe(1);
  });

  it('counts key rotations as the clock passes the refresh period', async () => {
    let now = 0;
    const proxy = await proxyFor({ protection: { decrypt: true, keyRefreshMs: 1000 }, clock: () => now });
    upstream.setBehaviour(protectedStream(['a']));
    const chat = async (): Promise<void> => {
      await (await postJson(`${proxy.url}/v1/chat/completions`, chatBody({ stream: true }))).text();
    };
    await chat();
    expect(sampleValue(await scrape(proxy), 'sgp_output_key_rotations_total')).toBe(0);
    now = 1500;
    await chat();
    await chat(); // same period: same key
    now = 3000;
    await chat();
    expect(sampleValue(await scrape(proxy), 'sgp_output_key_rotations_total')).toBe(2);
  });
});

describe('who may scrape', () => {
  it('needs SGP_API_KEY when it is set', async () => {
    const proxy = await proxyFor({ settings: { apiKey: 'client-key' } });
    expect((await fetch(`${proxy.url}/metrics`)).status).toBe(401);
    await scrape(proxy, { authorization: 'Bearer client-key' });
  });

  it('needs SGP_METRICS_API_KEY instead when that is set', async () => {
    const proxy = await proxyFor({ settings: { apiKey: 'client-key', metricsApiKey: 'scraper-key' } });
    expect((await fetch(`${proxy.url}/metrics`, { headers: { authorization: 'Bearer client-key' } })).status).toBe(401);
    await scrape(proxy, { authorization: 'Bearer scraper-key' });
  });

  it('is open when no key is configured', async () => {
    const proxy = await proxyFor();
    const text = await scrape(proxy);
    // Process metrics are `serve`'s (test/telemetry/serve.test.ts); a harness proxy has only its own.
    expect(text).not.toContain('process_cpu_seconds_total');
  });
});
