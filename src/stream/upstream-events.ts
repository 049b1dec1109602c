import { UpstreamProtocolError } from '../errors/index.js';
import { upstreamErrorFromPayload } from '../upstream/index.js';
import type { CompletionChunk } from './chunks.js';
import { isObject } from '../internal/is-object.js';

/**
 * One SSE event's data as a JSON object. An event that is not JSON could hold text that must be
 * protected: it is refused, and its content never reaches the error message.
 */
export function parseEventObject(data: string): Record<string, unknown> {
  let payload: unknown;
  try {
    payload = JSON.parse(data);
  } catch {
    throw new UpstreamProtocolError('The upstream sent an event that is not JSON.');
  }
  if (!isObject(payload)) throw new UpstreamProtocolError('The upstream sent an event that is not a JSON object.');
  return payload;
}

/**
 * One event of vLLM's completions stream (its `data`, not `[DONE]`), as a checked chunk. An error
 * event becomes the upstream's error, anything malformed a 502 naming what was wrong.
 */
export function parseCompletionEvent(data: string): CompletionChunk {
  const payload = parseEventObject(data);
  if ('error' in payload) throw upstreamErrorFromPayload(payload, 502);
  return checkCompletionChunk(payload, 'an event');
}

/**
 * A completions chunk (a stream event or a whole non-stream body), checked field by field: an
 * upstream that sends `choices: [null]` or `"text": 5` gets a 502 naming the field, never a
 * TypeError later or a number relayed as text. `what` names it in the message ("an event").
 */
export function checkCompletionChunk(payload: unknown, what: string): CompletionChunk {
  const bad = (field: string, expected: string): UpstreamProtocolError =>
    new UpstreamProtocolError(`The upstream sent ${what} whose ${field} is not ${expected}.`);
  if (!isObject(payload)) throw new UpstreamProtocolError(`The upstream sent ${what} that is not a JSON object.`);
  if (!Array.isArray(payload.choices)) throw bad('choices', 'an array');
  payload.choices.forEach((choice: unknown, i: number) => {
    if (!isObject(choice)) throw bad(`choices[${i}]`, 'an object');
    if (!Number.isSafeInteger(choice.index) || (choice.index as number) < 0)
      throw bad(`choices[${i}].index`, 'a non-negative integer');
    if (typeof choice.text !== 'string') throw bad(`choices[${i}].text`, 'a string');
    if (choice.finish_reason != null && typeof choice.finish_reason !== 'string')
      throw bad(`choices[${i}].finish_reason`, 'a string or null');
  });
  if (payload.usage != null) {
    const usage = payload.usage;
    if (!isObject(usage)) throw bad('usage', 'an object or null');
    for (const key of ['prompt_tokens', 'completion_tokens', 'total_tokens']) {
      if (usage[key] !== undefined && !(Number.isSafeInteger(usage[key]) && (usage[key] as number) >= 0))
        throw bad(`usage.${key}`, 'a non-negative integer');
    }
  }
  // Every field the pipeline reads was checked above; the rest (id, model) is passed through as sent.
  return payload as unknown as CompletionChunk;
}
