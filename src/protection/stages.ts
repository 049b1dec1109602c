/**
 * Output protection over OpenAI-shaped JSON: the streaming stages (one chunk object in, one out)
 * and their non-stream counterparts. The field rules (docs/output-protection.md §4):
 *
 * - every non-empty protected string, in emission order (chunk by chunk, then `choices` array
 *   order, then the fixed field order within a choice), becomes `base64(Seal(aad, utf8(value)))`,
 *   one sequence number each; "" and non-strings stay as they are and consume none;
 * - v1 protects the text only (`text`, `delta.content`, `message.content`; aad = the choice index);
 * - v2 also protects reasoning, tool-call names and arguments, every logprobs token, and a string
 *   `stop_reason` (aad = `<index>:<tag>`), and carries chat logprobs `bytes` as null;
 * - objects without `choices` (usage, errors) pass untouched.
 *
 * Sealing and opening walk the same code with a different `FieldCodec`, so the order cannot differ.
 * A single context serves all choices of a response (n > 1): the sequence is shared, and the aad
 * ties each ciphertext to its choice and its kind of field.
 */
import { InvalidRequestError } from '../errors/index.js';
import type { HpkeRecipientContext, HpkeSenderContext } from './hpke/index.js';
import { openField, protectionVersion, sealField, type FieldTag, type ProtectionVersion } from './wire.js';
import { isObject } from '../internal/is-object.js';

type JsonObject = Record<string, unknown>;

/** How one direction treats a field: seal or open a string, and what a chat `bytes` becomes. */
interface FieldCodec {
  version: ProtectionVersion;
  field(index: unknown, tag: FieldTag, value: string): string;
  /** The `bytes` of a chat logprobs entry whose (transformed) token is `token`. */
  bytes(token: string): number[] | null;
}

const MESSAGE_KEYS = ['delta', 'message'] as const;
const REASONING_KEYS = ['reasoning_content', 'reasoning'] as const;

/** Replaces `object[key]` when it is a non-empty string. */
function codeKey(object: JsonObject, key: string, tag: FieldTag, index: unknown, codec: FieldCodec): void {
  const value = object[key];
  if (typeof value === 'string' && value !== '') object[key] = codec.field(index, tag, value);
}

function codeMessage(message: JsonObject, index: unknown, codec: FieldCodec): void {
  codeKey(message, 'content', 'text', index, codec);
  if (codec.version === 1) return;
  for (const key of REASONING_KEYS) codeKey(message, key, 'reasoning', index, codec);
  if (!Array.isArray(message.tool_calls)) return;
  for (const call of message.tool_calls as unknown[]) {
    if (!isObject(call) || !isObject(call.function)) continue;
    codeKey(call.function, 'name', 'tool_name', index, codec);
    codeKey(call.function, 'arguments', 'tool_arguments', index, codec);
  }
}

/** A completions `top_logprobs` entry: its keys are tokens, rebuilt in their JSON order. */
function codeTopKeys(top: JsonObject, index: unknown, codec: FieldCodec): JsonObject {
  // fromEntries defines own properties, so a token named "__proto__" stays a key like any other.
  return Object.fromEntries(
    Object.entries(top).map(([token, logprob]) => [
      token === '' ? '' : codec.field(index, 'top_token', token),
      logprob,
    ]),
  );
}

function codeChatEntry(entry: JsonObject, tag: FieldTag, index: unknown, codec: FieldCodec): void {
  codeKey(entry, 'token', tag, index, codec);
  if ('bytes' in entry && typeof entry.token === 'string') entry.bytes = codec.bytes(entry.token);
}

function codeLogprobs(logprobs: JsonObject, index: unknown, codec: FieldCodec): void {
  const { tokens, top_logprobs: top, content } = logprobs;
  // Completions: position by position, the sampled token and then its alternatives.
  const positions = Math.max(Array.isArray(tokens) ? tokens.length : 0, Array.isArray(top) ? top.length : 0);
  for (let p = 0; p < positions; p += 1) {
    const token: unknown = Array.isArray(tokens) ? tokens[p] : undefined;
    if (Array.isArray(tokens) && typeof token === 'string' && token !== '')
      tokens[p] = codec.field(index, 'token', token);
    if (Array.isArray(top) && isObject(top[p])) top[p] = codeTopKeys(top[p], index, codec);
  }
  // Chat: the same order, entry by entry.
  if (!Array.isArray(content)) return;
  for (const entry of content as unknown[]) {
    if (!isObject(entry)) continue;
    codeChatEntry(entry, 'token', index, codec);
    if (!Array.isArray(entry.top_logprobs)) continue;
    for (const alternative of entry.top_logprobs as unknown[])
      if (isObject(alternative)) codeChatEntry(alternative, 'top_token', index, codec);
  }
}

