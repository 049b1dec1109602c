/**
 * Output protection wire formats v1 and v2 (docs/output-protection.md): the constants both
 * sides agree on, the key and version headers, and the encoding of one protected field.
 */
import { InvalidRequestError } from '../errors/index.js';
import { DecryptionError, InvalidPublicKeyError } from './errors.js';
import {
  setupBaseR,
  setupBaseS,
  type HpkeRecipientContext,
  type HpkeSenderContext,
  type HpkeBackend,
} from './hpke/index.js';
import type { SenderOptions } from './hpke/setup.js';

/** The HPKE `info` of every v1 context: binds the keys to this protocol and version. */
export const OUTPUT_PROTECTION_INFO = 'sgt-output-protection/v1';

/** 1: text fields only; 2: every generated string (logprobs tokens, tool calls, reasoning, stop_reason). */
export type ProtectionVersion = 1 | 2;

/** The newest version this implementation speaks. */
export const LATEST_PROTECTION_VERSION: ProtectionVersion = 2;

/** Request: the version the client asks for (absent: 1). Response: the version the server used. */
export const OUTPUT_PROTECTION_VERSION_HEADER = 'x-output-protection-version';

/** The HPKE `info` of a version: a context of one version cannot open another's fields. */
export function protectionInfo(version: ProtectionVersion): string {
  return `sgt-output-protection/v${version}`;
}

/** The version a client asked for: absent → 1, "1" or "2", anything else a 400 naming the header. */
export function parseRequestedVersion(headerValue: string | null | undefined): ProtectionVersion {
  if (headerValue === undefined || headerValue === null || headerValue === '1') return 1;
  if (headerValue === '2') return 2;
  throw new InvalidRequestError(
    `Invalid ${OUTPUT_PROTECTION_VERSION_HEADER} header: expected 1 or 2, got ${JSON.stringify(headerValue.slice(0, 20))}.`,
    { param: OUTPUT_PROTECTION_VERSION_HEADER, code: 'invalid_output_protection_version' },
  );
}

/** The version a response says it used: absent → 1 (a v1 server sends no such header). */
export function parseAnsweredVersion(headerValue: string | null | undefined): ProtectionVersion {
  if (headerValue === undefined || headerValue === null || headerValue === '1') return 1;
  if (headerValue === '2') return 2;
  throw new DecryptionError(
    `The response's ${OUTPUT_PROTECTION_VERSION_HEADER} header is ${JSON.stringify(headerValue.slice(0, 20))}: not a version this client knows (1, 2).`,
    { param: OUTPUT_PROTECTION_VERSION_HEADER },
  );
}

// The version is part of the key schedule (the `info`), so the context is its natural carrier:
// `chunkSealer(context)` and `chunkOpener(context)` keep one signature for every version. A
// context made with plain setupBaseS/setupBaseR (v1's `info`) is v1.
const versions = new WeakMap<HpkeSenderContext | HpkeRecipientContext, ProtectionVersion>();

/** The wire format a context seals or opens. */
export function protectionVersion(context: HpkeSenderContext | HpkeRecipientContext): ProtectionVersion {
  return versions.get(context) ?? 1;
}

/** SetupBaseS with the version's `info`; the context remembers its version. */
export function setupProtectedSender(
  recipientPublicKey: Uint8Array,
  version: ProtectionVersion,
  options: SenderOptions = {},
): { enc: Uint8Array; context: HpkeSenderContext } {
  const setup = setupBaseS(recipientPublicKey, protectionInfo(version), options);
  versions.set(setup.context, version);
  return setup;
}

/** SetupBaseR with the version's `info`; the context remembers its version. */
export function setupProtectedRecipient(
  enc: Uint8Array,
  privateKey: Uint8Array,
  version: ProtectionVersion,
  options: { backend?: HpkeBackend; recipientPublicKey?: Uint8Array } = {},
): HpkeRecipientContext {
  const context = setupBaseR(enc, privateKey, protectionInfo(version), options);
  versions.set(context, version);
  return context;
}

/** Where the client sends `base64(pkR)` (overridable with SG_CLIENT_PUBLIC_KEY_HEADER_NAME). */
export const DEFAULT_CLIENT_PUBLIC_KEY_HEADER = 'x-client-public-key';
/** Where the server returns `base64(enc)` (overridable with SG_SERVER_PUBLIC_KEY_HEADER_NAME). */
export const DEFAULT_SERVER_PUBLIC_KEY_HEADER = 'x-server-public-key';

/** An X25519 public key / an encapsulated key: 32 bytes, 44 characters of padded base64. */
export const PUBLIC_KEY_BYTES = 32;

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Standard base64 with padding, as every v1 field and header carries bytes. */
export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/**
 * Strict standard base64 (padding required, no whitespace, no URL-safe alphabet, canonical last
 * character), or `undefined`. Node's own decoder skips what it does not understand, so a mangled
 * value would silently decode to other bytes.
 */
