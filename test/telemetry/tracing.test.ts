import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadSgt, type Sgt } from '../../src/sgt/index.js';
import { IDENTITY_SGT_DIR } from '../support/artifacts.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver.js';
import { chatBody, postJson, startProxy, type ProxyUnderTest } from '../support/proxy-harness.js';
import {
  jsonBody,
  startScriptedUpstream,
  streamTokens,
  completionChunk,
  type ScriptedUpstream,
} from '../support/scripted-upstream.js';

const CLIENT_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CLIENT_SPAN = '00f067aa0ba902b7';
const TRACEPARENT = `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01`;
const CANARY = 'CANARY-prompt-5d1e never in a span';

let sgt: Sgt;
let upstream: ScriptedUpstream;
let receiver: OtlpReceiver;
const proxies: ProxyUnderTest[] = [];

beforeAll(async () => {
  sgt = await loadSgt(IDENTITY_SGT_DIR);
  upstream = await startScriptedUpstream(streamTokens(['Hi', ' there'], { usage: true }));
  receiver = await startOtlpReceiver();
});

afterEach(async () => {
  for (const proxy of proxies.splice(0)) await proxy.close();
  upstream.requests.length = 0;
  receiver.spans.length = 0;
  receiver.bodies.length = 0;
});

afterAll(async () => {
  await receiver.close();
  await upstream.close();
  await sgt?.close();
});

async function tracedProxy(): Promise<ProxyUnderTest> {
  const proxy = await startProxy({
    sgt,
    upstreamUrl: upstream.url,
    // A long delay: the spans arrive because the test flushes, not because time passed.
    tracing: { tracesUrl: `${receiver.url}/v1/traces`, serviceName: 'sgt-proxy-under-test', scheduleDelayMs: 60_000 },
  });
  proxies.push(proxy);
  return proxy;
}

function messages(): Record<string, unknown> {
  return { messages: [{ role: 'user', content: CANARY }] };
}

function childrenOf(root: ReceivedSpan): ReceivedSpan[] {
  return receiver.spans.filter((s) => s.parentSpanId === root.spanId && s.traceId === root.traceId);
}