/** The choice's protected fields, in wire order, on `choice` itself (a copy when not in place). */
function codeChoice(choice: JsonObject, codec: FieldCodec, inPlace: boolean): JsonObject {
  // A copy deep enough for what is replaced: the reference server shares one logprobs object
  // between the `n` choices of a prompt, and a pipeline stage must not change its input.
  const out = inPlace ? choice : { ...choice };
  const index = choice.index;
  codeKey(out, 'text', 'text', index, codec);
  for (const key of MESSAGE_KEYS) {
    const message = out[key];
    if (!isObject(message)) continue;
    if (inPlace) {
      codeMessage(message, index, codec);
      continue;
    }
    const copy = { ...message };
    // The tool calls are the only nested part a message has; cloned only when there are some.
    if (codec.version !== 1 && Array.isArray(message.tool_calls)) copy.tool_calls = structuredClone(message.tool_calls);
    codeMessage(copy, index, codec);
    out[key] = copy;
  }
  if (codec.version === 1) return out;
  if (isObject(out.logprobs)) {
    const logprobs = inPlace ? out.logprobs : (structuredClone(out.logprobs) as JsonObject);
    codeLogprobs(logprobs, index, codec);
    out.logprobs = logprobs;
  }
  codeKey(out, 'stop_reason', 'stop_reason', index, codec);
  return out;
}

/**
 * Applies `codec` to every protected field of one chunk or body, in wire order. `inPlace`
 * mutates `value` (the client library, on objects the SDK just parsed); otherwise the changed
 * parts are copied and `value` is left as it was (pipeline stages).
 */
function codeProtectedFields<T>(value: T, codec: FieldCodec, inPlace: boolean): T {
  if (!isObject(value) || !Array.isArray(value.choices) || value.choices.length === 0) return value;
  const choices: unknown[] = value.choices;
  const out = inPlace ? choices : choices.slice();
  for (let i = 0; i < choices.length; i++) {
    const choice = choices[i];
    if (isObject(choice)) out[i] = codeChoice(choice, codec, inPlace);
  }
  return inPlace ? value : ({ ...value, choices: out } as T);
}

/** Generated strings v1 has no field for: sealing them as v1 would send them in plaintext. */
function v1Unprotectable(choice: JsonObject): string | undefined {
  if (choice.logprobs !== null && choice.logprobs !== undefined) return 'logprobs';
  for (const key of MESSAGE_KEYS) {
    const message = choice[key];
    if (!isObject(message)) continue;
    if (Array.isArray(message.tool_calls) && message.tool_calls.length > 0) return `${key}.tool_calls`;
    for (const reasoning of REASONING_KEYS)
      if (typeof message[reasoning] === 'string' && message[reasoning] !== '') return `${key}.${reasoning}`;
  }
  return undefined;
}

/** Thrown by a v1 sealer on an answer with a generated string that v1 cannot encrypt. */
export class UnprotectableOutputError extends InvalidRequestError {
  constructor(field: string) {
    super(
      `The answer has \`${field}\`, which output protection wire format v1 cannot encrypt, so it is not sent. Ask for wire format 2 (header x-output-protection-version: 2), or leave out what produces \`${field}\`.`,
      { param: field.split('.')[0], code: 'unprotectable_output' },
    );
  }
}

function checkV1(value: unknown): void {
  if (!isObject(value) || !Array.isArray(value.choices)) return;
  for (const choice of value.choices as unknown[]) {
    const field = isObject(choice) ? v1Unprotectable(choice) : undefined;
    if (field) throw new UnprotectableOutputError(field);
  }
}

function sealingCodec(context: HpkeSenderContext): FieldCodec {
  return {
    version: protectionVersion(context),
    field(index, tag, value) {
      if (typeof index !== 'number')
        throw new TypeError(
          `Cannot encrypt a field of a choice without a numeric index (got ${JSON.stringify(index)}).`,
        );
      return sealField(context, index, tag, value);
    },
    bytes: () => null, // the UTF-8 of the token is the token: restored by the opener
  };
}

const utf8 = new TextEncoder();

function openingCodec(context: HpkeRecipientContext): FieldCodec {
  return {
    version: protectionVersion(context),
    field: (index, tag, value) => openField(context, index, tag, value),
    bytes: (token) => Array.from(utf8.encode(token)),
  };
}

/** Encrypts one chunk after another (completions or chat), in order. */
export function chunkSealer(context: HpkeSenderContext): <T>(chunk: T) => T {
  const codec = sealingCodec(context);
  return (chunk) => {
    if (codec.version === 1) checkV1(chunk);
    return codeProtectedFields(chunk, codec, false);
  };
}

/**
 * Decrypts one chunk after another, in order. A field that does not open (tampered, reordered,
 * moved, dropped before it, other key) throws a DecryptionError: no text of an unauthenticated
 * chunk is ever passed on. `inPlace` mutates the chunk (objects the caller just parsed).
 */
export function chunkOpener(context: HpkeRecipientContext, inPlace = false): <T>(chunk: T) => T {
  const codec = openingCodec(context);
  return (chunk) => codeProtectedFields(chunk, codec, inPlace);
}

/** `chunkSealer` as a stream stage, for servers that produce their answer as a stream of chunks. */
export function encryptChunks<T extends object>(context: HpkeSenderContext): TransformStream<T, T> {
  const seal = chunkSealer(context);
  return new TransformStream({ transform: (chunk, controller) => controller.enqueue(seal(chunk)) });
}

/** A whole non-stream body: one chunk, as far as the field rules go. */
export function encryptBody<T extends object>(body: T, context: HpkeSenderContext): T {
  return chunkSealer(context)(body);
}

/** The inverse of `encryptBody`; throws DecryptionError on a field that does not open. */
export function decryptBody<T extends object>(body: T, context: HpkeRecipientContext): T {
  return chunkOpener(context)(body);
}
