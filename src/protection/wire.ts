/**
 * Output protection wire format v1 (docs/output-protection.md): the constants both
 * sides agree on, the key headers, and the encoding of one protected text field.
 */
import { DecryptionError, InvalidPublicKeyError } from './errors.js';
import type { HpkeRecipientContext, HpkeSenderContext } from './hpke/index.js';

/** The HPKE `info` of every v1 context: binds the keys to this protocol and version. */
export const OUTPUT_PROTECTION_INFO = 'sgt-output-protection/v1';

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

// aad = the choice index in ASCII decimal; n is small, so the encodings are kept.
const aadCache: Uint8Array[] = [];
const encoder = new TextEncoder();

/** The aad of a choice: its index as ASCII decimal (`0` → "0", `12` → "12"). */
export function choiceAad(index: number): Uint8Array {
  if (!Number.isSafeInteger(index) || index < 0)
    throw new RangeError(`A choice index is a non-negative integer, got ${String(index)}.`);
  if (index >= 64) return encoder.encode(String(index));
  return (aadCache[index] ??= encoder.encode(String(index)));
}

/** One non-empty text field → `base64(Seal(aad = index, utf8(text)))`. The caller keeps "" as it is. */
export function sealText(context: HpkeSenderContext, index: number, text: string): string {
  return encodeBase64(context.seal(choiceAad(index), encoder.encode(text)));
}

// ignoreBOM: a U+FEFF at the start of a token is text, not a byte-order mark to drop.
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The inverse of `sealText`, or a DecryptionError: never garbage text. */
export function openText(context: HpkeRecipientContext, index: unknown, field: string): string {
  if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0) {
    throw new DecryptionError(
      `An encrypted choice has no valid index (got ${JSON.stringify(index)}), so its aad is unknown.`,
    );
  }
  const ciphertext = decodeBase64Strict(field);
  if (!ciphertext)
    throw new DecryptionError(
      `The text of choice ${index} (message ${context.seq}) is not base64: it is not an encrypted field.`,
    );
  let plaintext: Uint8Array;
  try {
    plaintext = context.open(choiceAad(index), ciphertext);
  } catch (err) {
    if (!(err instanceof DecryptionError)) throw err;
    throw new DecryptionError(
      `Could not decrypt the text of choice ${index} (message ${context.seq}): it was tampered with, reordered or dropped, or encrypted for another key.`,
      { cause: err },
    );
  }
  try {
    return decoder.decode(plaintext);
  } catch (err) {
    throw new DecryptionError(`The text of choice ${index} decrypted to bytes that are not UTF-8.`, { cause: err });
  }
}
