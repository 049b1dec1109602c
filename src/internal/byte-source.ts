/**
 * A body read one chunk per call, with no Web Streams stage in between: the upstream client hands
 * its answers out as one (each `read()` is one network read of the socket), and the SSE relay and
 * the bounded readers take one. Web Streams stay at the edges, where Hono or a test has one.
 */
export interface ByteSource {
  /** The next chunk, or undefined once the body ended or was cancelled; rejects when it broke. */
  read(): Promise<Uint8Array | undefined>;
  /** Stops reading and frees what holds the body (for an upstream answer, its connection). A no-op once ended. */
  cancel(reason?: unknown): Promise<void>;
  /**
   * The same body pushed: each chunk is handed to `sink` in the turn its network read happened, with
   * no promise per chunk (the relay's hot path). A body is read one way or the other, never both.
   * Absent on a source that can only be pulled: `flowFrom` then reads it in a loop.
   */
  flow?(sink: ByteSink): ByteFlow;
}

/** Where a pushed body goes. Exactly one of `end` and `error` is called, last. */
export interface ByteSink {
  data(chunk: Uint8Array): void;
  end(): void;
  /** The body broke: the source's own error, for the sink to name. */
  error(err: unknown): void;
}

/** The reader's side of a pushed body: backpressure and cancel. */
export interface ByteFlow {
  /** No more chunks until `resume()` (the client's buffer is full). */
  pause(): void;
  resume(): void;
  /** As `ByteSource.cancel`; the sink is told nothing more. */
  cancel(reason?: unknown): Promise<void>;
}

/** A Web Stream read as a ByteSource (tests, request bodies); a ByteSource as it is. */
export function sourceOf(body: ByteSource | ReadableStream<Uint8Array>): ByteSource {
  if (!(body instanceof ReadableStream)) return body;
  const reader = body.getReader();
  return {
    read: async () => {
      const { value, done } = await reader.read();
      return done ? undefined : value;
    },
    cancel: (reason) => reader.cancel(reason),
  };
}

/** Pushes a source into `sink`: its own `flow` where it has one, else one `read()` after another. */
export function flowFrom(source: ByteSource, sink: ByteSink): ByteFlow {
  if (source.flow) return source.flow(sink);
  let paused = false;
  let reading = false;
  let over = false;
  const run = async (): Promise<void> => {
    reading = true;
    try {
      while (!paused && !over) {
        const chunk = await source.read();
        if (over) return; // cancelled while the read waited
        if (chunk === undefined) {
          over = true;
          return sink.end();
        }
        sink.data(chunk);
      }
    } catch (err) {
      if (over) return;
      over = true;
      sink.error(err);
    } finally {
      reading = false;
    }
  };
  // Started after this returns: a read() that throws at once must find the caller holding its flow.
  reading = true;
  queueMicrotask(() => void run());
  return {
    pause: () => void (paused = true),
    resume: () => {
      paused = false;
      if (!reading && !over) void run();
    },
    cancel: (reason) => {
      over = true;
      return source.cancel(reason);
    },
  };
}

/** The client-facing edge: a ByteSource as a Web Stream, one read per pull, cancel passed on. */
export function toReadableStream(source: ByteSource): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const chunk = await source.read();
        if (chunk === undefined) controller.close();
        else controller.enqueue(chunk);
      },
      cancel: (reason) => source.cancel(reason),
    },
    // No read-ahead: the source is read only when the reader has taken what was sent.
    { highWaterMark: 0 },
  );
}
