import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { outputProtectionRegistry } from '../../src/protection/index.js';
import { startReferenceServer, type RunningServer } from '../../src/reference-server/index.js';
import { loadSgt, type Sgt } from '../../src/sgt/index.js';
import { DEMO_SGT_DIR } from '../support/artifacts.js';
import { chatBody, postJson, startProxy, type ProxyUnderTest } from '../support/proxy-harness.js';
import { forwardTo, startScriptedUpstream, type ScriptedUpstream } from '../support/scripted-upstream.js';
import { sseDataEvents } from '../support/streams.js';

/**
 * Issue 3's load check: 200 concurrent protected streams, started in waves 0.6 s apart on the key
 * rotation's clock (injected, so moved rather than waited for) while the proxy's key pair rotates
 * every second; each must decrypt to exactly its own tokens.
 */
const STREAMS = 200;
const TOKENS = 24;

let sgt: Sgt;
let reference: RunningServer;
let tap: ScriptedUpstream;
let proxy: ProxyUnderTest;
let clockMs = 0;

beforeAll(async () => {
  sgt = await loadSgt(DEMO_SGT_DIR);
  reference = await startReferenceServer({
    sgt,
    mode: 'paced',
    tokenIntervalMs: 40,
    outputProtection: 'required',
    logger: pino({ level: 'silent' }),
    host: '127.0.0.1',
    port: 0,
  });
  tap = await startScriptedUpstream(forwardTo(reference.url));
  proxy = await startProxy({
    sgt,
    upstreamUrl: tap.url,
    protection: { decrypt: true, keyRefreshMs: 1000 },
    clock: () => clockMs,
  });
});

afterAll(async () => {
  await proxy?.close();
  await tap?.close();
  await reference?.close();
  await sgt?.close();
});

async function oneStream(): Promise<string> {
  const response = await postJson(
    `${proxy.url}/v1/chat/completions`,
    chatBody({ model: sgt.metadata.baseModel, stream: true, max_tokens: TOKENS }),
  );
  const events = sseDataEvents(await response.text());
  if (events.at(-1) !== '[DONE]' || events.some((e) => e.includes('"error"')))
    throw new Error(`stream failed: ${events.at(-2)}`);
  return events
    .slice(0, -1)
    .map((e) => (JSON.parse(e) as { choices: { delta: { content?: string } }[] }).choices[0]?.delta.content ?? '')
    .join('');
}

describe('output protection under concurrency and key rotation', () => {
  it(`${STREAMS} streams decrypt with zero failures; the registry is empty afterwards`, async () => {
    const expected = Array.from({ length: TOKENS }, (_, i) => ` tok${i}`).join('');
    const waves = 4;
    const results: Promise<string>[] = [];
    for (let wave = 0; wave < waves; wave++) {
      for (let i = 0; i < STREAMS / waves; i++) results.push(oneStream());
      // Once this wave has reached the upstream (so it has its key), the next starts 0.6 s later on
      // the rotation's clock: the third wave gets a new key while the first two still stream under
      // the old one.
      await vi.waitFor(() => expect(tap.requests.length).toBeGreaterThanOrEqual(((wave + 1) * STREAMS) / waves), {
        timeout: 20_000,
      });
      clockMs += 600;
    }
    const settled = await Promise.allSettled(results);
    const failures = settled.filter((r) => r.status === 'rejected' || r.value !== expected);
    expect(failures).toEqual([]);
    const keysUsed = new Set(tap.requests.map((r) => r.headers['x-client-public-key']));
    expect(keysUsed.size).toBe(2); // one rotation, at the third wave, while the first two were streaming
    await vi.waitFor(() => expect(outputProtectionRegistry.size).toBe(0));
  }, 60_000);
});
