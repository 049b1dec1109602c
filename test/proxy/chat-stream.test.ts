import { describe, expect, it, vi } from 'vitest';
import { chatStreamBody, type ChatStreamOptions } from '../support/chat-stream.js';
import { completionToChatCompletion, type CompletionChunk, type StreamEnd } from '../../src/stream/index.js';
import { EDGES, throughEdge, type Edge } from '../support/edges.js';
import { bytesOneByOne, bytesSplitAt, collectText, sseDataEvents, streamOf } from '../support/streams.js';

function completionEvent(text: string, finish: string | null = null, index = 0): string {
  const chunk: CompletionChunk = {
    id: 'cmpl-1',
    created: 1,
    model: 'm',
    choices: [{ index, text, finish_reason: finish }],
  };
  return `data: ${JSON.stringify(chunk)}`;
}

/** The proxy's response path as the route runs it, from upstream bytes to client bytes, through `edge`. */
function pipelineThrough(edge: Edge) {
  return (
    upstream: ReadableStream<Uint8Array>,
    includeUsage = false,
    options: Partial<ChatStreamOptions> = {},
  ): Promise<ReadableStream<Uint8Array>> =>
    throughEdge(
      chatStreamBody(upstream, {
        id: 'chatcmpl-x',
        model: 'client-model',
        includeUsage,
        keepAliveIntervalMs: 60_000,
        maxUpstreamEventBytes: 1024 * 1024,
        ...options,
      }),
      edge,
    );
}

function contents(events: string[]): string {
  return events
    .filter((e) => e !== '[DONE]')
    .map((e) => JSON.parse(e) as { choices: { delta: { content?: string } }[] })
    .map((chunk) => chunk.choices[0]?.delta.content ?? '')
    .join('');
}

const EMOJI_TEXT = 'héllo 👋🏽 世界';

