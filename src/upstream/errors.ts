/** Error answers of the upstream (vLLM) as the project's errors. */
import { UpstreamHttpError } from '../errors/index.js';
import { isObject } from '../internal/is-object.js';

/**
 * vLLM's unknown model (`OpenAIServing._check_model`): a 404 "The model `x` does not exist.", with
 * `param: "model"` in recent versions, without it in older ones. OpenAI calls it `model_not_found`.
 */
const MODEL_DOES_NOT_EXIST = /^The model `.*` does not exist\./s;

/**
 * vLLM's error bodies come in two shapes across versions: `{"error": {message, type, code}}` and
 * the older top-level `{"object": "error", message, type, code}`. Both carry the message we relay.
 */
export function upstreamErrorFromPayload(payload: unknown, status: number, retryAfter?: string): UpstreamHttpError {
  const inner = isObject(payload) && isObject(payload.error) ? payload.error : payload;
  const message =
    isObject(inner) && typeof inner.message === 'string' && inner.message.trim() !== ''
      ? capped(inner.message)
      : 'The upstream reported an error.';
  const param = isObject(inner) && typeof inner.param === 'string' ? capped(inner.param) : null;
  if (status === 404 && (param === 'model' || MODEL_DOES_NOT_EXIST.test(message))) {
    return new UpstreamHttpError(status, message, { param: 'model', code: 'model_not_found', retryAfter });
  }
  return new UpstreamHttpError(status, message, { param, code: 'upstream_error', retryAfter });
}

/** A relayed message is for a person to read: past this it is a dump, not a message. */
export const MAX_RELAYED_MESSAGE_CHARS = 1024;

function capped(text: string): string {
  return text.length <= MAX_RELAYED_MESSAGE_CHARS ? text : `${text.slice(0, MAX_RELAYED_MESSAGE_CHARS)}… (truncated)`;
}
