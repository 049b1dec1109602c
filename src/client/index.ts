/**
 * `sgt-proxy/client`: decrypt output-protected responses in your own application (wire formats v1
 * and v2, docs/output-protection.md), and turn a decrypted chat stream's text into OpenAI tool-call
 * chunks (pass-through mode, where the proxy cannot read the text). `createDecryptingFetch` does
 * all of it for any OpenAI-compatible SDK that takes a `fetch`. Small on purpose: HPKE, the field
 * rules and the tool parser, no server code.
 *
 * ```ts
 * import OpenAI from 'openai';
 * import { generateKeyPair, clientKeyHeaders, createResponseDecryptor, decryptChatStream, SERVER_PUBLIC_KEY_HEADER } from 'sgt-proxy/client';
 *
 * const keys = generateKeyPair();
 * const openai = new OpenAI({ baseURL, apiKey, defaultHeaders: clientKeyHeaders(keys.publicKey) });
 * const { data, response } = await openai.chat.completions.create({ model, messages, stream: true }).withResponse();
 * const decryptor = createResponseDecryptor(response.headers.get(SERVER_PUBLIC_KEY_HEADER), keys.privateKey);
 * for await (const chunk of decryptChatStream(data, decryptor)) process.stdout.write(chunk.choices[0]?.delta.content ?? '');
 * ```
 */
import { DecryptionError } from '../protection/errors.js';
import type { KeyPair } from '../protection/hpke/kem.js';
import { generateKeyPair as hpkeGenerateKeyPair } from '../protection/hpke/setup.js';
import {
  DEFAULT_CLIENT_PUBLIC_KEY_HEADER,
  DEFAULT_SERVER_PUBLIC_KEY_HEADER,
  OUTPUT_PROTECTION_INFO,
  OUTPUT_PROTECTION_VERSION_HEADER,
  PUBLIC_KEY_BYTES,
  encodeBase64,
  type ProtectionVersion,
} from '../protection/wire.js';

export {
  DecryptionError,
  OUTPUT_PROTECTION_INFO,
  OUTPUT_PROTECTION_VERSION_HEADER,
  type KeyPair,
  type ProtectionVersion,
};
export { toolCallChunks, type ToolCallChunkOptions } from './tool-calls.js';
export {
  createResponseDecryptor,
  decryptChatStream,
  type ChatCompletionChunkLike,
  type ChatCompletionLike,
  type CompletionLike,
  type HeadersLike,
  type ResponseDecryptor,
  type ResponseDecryptorOptions,
} from './decryptor.js';
export { createDecryptingFetch, type DecryptingFetchOptions } from './decrypting-fetch.js';
export { ChatOutputParser, parseChatOutput, TOOL_PARSERS, type ToolParserName } from '../chat-output/index.js';

/** The request header that carries your public key (servers may be configured with another name). */
export const CLIENT_PUBLIC_KEY_HEADER = DEFAULT_CLIENT_PUBLIC_KEY_HEADER;
/** The response header that carries the server's encapsulated key. */
export const SERVER_PUBLIC_KEY_HEADER = DEFAULT_SERVER_PUBLIC_KEY_HEADER;

/** A fresh X25519 key pair (32-byte keys). Keep `privateKey` in memory; send `publicKey`. */
export function generateKeyPair(): KeyPair {
  return hpkeGenerateKeyPair();
}

/** The value of the client key header: standard base64 with padding of the 32-byte public key. */
export function publicKeyHeader(publicKey: Uint8Array): string {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== PUBLIC_KEY_BYTES) {
    throw new RangeError(`An X25519 public key is ${PUBLIC_KEY_BYTES} bytes.`);
  }
  return encodeBase64(publicKey);
}

export interface ClientKeyHeaderOptions {
  /** Default `x-client-public-key`. */
  headerName?: string;
  /**
   * The wire format to ask for (default 1, what every server speaks). 2 also encrypts logprobs
   * tokens, tool calls, reasoning and `stop_reason`; a server answering v1 refuses logprobs.
   */
  version?: ProtectionVersion;
}

/**
 * `{ 'x-client-public-key': base64(publicKey) }` (and `x-output-protection-version` when a version
 * is asked for), for the OpenAI SDK's `defaultHeaders` or `headers`. A string is the header name.
 */
export function clientKeyHeaders(
  publicKey: Uint8Array,
  options: string | ClientKeyHeaderOptions = {},
): Record<string, string> {
  const { headerName = CLIENT_PUBLIC_KEY_HEADER, version } =
    typeof options === 'string' ? { headerName: options } : options;
  const headers: Record<string, string> = { [headerName]: publicKeyHeader(publicKey) };
  if (version !== undefined) headers[OUTPUT_PROTECTION_VERSION_HEADER] = String(version);
  return headers;
}
