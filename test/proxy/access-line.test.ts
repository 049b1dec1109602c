/** The proxy's one access line per request: a stream's line waits for its end and says how it ended. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSgt, type Sgt } from '../../src/sgt/index.js';
import { IDENTITY_SGT_DIR } from '../support/artifacts.js';
import { captureLogger } from '../support/capture-logger.js';
import { chatBody, startProxy, type ProxyUnderTest } from '../support/proxy-harness.js';
import { startScriptedUpstream, streamTokens, type ScriptedUpstream } from '../support/scripted-upstream.js';
import { collectText } from '../support/streams.js';

let sgt: Sgt;
let upstream: ScriptedUpstream;
let proxy: ProxyUnderTest;
const logs = captureLogger();

beforeAll(async () => {
  sgt = await loadSgt(IDENTITY_SGT_DIR);
  upstream = await startScriptedUpstream(streamTokens(['Hi', ' there']));
  proxy = await startProxy({ sgt, upstreamUrl: upstream.url, logger: logs.logger });
});
afterAll(async () => {
  await proxy?.close();
  await upstream?.close();
  await sgt?.close();
});

const accessLines = (id: string) => logs.lines.filter((l) => l.msg === 'request' && l.request_id === id);

describe('access line of a streamed chat completion', () => {
  it('is written once, after the stream, with its outcome, chunks and time to first token', async () => {
    const response = await fetch(`${proxy.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'stream-line-1' },
      body: JSON.stringify(chatBody({ stream: true })),
    });
    await collectText(response.body!);
    await expect.poll(() => accessLines('stream-line-1')).toHaveLength(1);
    const [line] = accessLines('stream-line-1');
    expect(line).toMatchObject({ method: 'POST', path: '/v1/chat/completions', status: 200, outcome: 'completed' });
    expect(line!.chunks).toBeGreaterThanOrEqual(3); // role, two tokens (and the finish)
    expect(line!.first_token_ms).toBeGreaterThan(0);
    expect(line!.first_token_ms as number).toBeLessThanOrEqual(line!.duration_ms as number);
    expect(logs.lines.some((l) => l.msg === 'stream ended')).toBe(false);
  });
});
