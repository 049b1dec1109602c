import { createDecryptingFetch, type DecryptingFetchOptions } from '../../src/client/index.js';

/**
 * The two ways an answer reaches an SDK with output protection on: the proxy holds the key and
 * decrypts (SGP_OUTPUT_DECRYPTION=true), or it relays the client's key and the ciphertext
 * (pass-through) and the SDK is given the client library's decrypting `fetch`.
 */
export const PROTECTION_MODES = ['proxy decrypts', 'pass-through'] as const;
export type ProtectionMode = (typeof PROTECTION_MODES)[number];

/** The proxy's protection settings for a mode. */
export function proxyProtection(mode: ProtectionMode): { decrypt: boolean } {
  return { decrypt: mode === 'proxy decrypts' };
}

/** The SDK's `fetch` for a mode: the decrypting one in pass-through, the SDK's own otherwise. */
export function sdkFetch(
  mode: ProtectionMode,
  options: DecryptingFetchOptions = {},
): { fetch?: typeof globalThis.fetch } {
  return mode === 'pass-through' ? { fetch: createDecryptingFetch({ toolParser: 'hermes', ...options }) } : {};
}
