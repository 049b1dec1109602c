/**
 * `prompt_embeds` as vLLM takes it: standard, padded base64 of a torch.save file, decoded on the
 * server with `b64decode(s, validate=True)`. Node's own base64 decoder skips bad characters
 * silently, so decoding adds a strictness check of its own.
 */
import { Buffer, constants } from 'node:buffer';
import { DTYPE_INFO, type EmbedsDtype } from './dtype.js';
import { TorchFormatError } from './errors.js';
import { readTorchTensor, writeTorchTensor, type DecodedTensor } from './torch-file.js';

export function encodePromptEmbeds(data: Float32Array, shape: readonly number[], dtype: EmbedsDtype): string {
  // Fail before building a huge archive whose base64 could never be a JS string. An unknown dtype
  // (possible from untyped callers) is left for writeTorchTensor to name.
  checkBase64Fits(data.length * (DTYPE_INFO[dtype]?.itemSize ?? 2));
  const bytes = writeTorchTensor(data, shape, dtype);
  checkBase64Fits(bytes.length);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/**
 * The same base64 text as `encodePromptEmbeds`, as ASCII bytes in an ArrayBuffer of their own: what
 * the transform's thread hands to the event loop (transferred, not copied) and the proxy splices
 * into its upstream request unchanged. At real sizes the text is megabytes (5.6 MB for 512 tokens
 * at H 4096 in float16), and as a string on the event loop it cost 25 ms or more per request:
 * cloned across threads, escaped by JSON.stringify, measured, then encoded to UTF-8 for the socket.
 * Node has no base64 encoder that writes into a buffer, so the string is made here, on the
 * transform's thread, and copied once.
 */
export function encodePromptEmbedsAscii(data: Float32Array, shape: readonly number[], dtype: EmbedsDtype): Uint8Array {
  const text = encodePromptEmbeds(data, shape, dtype);
  const bytes = new Uint8Array(text.length);
  Buffer.from(bytes.buffer).write(text, 'latin1');
  return bytes;
}

function checkBase64Fits(byteLength: number): void {
  const chars = Math.ceil(byteLength / 3) * 4;
  if (chars > constants.MAX_STRING_LENGTH) {
    throw new RangeError(
      `prompt_embeds of ${byteLength} bytes would be ${chars} base64 characters, over Node's string limit of ${constants.MAX_STRING_LENGTH}`,
    );
  }
}

export function decodePromptEmbeds(base64: string): DecodedTensor {
  if (typeof base64 !== 'string') throw new TorchFormatError('prompt_embeds must be a base64 string');
  if (base64.length === 0) throw new TorchFormatError('prompt_embeds is empty');
  const bytes = Buffer.from(base64, 'base64');
  // Re-encoding and comparing is several times faster than a regex over megabytes: an identical
  // result proves every character valid and the padding right. A difference is either an error or
  // non-zero bits in the last character, which Python accepts too; the slow check tells them apart.
  if (bytes.toString('base64') !== base64) checkStrictBase64(base64);
  return readTorchTensor(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}

const BASE64_ALPHABET = /^[A-Za-z0-9+/]$/;

/** The rules of Python's `b64decode(s, validate=True)`; throws with the position of the first fault. */
function checkStrictBase64(s: string): void {
  const firstPad = s.indexOf('=');
  const dataEnd = firstPad < 0 ? s.length : firstPad;
  for (let i = 0; i < dataEnd; i++) {
    if (!BASE64_ALPHABET.test(s[i]!)) {
      throw new TorchFormatError(
        `prompt_embeds is not valid base64: character ${JSON.stringify(s[i])} at index ${i} is outside the standard alphabet`,
      );
    }
  }
  const padding = s.length - dataEnd;
  if (padding > 2 || s.slice(dataEnd) !== '='.repeat(padding)) {
    throw new TorchFormatError(
      `prompt_embeds is not valid base64: padding '=' at index ${dataEnd} is not one or two characters at the end`,
    );
  }
  if (s.length % 4 !== 0) {
    throw new TorchFormatError(
      `prompt_embeds is not valid base64: length ${s.length} is not a multiple of 4 (incorrect padding)`,
    );
  }
}
