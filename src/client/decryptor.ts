/**
 * Decrypting one response: the decryptor (fields in emission order, refusing everything after
 * the first failure) and its stream helper.
 */
import { DecryptionError } from '../protection/errors.js';
import type { HpkeBackend } from '../protection/hpke/backend.js';
import { chunkOpener } from '../protection/stages.js';
import {
  DEFAULT_SERVER_PUBLIC_KEY_HEADER,
  OUTPUT_PROTECTION_VERSION_HEADER,
  parseAnsweredVersion,
  parseServerPublicKey,
  setupProtectedRecipient,
  type ProtectionVersion,
} from '../protection/wire.js';

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
