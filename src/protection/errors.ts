import { ApiError, InvalidRequestError, type ApiErrorOptions } from '../errors/index.js';

/**
 * A ciphertext did not open: tampered with, reordered, dropped, replayed, or sealed for another key.
 * Output protection never turns such a field into text. In the proxy it ends the stream like any
 * other upstream failure (502: the upstream sent output we cannot trust); in the client library it
 * is what `decryptChatChunk` and friends throw.
 */
export class DecryptionError extends ApiError {
  constructor(message: string, options: ApiErrorOptions = {}) {
    super(502, 'upstream_error', message, { code: 'output_decryption_failed', ...options });
  }
}

/**
 * RFC 9180 §5.2 MessageLimitReachedError: the context's sequence number would overflow. Sealing
 * once more would reuse a nonce, so the context refuses; nothing short of a new context helps.
 */
export class MessageLimitReachedError extends ApiError {
  constructor() {
    super(500, 'server_error', 'The HPKE context has sealed or opened its last message (sequence number limit).', {
      code: 'hpke_message_limit_reached',
    });
  }
}

/** A public key that X25519 cannot use: wrong length, or a low-order point (all-zero shared secret). */
export class InvalidPublicKeyError extends InvalidRequestError {
  constructor(message: string, options: ApiErrorOptions = {}) {
    super(message, { code: 'invalid_public_key', ...options });
  }
}
