/**
 * Output protection over OpenAI-shaped JSON: the streaming stages (one chunk object in, one out)
 * and their non-stream counterparts. The field rules are wire format v1's:
 *
 * - protected fields: completions `choices[].text`, chat `choices[].delta.content` (stream) and
 *   `choices[].message.content` (non-stream); within a choice, in that order;
 * - every non-empty one, in emission order (chunk by chunk, then `choices` array order), becomes
 *   `base64(Seal(aad = ASCII(choice.index), utf8(text)))`, one sequence number each;
 * - "" (a role chunk, a finish chunk) and non-strings (`content: null`) stay as they are and
 *   consume no sequence number; objects without `choices` (usage, errors) pass untouched.
 *
 * A single context serves all choices of a response (n > 1): the sequence is shared, and the aad
 * ties each ciphertext to its choice.
 */
import type { HpkeRecipientContext, HpkeSenderContext } from './hpke/index.js';
import { openText, sealText } from './wire.js';
import { isObject } from '../internal/is-object.js';

/** Rewrites one protected text; `index` is the choice's `index` as found. */
export type TextTransform = (index: unknown, text: string) => string;

type JsonObject = Record<string, unknown>;

const NESTED_CONTENT = ['delta', 'message'] as const;

function transformChoice(choice: JsonObject, transform: TextTransform, inPlace: boolean): JsonObject {
  let out = choice;
  const set = (key: string, value: unknown): void => {
    if (!inPlace && out === choice) out = { ...choice };
    out[key] = value;
  };
  if (typeof choice.text === 'string' && choice.text !== '') set('text', transform(choice.index, choice.text));
  for (const key of NESTED_CONTENT) {
    const nested = choice[key];
    if (!isObject(nested) || typeof nested.content !== 'string' || nested.content === '') continue;
    const content = transform(choice.index, nested.content);
    if (inPlace) nested.content = content;
    else set(key, { ...nested, content });
  }
  return out;
}

/**
 * Applies `transform` to every protected non-empty text of one chunk or body, in wire order.
 * `inPlace` mutates `value` (the client library, on objects the SDK just parsed); otherwise
 * the changed parts are copied and `value` is left as it was (pipeline stages).
 */
export function transformProtectedTexts<T>(value: T, transform: TextTransform, inPlace = false): T {
  if (!isObject(value) || !Array.isArray(value.choices)) return value;
  const choices: unknown[] = value.choices;
  let copied: unknown[] | undefined;
  for (let i = 0; i < choices.length; i++) {
    const choice = choices[i];
    if (!isObject(choice)) continue;
    const out = transformChoice(choice, transform, inPlace);
    if (out !== choice) (copied ??= choices.slice())[i] = out;
  }
  return copied ? ({ ...value, choices: copied } as T) : value;
}

function sealer(context: HpkeSenderContext): TextTransform {
  return (index, text) => {
    if (typeof index !== 'number')
      throw new TypeError(
        `Cannot encrypt the text of a choice without a numeric index (got ${JSON.stringify(index)}).`,
      );
    return sealText(context, index, text);
  };
}

const opener =
  (context: HpkeRecipientContext): TextTransform =>
  (index, text) =>
    openText(context, index, text);

/** Encrypts the protected texts of one chunk after another (completions or chat), in order. */
export function chunkSealer(context: HpkeSenderContext): <T>(chunk: T) => T {
  const seal = sealer(context);
  return (chunk) => transformProtectedTexts(chunk, seal);
}

/**
 * Decrypts the protected texts of one chunk after another, in order. A field that does not open
 * (tampered, reordered, dropped before it, other key) throws a DecryptionError: no text of an
 * unauthenticated chunk is ever passed on.
 */
export function chunkOpener(context: HpkeRecipientContext): <T>(chunk: T) => T {
  const open = opener(context);
  return (chunk) => transformProtectedTexts(chunk, open);
}

/** `chunkSealer` as a stream stage, for servers that produce their answer as a stream of chunks. */
export function encryptChunks<T extends object>(context: HpkeSenderContext): TransformStream<T, T> {
  const seal = chunkSealer(context);
  return new TransformStream({ transform: (chunk, controller) => controller.enqueue(seal(chunk)) });
}

/** A whole non-stream body: completions `choices[].text`, chat `choices[].message.content`. */
export function encryptBody<T extends object>(body: T, context: HpkeSenderContext): T {
  return transformProtectedTexts(body, sealer(context));
}

/** The inverse of `encryptBody`; throws DecryptionError on a field that does not open. */
export function decryptBody<T extends object>(body: T, context: HpkeRecipientContext): T {
  return transformProtectedTexts(body, opener(context));
}
