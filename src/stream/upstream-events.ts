import { UpstreamProtocolError } from '../errors/index.js';
import { upstreamErrorFromPayload } from '../upstream/index.js';
import type { CompletionChoice, CompletionChunk, CompletionLogprobs, Usage } from '../chat-output/chunks.js';
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

/** Checks one field of an upstream payload, or throws a 502 naming it and what it should have been. */
interface FieldChecker {
  bad(field: string, expected: string): UpstreamProtocolError;
  string(value: unknown, field: string): string;
  count(value: unknown, field: string): number;
}

function fieldChecker(what: string): FieldChecker {
  const bad = (field: string, expected: string): UpstreamProtocolError =>
    new UpstreamProtocolError(`The upstream sent ${what} whose ${field} is not ${expected}.`);
  return {
    bad,
    string(value, field) {
      if (typeof value !== 'string') throw bad(field, 'a string');
      return value;
    },
    count(value, field) {
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
        throw bad(field, 'a non-negative integer');
      return value;
    },
  };
}

/**
 * A completions chunk (a stream event or a whole non-stream body), checked field by field and
 * rebuilt from the checked fields only: an upstream that sends `choices: [null]`, `"text": 5` or a
 * `created` that is not a timestamp gets a 502 naming the field, never a TypeError later or a
 * number relayed as text. `what` names it in the message ("an event").
 */
export function checkCompletionChunk(payload: unknown, what: string): CompletionChunk {
  const check = fieldChecker(what);
  if (!isObject(payload)) throw new UpstreamProtocolError(`The upstream sent ${what} that is not a JSON object.`);
  if (!Array.isArray(payload.choices)) throw check.bad('choices', 'an array');
  const chunk: CompletionChunk = {
    id: check.string(payload.id, 'id'),
    created: check.count(payload.created, 'created'),
    model: check.string(payload.model, 'model'),
    choices: payload.choices.map((choice: unknown, i: number) => checkChoice(choice, `choices[${i}]`, check)),
  };
  if (payload.usage != null) chunk.usage = checkUsage(payload.usage, check);
  return chunk;
}

function checkChoice(choice: unknown, field: string, check: FieldChecker): CompletionChoice {
  if (!isObject(choice)) throw check.bad(field, 'an object');
  const index = check.count(choice.index, `${field}.index`);
  const text = check.string(choice.text, `${field}.text`);
  const finish = choice.finish_reason ?? null;
  if (finish !== null && typeof finish !== 'string') throw check.bad(`${field}.finish_reason`, 'a string or null');
  const out: CompletionChoice = { index, text, finish_reason: finish };
  if (choice.logprobs != null) out.logprobs = checkLogprobs(choice.logprobs, `${field}.logprobs`, check);
  const stop = choice.stop_reason;
  if (typeof stop === 'string' || typeof stop === 'number') out.stop_reason = stop;
  return out;
}

function checkLogprobs(value: unknown, field: string, check: FieldChecker): CompletionLogprobs {
  if (!isObject(value)) throw check.bad(field, 'an object or null');
  const { tokens, token_logprobs: logprobs, top_logprobs: top } = value;
  if (!Array.isArray(tokens) || !tokens.every((t) => typeof t === 'string'))
    throw check.bad(`${field}.tokens`, 'an array of strings');
  const sameLength = (a: unknown): a is unknown[] => Array.isArray(a) && a.length === tokens.length;
  if (!sameLength(logprobs) || !logprobs.every((l) => l === null || typeof l === 'number'))
    throw check.bad(`${field}.token_logprobs`, 'numbers, one per token');
  const isTop = (t: unknown) => t === null || (isObject(t) && Object.values(t).every((l) => typeof l === 'number'));
  if (!sameLength(top) || !top.every(isTop))
    throw check.bad(`${field}.top_logprobs`, 'objects of numbers, one per token');
  // Checked just above, element by element.
  return {
    tokens: tokens as string[],
    token_logprobs: logprobs as (number | null)[],
    top_logprobs: top as (Record<string, number> | null)[],
  };
}

function checkUsage(usage: unknown, check: FieldChecker): Usage {
  if (!isObject(usage)) throw check.bad('usage', 'an object or null');
  return {
    prompt_tokens: check.count(usage.prompt_tokens, 'usage.prompt_tokens'),
    completion_tokens: check.count(usage.completion_tokens, 'usage.completion_tokens'),
    total_tokens: check.count(usage.total_tokens, 'usage.total_tokens'),
  };
}