export function decodeBase64Strict(text: string): Uint8Array | undefined {
  if (!BASE64.test(text)) return undefined;
  const buffer = Buffer.from(text, 'base64');
  if (buffer.toString('base64') !== text) return undefined; // non-zero bits after the last byte
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

function decodeKey(headerValue: string | null | undefined): Uint8Array | undefined {
  if (typeof headerValue !== 'string') return undefined;
  const bytes = decodeBase64Strict(headerValue);
  return bytes?.length === PUBLIC_KEY_BYTES ? bytes : undefined;
}

/**
 * The client's X25519 public key from its header: exactly 32 bytes in standard padded base64.
 * Anything else, absence included, is a 400 whose message and `param` name the header.
 */
export function parseClientPublicKey(headerValue: string | null | undefined, headerName: string): Uint8Array {
  if (headerValue === undefined || headerValue === null) {
    throw new InvalidPublicKeyError(
      `Missing ${headerName} header: this endpoint encrypts its output and needs the client's X25519 public key (32 bytes, standard base64 with padding).`,
      { param: headerName, code: 'missing_client_public_key' },
    );
  }
  const key = decodeKey(headerValue);
  if (!key) {
    throw new InvalidPublicKeyError(
      `Invalid ${headerName} header: expected an X25519 public key, 32 bytes in standard base64 with padding (44 characters).`,
      { param: headerName, code: 'invalid_client_public_key' },
    );
  }
  return key;
}

/** The encapsulated key from the server's header, for the client; a missing or bad one is a DecryptionError. */
export function parseServerPublicKey(
  headerValue: string | null | undefined,
  headerName = DEFAULT_SERVER_PUBLIC_KEY_HEADER,
): Uint8Array {
  if (headerValue === undefined || headerValue === null) {
    throw new DecryptionError(
      `The response has no ${headerName} header: the server did not encrypt it (is output protection on?).`,
      {
        param: headerName,
        code: 'missing_server_public_key',
      },
    );
  }
  const key = decodeKey(headerValue);
  if (!key) {
    throw new DecryptionError(`The ${headerName} header is not 32 bytes of standard padded base64.`, {
      param: headerName,
    });
  }
  return key;
}

/**
 * What a protected string is, in v2's aad: the same tag wherever the field sits (completions or
 * chat shape), so a ciphertext can be re-shaped (completions `text` → chat `delta.content`) but
 * never moved to a field of another kind.
 */
export type FieldTag = 'text' | 'reasoning' | 'tool_name' | 'tool_arguments' | 'token' | 'top_token' | 'stop_reason';

const encoder = new TextEncoder();
const aadCache = new Map<string, Uint8Array>();

function checkIndex(index: number): void {
  if (!Number.isSafeInteger(index) || index < 0)
    throw new RangeError(`A choice index is a non-negative integer, got ${String(index)}.`);
}

function cachedAad(text: string): Uint8Array {
  let aad = aadCache.get(text);
  if (!aad) {
    aad = encoder.encode(text);
    if (aadCache.size < 1024) aadCache.set(text, aad); // n and the tags are few; bounded anyway
  }
  return aad;
}

/** The aad of a v1 field: the choice index as ASCII decimal (`0` → "0", `12` → "12"). */
export function choiceAad(index: number): Uint8Array {
  checkIndex(index);
  return cachedAad(String(index));
}

/** The aad of a field: v1 `"<index>"` (text only), v2 `"<index>:<tag>"`. */
export function fieldAad(version: ProtectionVersion, index: number, tag: FieldTag): Uint8Array {
  checkIndex(index);
  return cachedAad(version === 1 ? String(index) : `${index}:${tag}`);
}

/** One non-empty field → `base64(Seal(aad, utf8(value)))`. The caller keeps "" as it is. */
export function sealField(context: HpkeSenderContext, index: number, tag: FieldTag, value: string): string {
  return encodeBase64(context.seal(fieldAad(protectionVersion(context), index, tag), encoder.encode(value)));
}

/** A text field (`text`, `content`), as v1 defines it; in a v2 context, with v2's aad. */
export function sealText(context: HpkeSenderContext, index: number, text: string): string {
  return sealField(context, index, 'text', text);
}

// ignoreBOM: a U+FEFF at the start of a token is text, not a byte-order mark to drop.
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

const FIELD_NAMES: Record<FieldTag, string> = {
  text: 'text',
  reasoning: 'reasoning',
  tool_name: 'tool call name',
  tool_arguments: 'tool call arguments',
  token: 'logprobs token',
  top_token: 'top_logprobs token',
  stop_reason: 'stop_reason',
};

/** The inverse of `sealField`, or a DecryptionError: never garbage text. */
export function openField(context: HpkeRecipientContext, index: unknown, tag: FieldTag, field: string): string {
  const what = FIELD_NAMES[tag];
  if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0) {
    throw new DecryptionError(
      `An encrypted choice has no valid index (got ${JSON.stringify(index)}), so its aad is unknown.`,
    );
  }
  const ciphertext = decodeBase64Strict(field);
  if (!ciphertext)
    throw new DecryptionError(
      `The ${what} of choice ${index} (message ${context.seq}) is not base64: it is not an encrypted field.`,
    );
  let plaintext: Uint8Array;
  try {
    plaintext = context.open(fieldAad(protectionVersion(context), index, tag), ciphertext);
  } catch (err) {
    if (!(err instanceof DecryptionError)) throw err;
    throw new DecryptionError(
      `Could not decrypt the ${what} of choice ${index} (message ${context.seq}): it was tampered with, reordered, moved or dropped, or encrypted for another key.`,
      { cause: err },
    );
  }
  try {
    return decoder.decode(plaintext);
  } catch (err) {
    throw new DecryptionError(`The ${what} of choice ${index} decrypted to bytes that are not UTF-8.`, { cause: err });
  }
}

/** A text field, the inverse of `sealText`. */
export function openText(context: HpkeRecipientContext, index: unknown, field: string): string {
  return openField(context, index, 'text', field);
}
