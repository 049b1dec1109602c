import { createServer, get, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import type { DirectBody } from '../../src/http/index.js';
import type { ByteSource } from '../../src/internal/byte-source.js';
import { relaySse } from '../../src/stream/index.js';
import { collectText, sseDataEvents } from '../support/streams.js';

/** An upstream answer as the upstream client hands it out: one chunk per read, counted. */
function countedSource(chunks: readonly string[]): ByteSource & { reads: number; cancel: ReturnType<typeof vi.fn> } {
  const bytes = chunks.map((chunk) => new TextEncoder().encode(chunk));
  const source = {
    reads: 0,
    read: async () => {
      source.reads += 1;
      return bytes.shift();
    },
    cancel: vi.fn(async () => undefined),
  };
  return source;
}

const logger = { error: vi.fn() };
const options = { keepAliveIntervalMs: 60_000, maxEventBytes: 1024, logger };

describe('relaySse over a ByteSource', () => {
  it('to a Web Stream, reads the upstream once per pull: one read, one loop iteration, one enqueue', async () => {
    const source = countedSource(['data: 1\n\ndata: 2\n\n', 'data: 3\n\n', 'data: [DONE]\n\n']);
    const out = relaySse(source, (data) => [{ n: Number(data) }], options);
    const reader = out.stream.getReader();
    const first = await reader.read();
    expect(sseDataEvents(new TextDecoder().decode(first.value))).toEqual(['{"n":1}', '{"n":2}']);
    expect(source.reads).toBe(1);
    let rest = '';
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest += new TextDecoder().decode(r.value);
    expect(sseDataEvents(rest)).toEqual(['{"n":3}', '[DONE]']);
    expect(source.reads).toBe(4); // three chunks and the end
  });

  it('cancels the source when the client goes, and ends as aborted', async () => {
    const source = countedSource(['data: 1\n\n', 'data: 2\n\n']);
    const onEnd = vi.fn();
    const out = relaySse(source, (data) => [data], { ...options, onEnd });
    const reader = out.stream.getReader();
    await reader.read();
    await reader.cancel('gone');
    expect(source.cancel).toHaveBeenCalledWith('gone');
    expect(onEnd).toHaveBeenCalledWith({ outcome: 'aborted', chunks: 1 });
  });

  it('to a Web Stream, answers a reader with two reads waiting: the second is not left hanging', async () => {
    const source = countedSource(['data: 1\n\n', 'data: 2\n\n', 'data: [DONE]\n\n']);
    const reader = relaySse(source, (data) => [data], options).stream.getReader();
    const [first, second] = await Promise.all([reader.read(), reader.read()]);
    expect(sseDataEvents(new TextDecoder().decode(first.value))).toEqual(['"1"']);
    expect(sseDataEvents(new TextDecoder().decode(second.value))).toEqual(['"2"']);
  });

  it('ends with one error event when the source throws at once, before any await', async () => {
    const onEnd = vi.fn();
    const throwing: ByteSource = {
      read: () => {
        throw new Error('broken at once');
      },
      cancel: async () => undefined,
    };
    const events = sseDataEvents(await collectText(relaySse(throwing, (data) => [data], { ...options, onEnd }).stream));
    expect(JSON.parse(events[0]!)).toMatchObject({ error: { type: 'server_error' } });
    expect(events.slice(1)).toEqual(['[DONE]']);
    expect(onEnd).toHaveBeenCalledOnce();
    expect(onEnd.mock.calls[0]![0]).toMatchObject({ outcome: 'failed', chunks: 0 });
  });

  it('ends a source that ended before [DONE] with one error event and [DONE]', async () => {
    const source = countedSource(['data: 1\n\n']);
    const events = sseDataEvents(await collectText(relaySse(source, (data) => [data], options).stream));
    expect(events).toHaveLength(3);
    expect(JSON.parse(events[1]!)).toMatchObject({ error: { message: expect.stringMatching(/before \[DONE\]/) } });
    expect(events[2]).toBe('[DONE]');
  });
});

describe('relaySse to a Node response', () => {
  /** An upstream that never ends: one 64 KiB event per read, counted. */
  function endlessSource(): ByteSource & { reads: number; cancelled: Promise<unknown> } {
    const event = new TextEncoder().encode(`data: ${'x'.repeat(64 * 1024)}\n\n`);
    let cancel!: (reason: unknown) => void;
    const source = {
      reads: 0,
      cancelled: new Promise((resolve) => (cancel = resolve)),
      read: async () => {
        source.reads += 1;
        return event;
      },
      cancel: async (reason?: unknown) => cancel(reason),
    };
    return source;
  }
  const turns = async (n: number) => {
    for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
  };

  /** Serves `body` on a loopback server; `use` gets its URL and the server's response once a client asked. */
  async function serving(body: DirectBody, use: (url: string, response: () => ServerResponse) => Promise<void>) {
    let res: ServerResponse | undefined;
    const server = createServer((_req, r) => {
      res = r;
      r.writeHead(200);
      body.writeTo(r);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      await use(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, () => {
        if (res === undefined) throw new Error('no request has arrived');
        return res;
      });
    } finally {
      server.closeAllConnections();
      server.close();
    }
  }

  it('stops reading the upstream while the client socket is full, resumes on drain, and cancels when it goes', async () => {
    const source = endlessSource();
    const onEnd = vi.fn();
    const body = relaySse(source, (data) => [data], { ...options, maxEventBytes: 1 << 20, onEnd });
    await serving(body, async (url, response) => {
      const client = await new Promise<IncomingMessage>((resolve) => get(url, resolve));
      const res = await vi.waitFor(response);
      client.pause(); // a client that does not read
      await vi.waitFor(() => expect(res.writableNeedDrain).toBe(true), { timeout: 10_000, interval: 5 });
      const whenFull = source.reads;
      await turns(50);
      expect(source.reads).toBeLessThanOrEqual(whenFull + 1); // at most the read already under way
      expect(res.writableLength).toBeLessThan(2 * 64 * 1024 + 16 * 1024); // bounded: the write that filled it, and one more

      client.resume();
      await vi.waitFor(() => expect(source.reads).toBeGreaterThan(whenFull + 10), { timeout: 10_000, interval: 5 });

      client.destroy();
      await source.cancelled;
      await vi.waitFor(() => expect(onEnd).toHaveBeenCalledWith({ outcome: 'aborted', chunks: expect.any(Number) }));
      expect(onEnd).toHaveBeenCalledOnce();
    });
  });
  /** An end report that throws, and the logger that should hear of it. */
  const throwingReport = (errors: (...args: unknown[]) => void) => ({
    logger: { error: errors },
    onEnd: () => {
      throw new Error('telemetry broke');
    },
  });

  // The end report runs inside the upstream socket's event handler: a throw there used to be an
  // uncaught exception, which ends the process and every other stream (vitest fails the run on one).
  it('logs an end report that throws, after the client got the whole stream', async () => {
    const errors = vi.fn();
    const body = relaySse(countedSource(['data: 1\n\n', 'data: [DONE]\n\n']), (data) => [data], {
      ...options,
      ...throwingReport(errors),
    });
    await serving(body, async (url) => {
      const text = await (await fetch(url)).text();
      expect(sseDataEvents(text)).toEqual(['"1"', '[DONE]']);
    });
    expect(errors).toHaveBeenCalledOnce();
    expect(errors.mock.calls[0]![0]).toMatchObject({ err: { message: 'telemetry broke' }, outcome: 'completed' });
  });

  it('still cancels the upstream when the end report of a client that left throws', async () => {
    const source = endlessSource();
    const errors = vi.fn();
    const body = relaySse(source, (data) => [data], { ...options, maxEventBytes: 1 << 20, ...throwingReport(errors) });
    await serving(body, async (url) => {
      const client = await new Promise<IncomingMessage>((resolve) => get(url, resolve));
      await vi.waitFor(() => expect(source.reads).toBeGreaterThan(2), { timeout: 10_000, interval: 5 });
      client.destroy();
      await source.cancelled;
    });
    expect(errors).toHaveBeenCalledOnce();
    expect(errors.mock.calls[0]![0]).toMatchObject({ outcome: 'aborted' });
  });
});
