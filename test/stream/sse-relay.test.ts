import { describe, expect, it, vi } from 'vitest';
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

const options = { keepAliveIntervalMs: 60_000, maxEventBytes: 1024 };

describe('relaySse over a ByteSource', () => {
  it('reads the upstream once per chunk: one read, one loop iteration, one enqueue', async () => {
    const source = countedSource(['data: 1\n\ndata: 2\n\n', 'data: 3\n\n', 'data: [DONE]\n\n']);
    const out = relaySse(source, (data) => [{ n: Number(data) }], options);
    const reader = out.getReader();
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
    const reader = out.getReader();
    await reader.read();
    await reader.cancel('gone');
    expect(source.cancel).toHaveBeenCalledWith('gone');
    expect(onEnd).toHaveBeenCalledWith({ outcome: 'aborted', chunks: 1 });
  });

  it('ends a source that ended before [DONE] with one error event and [DONE]', async () => {
    const source = countedSource(['data: 1\n\n']);
    const events = sseDataEvents(await collectText(relaySse(source, (data) => [data], options)));
    expect(events).toHaveLength(3);
    expect(JSON.parse(events[1]!)).toMatchObject({ error: { message: expect.stringMatching(/before \[DONE\]/) } });
    expect(events[2]).toBe('[DONE]');
  });
});
