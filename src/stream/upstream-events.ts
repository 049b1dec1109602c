import type { EventSourceMessage } from 'eventsource-parser';
import { UpstreamHttpError, UpstreamProtocolError } from '../errors/index.js';
import type { CompletionChunk } from './chunks.js';

/**
 * Turns parsed SSE events of vLLM's completions stream into chunks. It is the stage that knows
 * when a stream is complete: `[DONE]` must arrive, or the stream errors on close, so that a
 * truncated answer can never look like a finished one.
 */
export function upstreamEventsToChunks(): TransformStream<EventSourceMessage, CompletionChunk> {
  let done = false;
  return new TransformStream({
    transform(event, controller) {
      if (done) return; // vLLM sends nothing after [DONE]; anything that does is ignored, not relayed.
      if (event.data === '[DONE]') {
        done = true;
        return;
      }
      controller.enqueue(parseCompletionEvent(event.data));
    },
    flush() {
      if (!done) throw new UpstreamProtocolError('The upstream stream ended before [DONE]: the answer is incomplete.');
    },
  });
}

function parseCompletionEvent(data: string): CompletionChunk {
  let payload: unknown;
  try {
    payload = JSON.parse(data);
  } catch {
    throw new UpstreamProtocolError('The upstream sent an event that is not JSON.');
  }
  if (!isObject(payload)) throw new UpstreamProtocolError('The upstream sent an event that is not a JSON object.');
  if ('error' in payload) throw upstreamErrorFromPayload(payload, 502);
  if (!Array.isArray(payload.choices)) throw new UpstreamProtocolError('The upstream sent an event without choices.');
  return payload as unknown as CompletionChunk;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * vLLM's error bodies come in two shapes across versions: `{"error": {message, type, code}}` and
 * the older top-level `{"object": "error", message, type, code}`. Both carry the message we relay.
 */
export function upstreamErrorFromPayload(payload: unknown, status: number, retryAfter?: string): UpstreamHttpError {
  const inner = isObject(payload) && isObject(payload.error) ? payload.error : payload;
  const message = isObject(inner) && typeof inner.message === 'string' && inner.message.trim() !== '' ? capped(inner.message) : 'The upstream reported an error.';
  const param = isObject(inner) && typeof inner.param === 'string' ? capped(inner.param) : null;
  return new UpstreamHttpError(status, message, { param, code: 'upstream_error', retryAfter });
}

/** A relayed message is for a person to read: past this it is a dump, not a message. */
export const MAX_RELAYED_MESSAGE_CHARS = 1024;

function capped(text: string): string {
  return text.length <= MAX_RELAYED_MESSAGE_CHARS ? text : `${text.slice(0, MAX_RELAYED_MESSAGE_CHARS)}… (truncated)`;
}
