import type { ServerResponse } from 'node:http';
import { createParser } from 'eventsource-parser';
import {
  ClientClosedError,
  UpstreamTruncatedError,
  toApiError,
  toErrorEnvelope,
  type ApiError,
} from '../errors/index.js';
import type { DirectBody } from '../http/index.js';
import type { Logger } from '../logging/index.js';
import { flowFrom, sourceOf, type ByteSource } from '../internal/byte-source.js';
import { createEventBound } from './event-bound.js';
import { SSE_DONE_TEXT, sseCommentText, sseDataText } from './sse-encoder.js';

/**
 * One upstream event's `data` → the payloads sent to the client for it (often one, sometimes none
 * or two). It is a plain synchronous function: it throws an ApiError to end the stream.
 */
export type EventStage<P = unknown> = (data: string) => readonly P[];

export type RelayOptions<P = unknown> = RelaySettings<P> & EndReport;

interface RelaySettings<P> {
  /** While no payload has been sent, a comment line goes out this often so idle-timeout proxies keep the stream. */
  keepAliveIntervalMs: number;
  /** The bound on one upstream event (SGP_MAX_UPSTREAM_EVENT_BYTES), checked on the bytes. */
  maxEventBytes: number;
  /** How payloads are written and the stream ends; default: chat completions' (`data:` lines, `[DONE]`). */
  dialect?: SseDialect<P>;
}

/**
 * `onEnd` is told once how the stream ended, and after how many payloads (for logging). It runs
 * inside a socket's event handler, where a throw would take the whole process down with every
 * other stream: a throw is caught and logged on `logger` instead (the stream is over by then).
 */
export type EndReport =
  | { onEnd?: undefined; logger?: Pick<Logger, 'error'> }
  | { onEnd: (end: StreamEnd) => void; logger: Pick<Logger, 'error'> };

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
  /** Text that ends the stream after its last payload, if the dialect has any. */
  terminator?: string;
}

/** Chat completions' SSE, as OpenAI and vLLM write it. */
export const CHAT_SSE: SseDialect = {
  encode: sseDataText,
  done: () => [],
  error: toErrorEnvelope,
  terminator: SSE_DONE_TEXT,
};

export type StreamEnd =
  | { outcome: 'completed'; chunks: number }
  | { outcome: 'failed'; chunks: number; error: ApiError }
  | { outcome: 'aborted'; chunks: number };

const encoder = new TextEncoder();
const KEEP_ALIVE = sseCommentText('keep-alive');

/**
 * The SSE relay: upstream bytes → client bytes, with the per-event work done by `stage`.
 *
 * Per network read there is one call, in the turn of the read: one bound check, one decode, one
 * push into the SSE parser, the stage run on each complete event, and one write of everything it
 * produced. The upstream answer is pushed from the socket (`ByteSource.flow`); the client's edge is
 * either Node's response (`writeTo`, the proxy's server: no promise per token) or a Web Stream
 * (`stream`, anyone else). `[DONE]` is required, so a truncated answer never looks finished; any
 * failure becomes one error event (and, for chat, `[DONE]`), what vLLM does and what OpenAI SDKs
 * raise as an exception. The client going away cancels the upstream body, which closes its connection.
 */
export function relaySse<P = unknown>(
  upstream: ByteSource | ReadableStream<Uint8Array>,
  stage: EventStage<P>,
  options: RelayOptions<P>,
): DirectBody {
  const source = sourceOf(upstream);
  let started = false;
  const start = (output: RelayOutput): RelayRun => {
    // Sound only once: the edges share one upstream, and directResponse hands out one of them.
    if (started) throw new Error('relaySse: the body was started on both edges');
    started = true;
    return runRelay(source, stage, options, output);
  };
  return { stream: webEdge(start, source, options), writeTo: (res) => nodeEdge(start, res) };
}

function reportEnd(report: EndReport, end: StreamEnd): void {
  try {
    report.onEnd?.(end);
  } catch (err) {
    report.logger?.error({ err, outcome: end.outcome }, 'reporting the end of a stream failed');
  }
}

/** Where the relay writes its SSE text: one of the two edges. */
interface RelayOutput {
  /** False when the client's buffer is full: the upstream is paused until the edge calls `resume`. */
  write(text: string): boolean;
  end(): void;
}

