/** Error answers of the upstream (vLLM) as the project's errors. */
import { UpstreamHttpError } from '../errors/index.js';
import { isObject } from '../internal/is-object.js';

/**
 * vLLM's error bodies come in two shapes across versions: `{"error": {message, type, code}}` and
 * the older top-level `{"object": "error", message, type, code}`. Both carry the message we relay.
 */
export function upstreamErrorFromPayload(
  payload: unknown,
  status: number,
  answer: { retryAfter?: string | undefined; upstreamStatus?: number } = {},
): UpstreamHttpError {
  const inner = isObject(payload) && isObject(payload.error) ? payload.error : payload;
  const message =
    isObject(inner) && typeof inner.message === 'string' && inner.message.trim() !== ''
      ? capped(inner.message)
      : 'The upstream reported an error.';
  const param = isObject(inner) && typeof inner.param === 'string' ? capped(inner.param) : null;
  return new UpstreamHttpError(status, message, { param, code: 'upstream_error', ...answer });
}

/** A relayed message is for a person to read: past this it is a dump, not a message. */
export const MAX_RELAYED_MESSAGE_CHARS = 1024;

function capped(text: string): string {
  return text.length <= MAX_RELAYED_MESSAGE_CHARS ? text : `${text.slice(0, MAX_RELAYED_MESSAGE_CHARS)}… (truncated)`;
}
