import { createParser } from 'eventsource-parser';
import { UpstreamTruncatedError, toApiError, toErrorEnvelope, type ApiError } from '../errors/index.js';
import { sourceOf, type ByteSource } from '../internal/byte-source.js';
import { createEventBound } from './event-bound.js';
import { SSE_DONE, encodeSseComment, sseDataText } from './sse-encoder.js';

/**
 * One upstream event's `data` → the payloads sent to the client for it (often one, sometimes none
 * or two). It is a plain synchronous function: it throws an ApiError to end the stream.
 */
export type EventStage<P = unknown> = (data: string) => readonly P[];

export interface RelayOptions<P = unknown> {
  /** While no payload has been sent, a comment line goes out this often so idle-timeout proxies keep the stream. */
  keepAliveIntervalMs: number;
  /** The bound on one upstream event (SGP_MAX_UPSTREAM_EVENT_BYTES), checked on the bytes. */
  maxEventBytes: number;
  /** Told once how the stream ended, and after how many payloads (for logging). */
  onEnd?: (end: StreamEnd) => void;
  /** How payloads are written and the stream ends; default: chat completions' (`data:` lines, `[DONE]`). */
  dialect?: SseDialect<P>;
}

/**
 * What differs between the SSE APIs the proxy answers: chat completions end with `data: [DONE]`
 * and fail with an error envelope; the Responses API names each event and ends with its own
 * final event.
 */
export interface SseDialect<P = unknown> {
  /** One payload as SSE text. */
  encode(payload: P): string;
  /** The payloads to send once the upstream's `[DONE]` has arrived. */
  done(): readonly P[];
  /** The last payload of a stream that failed. */
  error(error: ApiError): P;
  /** Bytes that end the stream after its last payload, if the dialect has any. */
  terminator?: Uint8Array;
}

/** Chat completions' SSE, as OpenAI and vLLM write it. */
export const CHAT_SSE: SseDialect = {
  encode: sseDataText,
  done: () => [],
  error: toErrorEnvelope,
  terminator: SSE_DONE,
};

export type StreamEnd =
  | { outcome: 'completed'; chunks: number }
  | { outcome: 'failed'; chunks: number; error: ApiError }
  | { outcome: 'aborted'; chunks: number };

const encoder = new TextEncoder();

/**
 * The SSE relay: upstream bytes → client bytes, with the per-event work done by `stage`.
 *
 * Per network read there is one loop iteration: one bound check, one decode, one push into the SSE
 * parser, the stage run on each complete event, and one enqueue of everything it produced. The
 * upstream answer is read as a ByteSource (straight off the socket); the one Web Stream is this
 * one, the client's. `[DONE]` is required, so a truncated answer never looks finished; any failure
 * becomes one error event (and, for chat, `[DONE]`), what vLLM does and what OpenAI SDKs raise as
 * an exception. Cancelling (client disconnect) cancels the upstream body, which closes its connection.
 */
export function relaySse<P = unknown>(
  upstream: ByteSource | ReadableStream<Uint8Array>,
  stage: EventStage<P>,
  options: RelayOptions<P>,
): ReadableStream<Uint8Array> {
  const source = sourceOf(upstream);
  // Sound: chat's dialect encodes any payload, and what its done() and error() make only reaches its own encode.
  const dialect = options.dialect ?? (CHAT_SSE as SseDialect<P>);
  const checkBound = createEventBound(options.maxEventBytes);
  const decoder = new TextDecoder();
  let out = '';
  let sent = 0;
  let done = false;
  const parser = createParser({
    onEvent(event) {
      if (done) return; // vLLM sends nothing after [DONE]; anything that does is ignored, not relayed.
      if (event.data === '[DONE]') {
        done = true;
        add(dialect.done());
        return;
      }
      add(stage(event.data));
    },
  });
  function add(payloads: readonly P[]): void {
    for (const payload of payloads) {
      out += dialect.encode(payload);
      sent += 1;
    }
  }

  let keepAlive: NodeJS.Timeout | undefined;
  let ended = false;
  const end = (result: StreamEnd): void => {
    clearInterval(keepAlive);
    keepAlive = undefined;
    if (ended) return;
    ended = true;
    options.onEnd?.(result);
  };

  /** Reads until the stage produced something or the upstream ended: one pull, one enqueue. */
  async function next(): Promise<'more' | 'end'> {
    while (out === '') {
      const value = await source.read();
      if (value === undefined) {
        parser.feed(decoder.decode());
        if (!done)
          throw new UpstreamTruncatedError('The upstream stream ended before [DONE]: the answer is incomplete.');
        return 'end';
      }
      checkBound(value);
      parser.feed(decoder.decode(value, { stream: true }));
    }
    return 'more';
  }

  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        keepAlive = setInterval(() => controller.enqueue(encodeSseComment('keep-alive')), options.keepAliveIntervalMs);
      },
      async pull(controller) {
        try {
          const state = await next();
          if (out !== '') {
            clearInterval(keepAlive);
            controller.enqueue(encoder.encode(out));
            out = '';
          }
          if (state === 'end') {
            if (dialect.terminator) controller.enqueue(dialect.terminator);
            controller.close();
            end({ outcome: 'completed', chunks: sent });
          }
        } catch (err) {
          if (ended) return; // cancelled while the read waited: nobody is left to tell
          const error = toApiError(err);
          // What the events before the failing one produced was sound: it goes out first.
          controller.enqueue(encoder.encode(out + dialect.encode(dialect.error(error))));
          out = '';
          if (dialect.terminator) controller.enqueue(dialect.terminator);
          controller.close();
          end({ outcome: 'failed', chunks: sent, error });
          // The upstream may still be sending (a bound or protocol error): free its connection.
          void source.cancel(error).catch(() => undefined);
        }
      },
      cancel(reason) {
        end({ outcome: 'aborted', chunks: sent });
        return source.cancel(reason);
      },
    },
    // No read-ahead: the upstream is read only when the client has taken what was sent.
    { highWaterMark: 0 },
  );
}
