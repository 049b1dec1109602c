/**
 * `sgt-proxy/client`: decrypt output-protected responses in your own application (wire formats v1
 * and v2, docs/output-protection.md), and turn a decrypted chat stream's text into OpenAI tool-call
 * chunks (pass-through mode, where the proxy cannot read the text). Small on purpose: HPKE, the
 * field rules and the tool parser, no server code.
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
import type { HpkeBackend } from '../protection/hpke/backend.js';
import type { KeyPair } from '../protection/hpke/kem.js';
import { generateKeyPair as hpkeGenerateKeyPair } from '../protection/hpke/setup.js';
import { chunkOpener } from '../protection/stages.js';
import {
  DEFAULT_CLIENT_PUBLIC_KEY_HEADER,
  DEFAULT_SERVER_PUBLIC_KEY_HEADER,
  OUTPUT_PROTECTION_INFO,
  OUTPUT_PROTECTION_VERSION_HEADER,
  PUBLIC_KEY_BYTES,
  encodeBase64,
  parseAnsweredVersion,
  parseServerPublicKey,
  setupProtectedRecipient,
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

/** The parts of a `chat.completion.chunk` that are read (the OpenAI SDK's type fits). */
export interface ChatCompletionChunkLike {
  choices: ReadonlyArray<{
    index: number;
    delta?: { content?: string | null } | null;
    finish_reason?: string | null;
  }>;
}

/** The parts of a `chat.completion` that are read. */
export interface ChatCompletionLike {
  choices: ReadonlyArray<{ index: number; message?: { content?: string | null } | null }>;
}

/** A `text_completion` body or chunk (`/v1/completions`). */
export interface CompletionLike {
  choices: ReadonlyArray<{ index: number; text?: string | null }>;
}

/**
 * Decrypts one response. Fields must be given in the order the server sent them (chunk after
 * chunk, as they arrive). Each method decrypts in place and returns the object it was given.
 * After a failure every later call fails too: the rest of the response cannot be trusted.
 */
export interface ResponseDecryptor {
  decryptChatChunk<T extends ChatCompletionChunkLike>(chunk: T): T;
  decryptChatCompletion<T extends ChatCompletionLike>(body: T): T;
  /** `/v1/completions` (vLLM directly): a stream chunk or a whole body. */
  decryptCompletion<T extends CompletionLike>(chunkOrBody: T): T;
  /** How many fields have been decrypted (the next field's sequence number). */
  readonly decryptedFields: number;
}

export interface ResponseDecryptorOptions {
  /** The response header's name, for error messages (default `x-server-public-key`). */
  serverKeyHeader?: string;
  /** The HPKE primitives (default node:crypto); `nobleBackend` from `sgt-proxy` runs without node:crypto. */
  backend?: HpkeBackend;
  /**
   * The wire format of the response, when the first argument is the server key header's value
   * (default 1). With the response's headers, it is read from `x-output-protection-version`.
   */
  version?: ProtectionVersion;
}

/** The response headers (a fetch `Headers`, the OpenAI SDK's `response.headers`). */
export interface HeadersLike {
  get(name: string): string | null;
}

/** The version a decryptor uses: the response's header when given the headers, else the option. */
function answeredVersion(
  source: string | null | undefined | HeadersLike,
  options: ResponseDecryptorOptions,
): ProtectionVersion {
  if (typeof source === 'object' && source !== null)
    return parseAnsweredVersion(source.get(OUTPUT_PROTECTION_VERSION_HEADER));
  return options.version ?? 1;
}

/**
 * A decryptor for one response, from its headers (preferred: the server key and the wire version
 * are both read there) or its server key header's value, and your private key. A missing
 * server key (the server did not encrypt) or a malformed one throws DecryptionError here.
 */
export function createResponseDecryptor(
  responseHeaders: string | null | undefined | HeadersLike,
  privateKey: Uint8Array,
  options: ResponseDecryptorOptions = {},
): ResponseDecryptor {
  const headerName = options.serverKeyHeader ?? DEFAULT_SERVER_PUBLIC_KEY_HEADER;
  const keyValue =
    typeof responseHeaders === 'object' && responseHeaders !== null ? responseHeaders.get(headerName) : responseHeaders;
  const enc = parseServerPublicKey(keyValue, headerName);
  const context = setupProtectedRecipient(
    enc,
    privateKey,
    answeredVersion(responseHeaders, options),
    options.backend ? { backend: options.backend } : {},
  );
  const open = chunkOpener(context, true);
  let failure: DecryptionError | undefined;

  const decrypt = <T>(value: T): T => {
    if (failure) {
      throw new DecryptionError(
        'An earlier field of this response failed to decrypt; the rest of it cannot be trusted.',
        { cause: failure },
      );
    }
    try {
      return open(value);
    } catch (err) {
      if (err instanceof DecryptionError) failure = err;
      throw err;
    }
  };

  return {
    decryptChatChunk: decrypt,
    decryptChatCompletion: decrypt,
    decryptCompletion: decrypt,
    get decryptedFields() {
      return context.seq;
    },
  };
}

/**
 * Decrypts a chat stream as you iterate it (e.g. the OpenAI SDK's `Stream`). A chunk that does not
 * decrypt ends the iteration with DecryptionError, and the underlying stream is closed.
 */
export async function* decryptChatStream<T extends ChatCompletionChunkLike>(
  stream: AsyncIterable<T>,
  decryptor: ResponseDecryptor,
): AsyncGenerator<T, void, undefined> {
  for await (const chunk of stream) yield decryptor.decryptChatChunk(chunk);
}
