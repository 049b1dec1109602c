import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_SGT_DIR } from '../support/artifacts.js';
import { startOtlpReceiver, type OtlpReceiver } from '../support/otlp-receiver.js';
import { chatBody, postJson } from '../support/proxy-harness.js';
import { startScriptedUpstream, type ScriptedUpstream } from '../support/scripted-upstream.js';
import { buildDist, startServe, type ServeProcess } from '../deploy/serve-process.js';
import { gatedStream, readRest, readUntilContent } from './gated-stream.js';
import { sampleValue } from './prometheus-text.js';

/**
 * The real `sgt-proxy serve` process, configured only by its environment (SGP_METRICS_API_KEY,
 * OTEL_EXPORTER_OTLP_ENDPOINT), a real upstream, a real OTLP/HTTP receiver and a real client.
 */

const SCRAPER = { authorization: 'Bearer scraper-key-for-test' };
const gate = gatedStream(['b', 'c']);
let upstream: ScriptedUpstream;
let receiver: OtlpReceiver;
let serve: ServeProcess;
let url: string;

beforeAll(async () => {
  await buildDist();
  upstream = await startScriptedUpstream(gate.behaviour);
  receiver = await startOtlpReceiver();
  serve = startServe({
    SGP_HOST: '127.0.0.1',
    SGP_PORT: '0',
    SGP_SGT_PATH: DEMO_SGT_DIR,
    SGP_INFERENCE_SERVICE_HOST: upstream.url,
    SGP_NOISE_SECRET: 'telemetry-serve-test-secret',
    SGP_CACHE_DIR: mkdtempSync(join(tmpdir(), 'sgp-telemetry-')),
    SGP_METRICS_API_KEY: SCRAPER.authorization.slice('Bearer '.length),
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_SERVICE_NAME: 'sgt-proxy-serve-test',
    OTEL_BSP_SCHEDULE_DELAY: '20',
  });
  url = String((await serve.waitForLine((line) => line.msg === 'sgt-proxy listening')).url);
}, 120_000);

afterAll(async () => {
  if (serve?.child.exitCode === null) serve.child.kill('SIGTERM');
  await serve?.exited;
  await upstream?.close();
  await receiver?.close();
});

async function scrape(): Promise<string> {
  const response = await fetch(`${url}/metrics`, { headers: SCRAPER });
  expect(response.status).toBe(200);
  return response.text();
}

describe('sgt-proxy serve with metrics and tracing on', () => {
  it('scrapes the stream in flight, then its histograms, and exports its trace to the OTLP endpoint', async () => {
    expect((await fetch(`${url}/metrics`)).status).toBe(401);
    const response = await postJson(`${url}/v1/chat/completions`, chatBody({ stream: true }), {
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    });
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    await readUntilContent(reader);

    const during = await scrape();
    expect(sampleValue(during, 'sgp_chat_streams_in_flight')).toBe(1);
    expect(sampleValue(during, 'process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(sampleValue(during, 'nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);

    gate.release();
    await readRest(reader);
    const after = await scrape();
    expect(sampleValue(after, 'sgp_chat_streams_in_flight')).toBe(0);
    expect(sampleValue(after, 'sgp_chat_time_to_first_token_seconds_count')).toBe(1);
    expect(sampleValue(after, 'sgp_chat_inter_token_gap_seconds_count')).toBe(2);
    expect(
      sampleValue(after, 'sgp_http_request_duration_seconds_count', {
        method: 'POST',
        route: '/v1/chat/completions',
        status: '200',
      }),
    ).toBe(1);
    expect(sampleValue(after, 'sgp_chat_completion_tokens_total')).toBe(3);

    const root = await receiver.waitForSpan((s) => s.kind === 2 && s.name === 'chat up-model');
    expect(root.traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(root.parentSpanId).toBe('b7ad6b7169203331');
    expect(root.resource['service.name']).toBe('sgt-proxy-serve-test');
    for (const name of ['sgt.transform', 'text_completion up-model', 'chat.stream']) {
      const child = await receiver.waitForSpan((s) => s.name === name);
      expect(child.parentSpanId).toBe(root.spanId);
    }
    expect(upstream.requests.find((r) => r.path === '/v1/completions')!.headers.traceparent).toMatch(
      /^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$/,
    );
  });
});