describe.each(EDGES)('response pipeline, to the client as a %s', (edge) => {
  const pipeline = pipelineThrough(edge);
  const upstreamBody = [completionEvent(EMOJI_TEXT), completionEvent(' ok', 'stop'), 'data: [DONE]', ''].join('\n\n');

  it('relays text split across chunks at every byte, including inside multi-byte characters', async () => {
    const out = await collectText(await pipeline(streamOf(bytesOneByOne(upstreamBody))));
    const events = sseDataEvents(out);
    expect(contents(events)).toBe(`${EMOJI_TEXT} ok`);
    expect(events.at(-1)).toBe('[DONE]');
  });

  it('handles CRLF line endings with the CR and LF in different chunks', async () => {
    const crlf = upstreamBody.replaceAll('\n', '\r\n');
    const firstCr = crlf.indexOf('\r');
    const bytes = new TextEncoder().encode(crlf.slice(0, firstCr + 1)).length;
    const out = await collectText(await pipeline(streamOf(bytesSplitAt(crlf, [bytes, bytes + 1, bytes + 3]))));
    expect(contents(sseDataEvents(out))).toBe(`${EMOJI_TEXT} ok`);
  });

  it('sends the role first, then content, the finish reason, and [DONE] last', async () => {
    const out = await collectText(await pipeline(streamOf([new TextEncoder().encode(upstreamBody)])));
    const events = sseDataEvents(out);
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    expect(chunks[0].choices[0].delta).toEqual({ role: 'assistant', content: '' });
    expect(chunks[0]).toMatchObject({ id: 'chatcmpl-x', object: 'chat.completion.chunk', model: 'client-model' });
    expect(chunks.at(-1).choices[0].finish_reason).toBe('stop');
    expect(events.at(-1)).toBe('[DONE]');
    expect(out.endsWith('data: [DONE]\n\n')).toBe(true);
  });

  it('relays the usage chunk with choices [] only when the client asked for it', async () => {
    const usage = { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 };
    const body = [
      completionEvent('a', 'stop'),
      `data: ${JSON.stringify({ id: 'c', created: 1, model: 'm', choices: [], usage })}`,
      'data: [DONE]',
      '',
    ].join('\n\n');
    const withUsage = sseDataEvents(
      await collectText(await pipeline(streamOf([new TextEncoder().encode(body)]), true)),
    );
    expect(JSON.parse(withUsage.at(-2)!)).toMatchObject({ choices: [], usage });
    const without = sseDataEvents(await collectText(await pipeline(streamOf([new TextEncoder().encode(body)]), false)));
    expect(without.some((e) => e.includes('"usage"'))).toBe(false);
  });

  it('ends a stream truncated before [DONE] with one error event, then [DONE]', async () => {
    const truncated = [completionEvent('partial'), ''].join('\n\n');
    const events = sseDataEvents(await collectText(await pipeline(streamOf([new TextEncoder().encode(truncated)]))));
    const error = JSON.parse(events.at(-2)!);
    expect(error.error.message).toMatch(/ended before \[DONE\]/);
    expect(error.error.code).toBe('upstream_protocol_error');
    expect(events.at(-1)).toBe('[DONE]');
    expect(events.filter((e) => e.includes('"error"'))).toHaveLength(1);
  });

  it('turns an upstream error event into one error event, never a normal finish', async () => {
    const body = [
      completionEvent('a'),
      `data: ${JSON.stringify({ error: { message: 'engine died', type: 'InternalServerError', code: 500 } })}`,
      'data: [DONE]',
      '',
    ].join('\n\n');
    const events = sseDataEvents(await collectText(await pipeline(streamOf([new TextEncoder().encode(body)]))));
    expect(JSON.parse(events.at(-2)!).error.message).toBe('engine died');
    expect(events.some((e) => e.includes('"finish_reason":"stop"'))).toBe(false);
  });

  it('rejects an event that is not JSON with an error event', async () => {
    const body = ['data: {not json', 'data: [DONE]', ''].join('\n\n');
    const events = sseDataEvents(await collectText(await pipeline(streamOf([new TextEncoder().encode(body)]))));
    expect(JSON.parse(events[0]!).error.code).toBe('upstream_protocol_error');
  });

  it('an upstream body that errors mid-stream ends with an error event', async () => {
    let sent = false;
    const failing = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (!sent) {
          sent = true;
          controller.enqueue(new TextEncoder().encode(`${completionEvent('a')}\n\n`));
        } else {
          controller.error(new Error('socket hang up'));
        }
      },
    });
    const events = sseDataEvents(await collectText(await pipeline(failing)));
    expect(JSON.parse(events.at(-2)!).error.type).toBe('server_error');
    expect(JSON.parse(events.at(-2)!).error.message).not.toMatch(/socket/); // internals stay out of the body
    expect(events.at(-1)).toBe('[DONE]');
  });

  it('what the events before a failing one produced goes out, then the error event', async () => {
    const body = [completionEvent('kept'), 'data: {not json', 'data: [DONE]', ''].join('\n\n');
    const events = sseDataEvents(await collectText(await pipeline(streamOf([new TextEncoder().encode(body)]))));
    expect(contents(events.slice(0, -2))).toBe('kept');
    expect(JSON.parse(events.at(-2)!).error.code).toBe('upstream_protocol_error');
    expect(events.at(-1)).toBe('[DONE]');
  });

  it('an event over the bound ends the stream with one error event and cancels the upstream', async () => {
    const cancelled = vi.fn();
    const source = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(`${completionEvent('a')}\n\n`));
        controller.enqueue(new TextEncoder().encode(`data: ${'x'.repeat(5000)}`));
      },
      cancel: cancelled,
    });
    const events = sseDataEvents(await collectText(await pipeline(source, false, { maxUpstreamEventBytes: 4096 })));
    expect(contents(events.slice(0, -2))).toBe('a');
    expect(JSON.parse(events.at(-2)!).error.message).toMatch(/larger than 4096 bytes/);
    await vi.waitFor(() => expect(cancelled).toHaveBeenCalledOnce());
  });

  it('cancelling before the first token cancels the upstream source', async () => {
    const cancelled = vi.fn();
    const source = new ReadableStream<Uint8Array>({ pull: () => new Promise(() => undefined), cancel: cancelled });
    const body = await pipeline(source, false, { keepAliveIntervalMs: 5 });
    const reader = body.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe(': keep-alive\n\n');
    await reader.cancel(new Error('client went away'));
    await vi.waitFor(() => expect(cancelled).toHaveBeenCalledOnce());
  });

  it('cancelling the client side cancels the upstream source', async () => {
    const cancelled = vi.fn();
    const source = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(`${completionEvent('a')}\n\n`));
      },
      cancel: cancelled,
    });
    const reader = (await pipeline(source)).getReader();
    await reader.read();
    await reader.cancel(new Error('client went away'));
    // pipeTo reacts to a cancelled destination on a later tick, not synchronously.
    await vi.waitFor(() => expect(cancelled).toHaveBeenCalledOnce());
  });

  it.skipIf(edge !== 'web stream')(
    'sends keep-alive comments while waiting for the first token, and stops after it (fake timers)',
    async () => {
      vi.useFakeTimers();
      try {
        let release!: () => void;
        const gate = new Promise<void>((resolve) => (release = resolve));
        const source = new ReadableStream<Uint8Array>({
          async pull(controller) {
            await gate;
            controller.enqueue(new TextEncoder().encode(`${completionEvent('a', 'stop')}\n\ndata: [DONE]\n\n`));
            controller.close();
          },
        });
        const body = await pipeline(source, false, { keepAliveIntervalMs: 1000 });
        const textPromise = collectText(body);
        await vi.advanceTimersByTimeAsync(3500);
        release();
        await vi.advanceTimersByTimeAsync(10_000);
        const text = await textPromise;
        expect(text.match(/^: keep-alive$/gm)).toHaveLength(3);
        expect(text.indexOf(': keep-alive')).toBeLessThan(text.indexOf('data:'));
        expect(text.lastIndexOf(': keep-alive')).toBeLessThan(text.indexOf('data:'));
      } finally {
        vi.useRealTimers();
      }
    },
  );
});

