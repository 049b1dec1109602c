import type { EventSourceMessage } from 'eventsource-parser';
import { UpstreamProtocolError } from '../errors/index.js';

/**
 * vLLM's SSE events as objects, so the encrypting stage can work on them. `[DONE]` is required
 * (the stage that encodes the answer writes its own), so a truncated stream ends with an error
 * event instead of looking complete. An event that is not JSON could hold text we must protect:
 * it is refused, and its content never reaches the error message.
 */
export function parseSseJson(): TransformStream<EventSourceMessage, object> {
  let done = false;
  return new TransformStream({
    transform(event, controller) {
      if (done) return;
      if (event.data === '[DONE]') {
        done = true;
        return;
      }
      let value: unknown;
      try {
        value = JSON.parse(event.data);
      } catch {
        throw new UpstreamProtocolError('The upstream sent an event that is not JSON.');
      }
      if (typeof value !== 'object' || value === null)
        throw new UpstreamProtocolError('The upstream sent an event that is not a JSON object.');
      controller.enqueue(value);
    },
    flush() {
      if (!done) throw new UpstreamProtocolError('The upstream stream ended before [DONE]: the answer is incomplete.');
    },
  });
}