interface RelayRun {
  resume(): void;
  /** The client went away: reported as aborted (once), and the upstream is cancelled. */
  cancel(reason?: unknown): Promise<void>;
}

function runRelay<P>(
  source: ByteSource,
  stage: EventStage<P>,
  options: RelayOptions<P>,
  output: RelayOutput,
): RelayRun {
  // Sound: chat's dialect encodes any payload, and what its done() and error() make only reaches its own encode.
  const dialect = options.dialect ?? (CHAT_SSE as SseDialect<P>);
  const terminator = dialect.terminator ?? '';
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

  const keepAlive = setInterval(() => output.write(KEEP_ALIVE), options.keepAliveIntervalMs);
  let ended = false;
  const end = (result: StreamEnd): void => {
    clearInterval(keepAlive);
    if (ended) return;
    ended = true;
    reportEnd(options, result);
  };
  /** Writes what is left and closes: a failed stream, or a completed one. */
  const close = (last: string): void => {
    const text = out + last + terminator;
    out = '';
    if (text !== '') output.write(text);
    output.end();
  };
  const fail = (err: unknown): void => {
    if (ended) return; // cancelled while the read waited: nobody is left to tell
    const error = toApiError(err);
    // What the events before the failing one produced was sound: it goes out first.
    close(dialect.encode(dialect.error(error)));
    end({ outcome: 'failed', chunks: sent, error });
    // The upstream may still be sending (a bound or protocol error): free its connection.
    void flow.cancel(error).catch(() => undefined);
  };

  const flow = flowFrom(source, {
    data(chunk) {
      if (ended) return;
      try {
        checkBound(chunk);
        parser.feed(decoder.decode(chunk, { stream: true }));
      } catch (err) {
        return fail(err);
      }
      if (out === '') return;
      clearInterval(keepAlive);
      const text = out;
      out = '';
      if (!output.write(text)) flow.pause();
    },
    end() {
      if (ended) return;
      try {
        parser.feed(decoder.decode());
        if (!done)
          throw new UpstreamTruncatedError('The upstream stream ended before [DONE]: the answer is incomplete.');
      } catch (err) {
        return fail(err);
      }
      close('');
      end({ outcome: 'completed', chunks: sent });
    },
    error: fail,
  });

  return {
    resume: () => {
      if (!ended) flow.resume();
    },
    cancel: (reason) => {
      end({ outcome: 'aborted', chunks: sent });
      return flow.cancel(reason);
    },
  };
}

/** The Web Stream edge: started by the first pull, one upstream read per pull (no read-ahead). */
function webEdge<P>(
  start: (output: RelayOutput) => RelayRun,
  source: ByteSource,
  options: RelayOptions<P>,
): ReadableStream<Uint8Array> {
  let run: RelayRun | undefined;
  // A reader with a second read() waiting is pulled again from inside enqueue: that pull must not be undone.
  let pulledInWrite = false;
  return new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        pulledInWrite = true;
        if (run) return run.resume();
        run = start({
          write(text) {
            pulledInWrite = false;
            controller.enqueue(encoder.encode(text));
            // With no read-ahead the queue is full once it holds anything: wait for the next pull.
            return pulledInWrite || (controller.desiredSize ?? 0) > 0;
          },
          end: () => controller.close(),
        });
      },
      cancel(reason) {
        if (run) return run.cancel(reason);
        reportEnd(options, { outcome: 'aborted', chunks: 0 });
        return source.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

/** The Node edge: text written to the response as it is made, the upstream paused while the socket's buffer is full. */
function nodeEdge(start: (output: RelayOutput) => RelayRun, res: ServerResponse): void {
  const open = (): boolean => !res.destroyed && !res.writableEnded;
  const run = start({
    write: (text) => !open() || res.write(text),
    end: () => {
      if (open()) res.end();
    },
  });
  const gone = (): void => void run.cancel(new ClientClosedError()).catch(() => undefined);
  if (res.destroyed) return gone();
  res.on('drain', () => run.resume());
  res.on('close', () => {
    if (!res.writableFinished) gone();
  });
}
