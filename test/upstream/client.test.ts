import { afterEach, describe, expect, it, vi } from 'vitest';
import { UpstreamTimeoutError } from '../../src/errors/index.js';
import { UpstreamClient } from '../../src/upstream/index.js';
import { startScriptedUpstream, type ScriptedUpstream } from '../support/scripted-upstream.js';

const TIMEOUT_MS = 150;
const call = () => ({ headers: {}, signal: new AbortController().signal });
let upstream: ScriptedUpstream | undefined;

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
    const body = (await client.postJson('/v1/completions', {}, call())).body;
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
    const body = (await client.postJson('/v1/completions', {}, call())).body;
    let text = new TextDecoder().decode(await body.read());
    // A slow client: many deadlines pass while nobody reads. The timer fires, finds no read waiting.
    await vi.advanceTimersByTimeAsync(TIMEOUT_MS * 10);
    for (let c = await body.read(); c !== undefined; c = await body.read()) text += new TextDecoder().decode(c);
    expect(text).toBe('data: one\n\ndata: two\n\n');
  });
});