describe('a trace per chat completion, exported over OTLP/HTTP', () => {
  it('continues the client trace: a server span with GenAI attributes and transform, upstream and stream children', async () => {
    const proxy = await tracedProxy();
    const response = await postJson(
      `${proxy.url}/v1/chat/completions`,
      chatBody({ ...messages(), stream: true, temperature: 0.25, seed: 7, max_tokens: 20 }),
      { traceparent: TRACEPARENT, tracestate: 'vendor=opaque' },
    );
    expect(response.status).toBe(200);
    await response.text();
    await proxy.telemetry.flush();

    const root = await receiver.waitForSpan((s) => s.kind === 2);
    expect(root.traceId).toBe(CLIENT_TRACE);
    expect(root.parentSpanId).toBe(CLIENT_SPAN);
    expect(root.name).toBe('chat up-model');
    expect(root.resource['service.name']).toBe('sgt-proxy-under-test');
    expect(root.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.request.model': 'up-model',
      'gen_ai.request.max_tokens': 20,
      'gen_ai.request.temperature': 0.25,
      'gen_ai.request.seed': 7,
      'gen_ai.usage.output_tokens': 2,
      'gen_ai.response.finish_reasons': ['stop'],
      'http.request.method': 'POST',
      'http.route': '/v1/chat/completions',
      'http.response.status_code': 200,
    });
    expect(root.attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
    expect(String(root.attributes['gen_ai.response.id'])).toMatch(/^chatcmpl-/);

    const children = childrenOf(root);
    expect(children.map((s) => s.name).sort()).toEqual(['chat.stream', 'sgt.transform', 'text_completion up-model']);
    const call = children.find((s) => s.name === 'text_completion up-model')!;
    expect(call.kind).toBe(3);
    expect(call.attributes).toMatchObject({
      'gen_ai.operation.name': 'text_completion',
      'server.address': '127.0.0.1',
      'http.response.status_code': 200,
    });
    const stream = children.find((s) => s.name === 'chat.stream')!;
    expect(stream.attributes).toMatchObject({ 'sgp.stream.outcome': 'completed', 'sgp.stream.token_events': 2 });
    expect(stream.events).toEqual(['first_token']);
    const transform = children.find((s) => s.name === 'sgt.transform')!;
    expect(transform.attributes['sgp.transform.batch_size']).toBe(1);

    // The upstream call's context travelled upstream; the vendor state came along.
    const sent = upstream.requests[0]!.headers;
    expect(sent.traceparent).toBe(`00-${CLIENT_TRACE}-${call.spanId}-01`);
    expect(sent.tracestate).toBe('vendor=opaque');

    // Nothing of the prompt left in the export, nor the answer text.
    expect(receiver.bodies.join('')).not.toContain('CANARY');
    expect(receiver.bodies.join('')).not.toContain('Hi there');
  });

  it('starts a new trace without a traceparent, and marks a failed upstream call as an error', async () => {
    const proxy = await tracedProxy();
    upstream.setBehaviour(jsonBody(500, { error: { message: 'engine died' } }));
    const response = await postJson(`${proxy.url}/v1/chat/completions`, chatBody(messages()));
    expect(response.status).toBe(502);
    await response.text();
    await proxy.telemetry.flush();
    const root = await receiver.waitForSpan((s) => s.kind === 2);
    expect(root.parentSpanId).toBe('');
    expect(root.traceId).not.toBe(CLIENT_TRACE);
    expect(root.status.code).toBe(2);
    expect(root.attributes['http.response.status_code']).toBe(502);
    const call = childrenOf(root).find((s) => s.kind === 3)!;
    expect(call.status.code).toBe(2);
    expect(call.attributes['error.type']).toBe('UpstreamHttpError');
    expect(upstream.requests[0]!.headers.traceparent).toBe(`00-${root.traceId}-${call.spanId}-01`);
    upstream.setBehaviour(streamTokens(['Hi', ' there'], { usage: true }));
  });

  it('names other routes by method and pattern, and leaves probes untraced', async () => {
    const proxy = await tracedProxy();
    upstream.setBehaviour(jsonBody(200, { object: 'list', data: [] }));
    await (await fetch(`${proxy.url}/v1/models`)).text();
    await (await fetch(`${proxy.url}/livez`)).text();
    await (await fetch(`${proxy.url}/metrics`)).text();
    await proxy.telemetry.flush();
    await receiver.waitForSpan((s) => s.name === 'GET /v1/models');
    expect(receiver.spans.map((s) => s.name)).toEqual(['GET /v1/models']);
    upstream.setBehaviour(streamTokens(['Hi', ' there'], { usage: true }));
  });
});

describe('without OTEL_EXPORTER_OTLP_ENDPOINT', () => {
  it('creates no spans, relays a client traceparent unchanged, and sends none of its own', async () => {
    const proxy = await startProxy({ sgt, upstreamUrl: upstream.url });
    proxies.push(proxy);
    upstream.setBehaviour(jsonBody(200, completionChunk('ok', 'stop')));
    await (await postJson(`${proxy.url}/v1/chat/completions`, chatBody(), { traceparent: TRACEPARENT })).text();
    await (await postJson(`${proxy.url}/v1/chat/completions`, chatBody())).text();
    await (await postJson(`${proxy.url}/v1/chat/completions`, chatBody(), { traceparent: 'not-a-traceparent' })).text();
    expect(upstream.requests.map((r) => r.headers.traceparent)).toEqual([TRACEPARENT, undefined, undefined]);
    await proxy.telemetry.flush();
    expect(proxy.telemetry.tracing.enabled).toBe(false);
    upstream.setBehaviour(streamTokens(['Hi', ' there'], { usage: true }));
  });
});
