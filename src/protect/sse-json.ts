import type { EventSourceMessage } from 'eventsource-parser';
import { SSE_DONE, encodeSseData } from '../stream/index.js';

/** Stands for `data: [DONE]` between the stages, so that it is relayed only if the upstream sent it. */
export const DONE_EVENT: object = Object.freeze({});

/**
 * vLLM's SSE events as objects, so the encrypting stage can work on them. An event that is not
 * JSON cannot hold a field we must protect; it is refused rather than relayed unencrypted.
 */
export function parseSseJson(): TransformStream<EventSourceMessage, object> {
  return new TransformStream({
    transform(event, controller) {
      if (event.data === '[DONE]') {
        controller.enqueue(DONE_EVENT);
        return;
      }
      const value: unknown = JSON.parse(event.data);
      if (typeof value !== 'object' || value === null) throw new TypeError('an upstream event is not a JSON object');
      controller.enqueue(value);
    },
  });
}

export function encodeSseJson(): TransformStream<object, Uint8Array> {
  return new TransformStream({
    transform(value, controller) {
      controller.enqueue(value === DONE_EVENT ? SSE_DONE : encodeSseData(value));
    },
  });
}