describe.each(EDGES)('stream end reporting, to the client as a %s', (edge) => {
  const pipeline = pipelineThrough(edge);
  function sseOf(
    source: ReadableStream<Uint8Array>,
    onEnd: (end: StreamEnd) => void,
  ): Promise<ReadableStream<Uint8Array>> {
    return pipeline(source, false, { onEnd });
  }
  const bytes = (text: string) => new TextEncoder().encode(text);

  it('reports completed, failed and aborted exactly once each', async () => {
    const ends: StreamEnd[] = [];
    await collectText(
      await sseOf(streamOf([bytes(`${completionEvent('a', 'stop')}\n\ndata: [DONE]\n\n`)]), (e) => ends.push(e)),
    );
    await collectText(await sseOf(streamOf([bytes(`${completionEvent('a')}\n\n`)]), (e) => ends.push(e)));
    const open = new ReadableStream({ start: (c) => c.enqueue(bytes(`${completionEvent('a')}\n\n`)) });
    const reader = (await sseOf(open, (e) => ends.push(e))).getReader();
    await reader.read();
    await reader.cancel();
    await vi.waitFor(() => expect(ends).toHaveLength(3)); // over a socket the server sees the close a little later
    // Chat chunks sent: the role chunk, then the one with 'a'.
    expect(ends.map((e) => [e.outcome, e.chunks])).toEqual([
      ['completed', 2],
      ['failed', 2],
      ['aborted', 2],
    ]);
  });
});

describe('non-stream mapping', () => {
  it('maps a completions body to chat.completion', () => {
    const usage = { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 };
    const chat = completionToChatCompletion(
      { id: 'cmpl', created: 7, model: 'm', choices: [{ index: 0, text: 'hi', finish_reason: 'length' }], usage },
      { id: 'chatcmpl-1', model: 'client' },
    );
    expect(chat).toEqual({
      id: 'chatcmpl-1',
      object: 'chat.completion',
      created: 7,
      model: 'client',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'hi', refusal: null },
          logprobs: null,
          finish_reason: 'length',
        },
      ],
      usage,
    });
  });
});
