import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { startReferenceServer } from '../../src/reference-server/index.js';
import { FAKE_MODEL, fakeSgt, oneHotEmbeds, postJson, startHarness, type Harness } from './helpers.js';

// A generation that would run for minutes: only an abort can end these tests in time.
const LONG = { mode: 'paced' as const, tokenIntervalMs: 10, sgt: fakeSgt({ maxSequenceLength: 1_000_000 }) };
const MAX_TOKENS = 100_000;

function streamRequest(signal?: AbortSignal): RequestInit {
  return {
    ...postJson({ model: FAKE_MODEL, prompt_embeds: oneHotEmbeds([0, 1]), max_tokens: MAX_TOKENS, stream: true }),
    signal,
  };
}

/** Reads until `count` token events have arrived, so the generation is known to be running. */
async function readTokens(reader: ReadableStreamDefaultReader<Uint8Array>, count: number): Promise<void> {
  const decoder = new TextDecoder();
  let text = '';
  while ((text.match(/"text_completion"/g) ?? []).length < count) {
    const { value, done } = await reader.read();
    if (done) throw new Error('stream ended early');
    text += decoder.decode(value, { stream: true });
  }
}

describe('reference server: client abort stops generation', () => {
  let h: Harness;
  afterEach(async () => h?.target.close());

  it('in-process: cancelling the response body ends the generation as aborted', async () => {
    h = await startHarness('in-process', LONG);
    const response = await h.target.send('/v1/completions', streamRequest());
    const reader = response.body!.getReader();
    await readTokens(reader, 2);
    await reader.cancel();
    const end = await h.ends.next();
    expect(end).toMatchObject({ outcome: 'aborted', stream: true });
    expect(end.completionTokens).toBeLessThan(MAX_TOKENS);
  });

  it('real server: a client that disconnects mid-stream aborts the generation', async () => {
    h = await startHarness('real server', LONG);
    const client = new AbortController();
    const response = await h.target.send('/v1/completions', {
      ...streamRequest(client.signal),
      headers: { 'content-type': 'application/json', 'x-request-id': 'gone-1' },
    });
    expect(response.status).toBe(200);
    await readTokens(response.body!.getReader(), 3);
    client.abort();
    const end = await h.ends.next();
    expect(end).toMatchObject({ requestId: 'gone-1', outcome: 'aborted', stream: true });
    expect(end.completionTokens).toBeGreaterThanOrEqual(3);
    expect(end.completionTokens).toBeLessThan(MAX_TOKENS);
    // The access-log line is written when the stream ends, and says how.
    await expect
      .poll(() => h.logs.lines.find((l) => l.msg === 'request'))
      .toMatchObject({ request_id: 'gone-1', status: 200, outcome: 'aborted' });
  });

  it('real server: a non-streamed request whose client leaves stops generating', async () => {
    let searched: () => void = () => {};
    const started = new Promise<void>((resolve) => (searched = resolve));
    let searches = 0;
    h = await startHarness('real server', {
      mode: 'echo',
      tokenIntervalMs: 60_000,
      // The first search is the index warm-up at start-up; the second is this request's.
      sgt: fakeSgt({ onSearch: () => ++searches === 2 && searched() }),
    });
    const client = new AbortController();
    const pending = h.target.send('/v1/completions', {
      ...postJson({ prompt_embeds: oneHotEmbeds([0, 1]) }),
      signal: client.signal,
    });
    await started;
    client.abort();
    await expect(pending).rejects.toThrow();
    expect(await h.ends.next()).toMatchObject({ outcome: 'aborted', stream: false });
  });

  it('real server: close() ends open streams, and their generations are aborted', async () => {
    h = await startHarness('real server', LONG);
    const response = await h.target.send('/v1/completions', streamRequest());
    const reader = response.body!.getReader();
    await readTokens(reader, 1);
    await h.target.close();
    expect(await h.ends.next()).toMatchObject({ outcome: 'aborted' });
    await expect(readTokens(reader, MAX_TOKENS)).rejects.toThrow();
  });
});

describe('start-up', () => {
  it('echo mode builds its nearest-neighbour index before listening, so no request pays for it; paced mode does not', async () => {
    for (const [mode, expected] of [
      ['echo', 1],
      ['paced', 0],
    ] as const) {
      let searches = 0;
      const server = await startReferenceServer({
        sgt: fakeSgt({ onSearch: () => searches++ }),
        mode,
        tokenIntervalMs: 0,
        logger: pino({ level: 'silent' }),
        host: '127.0.0.1',
        port: 0,
      });
      try {
        expect(searches, mode).toBe(expected);
      } finally {
        await server.close();
      }
    }
  });
});
