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
