import { toApiError, toErrorEnvelope, type ApiError } from '../errors/index.js';
import { SSE_DONE, encodeSseComment, encodeSseData } from './sse-encoder.js';

export interface SseBodyOptions {
  /** While no chunk has been sent, a comment line goes out this often so idle-timeout proxies keep the stream. */
  keepAliveIntervalMs: number;
  /** Told once how the stream ended, and after how many chunks (for logging). */
  onEnd?: (end: StreamEnd) => void;
}

export type StreamEnd =
  | { outcome: 'completed'; chunks: number }
  | { outcome: 'failed'; chunks: number; error: ApiError }
  | { outcome: 'aborted'; chunks: number };

/**
 * The last stage: chunks to SSE bytes. It is a pull-based ReadableStream rather than a
 * TransformStream because it must *catch* a failure of the stages before it and end the stream
 * with one error event and `[DONE]` — what vLLM does and what OpenAI SDKs raise as an exception.
 * Cancelling it (client disconnect) cancels the chain, which aborts the upstream request.
 */
export function toSseBody(chunks: ReadableStream<unknown>, options: SseBodyOptions): ReadableStream<Uint8Array> {
  const reader = chunks.getReader();
  let sent = 0;
  let keepAlive: NodeJS.Timeout | undefined;
  const stopKeepAlive = (): void => {
    clearInterval(keepAlive);
    keepAlive = undefined;
  };

  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        keepAlive = setInterval(() => controller.enqueue(encodeSseComment('keep-alive')), options.keepAliveIntervalMs);
      },
      async pull(controller) {
        try {
          const { value, done } = await reader.read();
          stopKeepAlive();
          if (done) {
            controller.enqueue(SSE_DONE);
            controller.close();
            options.onEnd?.({ outcome: 'completed', chunks: sent });
            return;
          }
          sent += 1;
          controller.enqueue(encodeSseData(value));
        } catch (err) {
          stopKeepAlive();
          const error = toApiError(err);
          controller.enqueue(encodeSseData(toErrorEnvelope(error)));
          controller.enqueue(SSE_DONE);
          controller.close();
          options.onEnd?.({ outcome: 'failed', chunks: sent, error });
        }
      },
      cancel(reason) {
        stopKeepAlive();
        options.onEnd?.({ outcome: 'aborted', chunks: sent });
        return reader.cancel(reason);
      },
    },
    // No read-ahead: a chunk is pulled from upstream only when the client has taken the last one.
    { highWaterMark: 0 },
  );
}
