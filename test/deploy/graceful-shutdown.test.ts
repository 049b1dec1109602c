import { mkdtempSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SHUTDOWN_GRACE_MS } from '../../src/cli/run-cli.js';
import { DEMO_SGT_DIR } from '../support/artifacts.js';
import { chatBody, postJson } from '../support/proxy-harness.js';
import {
  completionChunk,
  sse,
  startScriptedUpstream,
  streamThenStall,
  type Behaviour,
  type ScriptedUpstream,
} from '../support/scripted-upstream.js';
import { sseDataEvents } from '../support/streams.js';
import { buildDist, startServe, type ServeProcess } from './serve-process.js';

/**
 * What Kubernetes does to a pod on a rollout or a scale-down: SIGTERM, then SIGKILL after
 * terminationGracePeriodSeconds. The real `sgt-proxy serve` process, a real upstream on loopback
 * whose stream the test holds open, a real client.
 */

let upstream: ScriptedUpstream | undefined;
let serve: ServeProcess | undefined;

beforeAll(buildDist, 60_000);

afterEach(async () => {
  if (serve?.child.exitCode === null && serve.child.signalCode === null) serve.child.kill('SIGKILL');
  await serve?.exited;
  await upstream?.close();
  serve = upstream = undefined;
});

async function startProxyProcess(behaviour: Behaviour): Promise<{ url: string; port: number }> {
  upstream = await startScriptedUpstream(behaviour);
  serve = startServe({
    SGP_HOST: '127.0.0.1',
    SGP_PORT: '0',
    SGP_SGT_PATH: DEMO_SGT_DIR,
    SGP_INFERENCE_SERVICE_HOST: upstream.url,
    SGP_NOISE_SECRET: 'graceful-shutdown-test-secret',
    SGP_CACHE_DIR: mkdtempSync(join(tmpdir(), 'sgp-shutdown-')),
  });
  const listening = await serve.waitForLine((line) => line.msg === 'sgt-proxy listening');
  const url = String(listening.url);
  return { url, port: Number(new URL(url).port) };
}

/** Reads the SSE body until `done(text so far)` holds; returns the text and the reader to go on with. */
async function readUntil(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  done: (text: string) => boolean,
  text = '',
): Promise<string> {
  const decoder = new TextDecoder();
  while (!done(text)) {
    const { value, done: ended } = await reader.read();
    if (ended) return text;
    text += decoder.decode(value, { stream: true });
  }
  return text;
}

function connectionRefused(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

function contentOf(events: string[]): string {
  return events
    .filter((data) => data !== '[DONE]')
    .map((data) => (JSON.parse(data) as { choices: { delta: { content?: string } }[] }).choices[0]?.delta.content ?? '')
    .join('');
}

describe('sgt-proxy serve on SIGTERM', () => {
  it('finishes the in-flight stream with [DONE], refuses new connections, exits 0 once drained', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const { url, port } = await startProxyProcess(async (_request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.write(sse(completionChunk('one ')));
      await released;
      response.write(sse(completionChunk('two ')));
      response.write(sse(completionChunk('three', 'stop')));
      response.end(sse('[DONE]'));
    });
    const answer = await postJson(`${url}/v1/chat/completions`, chatBody({ stream: true }));
    expect(answer.status).toBe(200);
    const reader = answer.body!.getReader();
    let text = await readUntil(reader, (t) => t.includes('one '));

    const signalled = performance.now();
    serve!.child.kill('SIGTERM');
    await serve!.waitForLine((line) => line.msg === 'shutting down' && line.signal === 'SIGTERM');
    expect(await connectionRefused(port)).toBe('ECONNREFUSED');

    release();
    text = await readUntil(reader, () => false, text);
    const events = sseDataEvents(text);
    expect(events.at(-1)).toBe('[DONE]');
    expect(contentOf(events)).toBe('one two three');
    expect(text).not.toMatch(/"error"/);

    const { code, signal } = await serve!.exited;
    const drainedMs = performance.now() - signalled;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    // Done when the last stream is, not when the bound runs out.
    expect(drainedMs).toBeLessThan(SHUTDOWN_GRACE_MS / 2);
    expect(serve!.stderr()).toBe('');
  });

  it(
    'ends a stream that outlasts the bound when the bound runs out, and still exits 0',
    async () => {
      const { url } = await startProxyProcess(streamThenStall('first '));
      const answer = await postJson(`${url}/v1/chat/completions`, chatBody({ stream: true }));
      const reader = answer.body!.getReader();
      const text = await readUntil(reader, (t) => t.includes('first '));

      const signalled = performance.now();
      serve!.child.kill('SIGTERM');
      const [rest, exit] = await Promise.all([
        readUntil(reader, () => false, text).then(
          (t) => ({ ended: 'cleanly', text: t }),
          (err: Error) => ({ ended: 'cut', text: err.message }),
        ),
        serve!.exited,
      ]);
      const elapsedMs = performance.now() - signalled;
      expect(exit).toEqual({ code: 0, signal: null });
      // The connection is closed under the client: no [DONE] on a stream the server did not finish.
      expect(rest.ended === 'cut' || !rest.text.includes('[DONE]')).toBe(true);
      expect(elapsedMs).toBeGreaterThanOrEqual(SHUTDOWN_GRACE_MS - 50);
      // The Deployment's terminationGracePeriodSeconds leaves room after the bound (test/deploy/kubernetes.test.ts).
      expect(elapsedMs).toBeLessThan(SHUTDOWN_GRACE_MS + 5_000);
    },
    SHUTDOWN_GRACE_MS + 30_000,
  );
});
