import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SgtOverloadedError, loadSgt, type Sgt } from '../../src/sgt/index.js';
import { IDENTITY_SGT_DIR } from '../support/artifacts.js';
import { chatBody, startProxy, type ProxyUnderTest } from '../support/proxy-harness.js';
import { startScriptedUpstream, streamTokens, type ScriptedUpstream } from '../support/scripted-upstream.js';

/**
 * The queue bound itself is tested in test/sgt (batcher); here, what a client sees of it. The
 * real SGT is wrapped so that its transform reports a full queue on demand.
 */
let sgt: Sgt;
let upstream: ScriptedUpstream;
let proxy: ProxyUnderTest;
let overloaded = false;

beforeAll(async () => {
  sgt = await loadSgt(IDENTITY_SGT_DIR);
  const flaky: Sgt = Object.create(sgt) as Sgt;
  flaky.transform = (ids, options) =>
    overloaded ? Promise.reject(new SgtOverloadedError(256, 256, 3)) : sgt.transform(ids, options);
  upstream = await startScriptedUpstream(streamTokens(['ok']));
  proxy = await startProxy({ sgt: flaky, upstreamUrl: upstream.url });
});

afterAll(async () => {
  await proxy?.close();
  await upstream?.close();
  await sgt?.close();
});

describe('transform queue full', () => {
  it('→ 503 with Retry-After, nothing sent upstream; the next request after it drains succeeds', async () => {
    overloaded = true;
    const response = await proxy.app.request('/v1/chat/completions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(chatBody({ stream: true })),
    });
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('3');
    expect(((await response.json()) as { error: { type: string } }).error.type).toBe('overloaded_error');
    expect(upstream.requests).toHaveLength(0);
    overloaded = false;
    const ok = await proxy.app.request('/v1/chat/completions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(chatBody({ stream: true })),
    });
    expect(ok.status).toBe(200);
    await ok.text();
  });
});
