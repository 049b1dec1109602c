/**
 * Property-based fuzzing of the upstream stream reader: the stages the proxy runs on vLLM's SSE
 * (event bound → UTF-8 → SSE parser → completion chunks → chat chunks), fed hostile streams split at
 * random byte boundaries. Whatever arrives, the reader ends in exactly one of two ways: every chunk
 * well-formed (and only if `[DONE]` came), or one ApiError — never a TypeError, never a number
 * relayed as text.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ApiError, InternalError } from '../../src/errors/index.js';
import { collectText, sseDataEvents } from '../support/streams.js';
import { chatStreamBody } from '../support/chat-stream.js';
import type { ChatCompletionChunk } from '../../src/stream/index.js';

const anyJson = fc.jsonValue({ maxDepth: 3 });
const mostly = <T>(plausible: fc.Arbitrary<T>): fc.Arbitrary<unknown> =>
  fc.oneof({ arbitrary: plausible, weight: 8 }, { arbitrary: anyJson, weight: 1 });

const choice = fc.record(
  {
    index: mostly(fc.nat(2)),
    text: mostly(fc.string({ maxLength: 12 })),
    finish_reason: mostly(fc.constantFrom(null, 'stop', 'length')),
  },
  { requiredKeys: [] },
);
const chunk = fc.record(
  {
    id: fc.constant('c'),
    created: fc.constant(1),
    model: fc.constant('m'),
    choices: mostly(fc.array(mostly(choice), { maxLength: 2 })),
    usage: fc.option(
      mostly(fc.record({ prompt_tokens: fc.nat(9), completion_tokens: fc.nat(9), total_tokens: fc.nat(20) })),
    ),
  },
  { requiredKeys: ['choices'] },
);

/** One SSE event as text: mostly a chunk, sometimes an error, junk, a comment or [DONE]. */
const event = fc.oneof(
  { arbitrary: chunk.map((c) => `data: ${JSON.stringify(c)}`), weight: 10 },
  { arbitrary: fc.constant('data: [DONE]'), weight: 2 },
  { arbitrary: fc.string({ maxLength: 30 }).map((s) => `data: ${s}`), weight: 1 },
  { arbitrary: fc.constant('data: {"error": {"message": "boom"}}'), weight: 1 },
  { arbitrary: fc.string({ maxLength: 20 }).map((s) => `: ${s.replace(/[\r\n]/g, '')}`), weight: 1 },
);
const lineEnd = fc.constantFrom('\n', '\r\n', '\r');

const stream = fc
  .tuple(fc.array(fc.tuple(event, lineEnd), { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 8 }))
  .map(([events, cuts]) => {
    const bytes = new TextEncoder().encode(events.map(([e, end]) => `${e}${end}${end}`).join(''));
    const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
    const pieces: Uint8Array[] = [];
    let from = 0;
    for (const point of [...points, bytes.length]) {
      pieces.push(bytes.subarray(from, point));
      from = point;
    }
    return { pieces, done: events.some(([e]) => e === 'data: [DONE]') };
  });

/** The route's own chain; a failure is the error event's ApiError, as the relay reports it. */
async function read(pieces: Uint8Array[]): Promise<{ chunks: ChatCompletionChunk[]; error?: unknown }> {
  const source = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const piece of pieces) controller.enqueue(piece);
      controller.close();
    },
  });
  let error: unknown;
  const out = chatStreamBody(source, {
    id: 'x',
    model: 'm',
    includeUsage: true,
    keepAliveIntervalMs: 60_000,
    maxUpstreamEventBytes: 4096,
    onEnd: (end) => {
      if (end.outcome === 'failed') error = end.error;
    },
  });
  const events = sseDataEvents(await collectText(out.stream));
  expect(events.at(-1)).toBe('[DONE]');
  const payloads = events.slice(0, -1).map((e) => JSON.parse(e) as ChatCompletionChunk & { error?: unknown });
  const chunks = payloads.filter((p) => p.error === undefined);
  // An error event is only ever the last payload.
  expect(payloads.slice(0, -1).every((p) => p.error === undefined)).toBe(true);
  return error === undefined ? { chunks } : { chunks, error };
}

describe('fuzzing the upstream stream reader', () => {
  it('ends either complete (only after [DONE], every delta text a string) or with one ApiError', async () => {
    let completed = 0;
    let failed = 0;
    await fc.assert(
      fc.asyncProperty(stream, async ({ pieces, done }) => {
        const { chunks, error } = await read(pieces);
        if (error === undefined) {
          completed++;
          expect(done).toBe(true);
        } else {
          failed++;
          // A typed error naming what was wrong, never a TypeError behind a generic 500.
          expect(error, String(error)).toBeInstanceOf(ApiError);
          expect(error, String(error)).not.toBeInstanceOf(InternalError);
        }
        for (const c of chunks)
          for (const ch of c.choices)
            if (ch.delta.content !== undefined) expect(typeof ch.delta.content).toBe('string');
      }),
      { numRuns: 2000 },
    );
    // Both endings were reached often enough for the property to mean something.
    expect(completed).toBeGreaterThan(100);
    expect(failed).toBeGreaterThan(100);
  });
});
