/** SetupBaseS / SetupBaseR (RFC 9180 §5.1.1) and key generation, on a chosen backend. */
import type { HpkeBackend } from './backend.js';
import { HpkeRecipientContext, HpkeSenderContext, keySchedule } from './context.js';
import { defaultBackend } from './default-backend.js';
import {
  decap,
  deriveKeyPair as kemDeriveKeyPair,
  encap,
  generateKeyPair as kemGenerateKeyPair,
  type KeyPair,
} from './kem.js';

export type HpkeInfo = Uint8Array | string;

export interface HpkeOptions {
  /** Which implementation of X25519 / HMAC-SHA256 / AES-128-GCM to use (default: `defaultBackend`). */
  backend?: HpkeBackend;
}

export interface SenderOptions extends HpkeOptions {
  /** Test vectors only: the ephemeral key pair, instead of a fresh random one. Never reuse one. */
  ephemeralKeyPair?: KeyPair;
}

export interface RecipientOptions extends HpkeOptions {
  /** The recipient's public key, when the caller has it (saves one scalar multiplication). */
  recipientPublicKey?: Uint8Array;
}

const encodeInfo = (info: HpkeInfo): Uint8Array => (typeof info === 'string' ? new TextEncoder().encode(info) : info);

/** SetupBaseS(pkR, info): the encapsulated key to send, and the context that seals. */
export function setupBaseS(
  recipientPublicKey: Uint8Array,
  info: HpkeInfo,
  options: SenderOptions = {},
): { enc: Uint8Array; context: HpkeSenderContext } {
  const backend = options.backend ?? defaultBackend;
  const { sharedSecret, enc } = encap(backend, recipientPublicKey, options.ephemeralKeyPair);
  const context = new HpkeSenderContext(backend, keySchedule(backend, sharedSecret, encodeInfo(info)), enc);
  return { enc, context };
}

/** SetupBaseR(enc, skR, info): the context that opens what the sender sealed. */
export function setupBaseR(
  enc: Uint8Array,
  recipientPrivateKey: Uint8Array,
  info: HpkeInfo,
  options: RecipientOptions = {},
): HpkeRecipientContext {
  const backend = options.backend ?? defaultBackend;
  const sharedSecret = decap(backend, enc, recipientPrivateKey, options.recipientPublicKey);
  return new HpkeRecipientContext(backend, keySchedule(backend, sharedSecret, encodeInfo(info)));
}

/** A fresh X25519 key pair (32 random bytes of private key). */
export function generateKeyPair(options: HpkeOptions = {}): KeyPair {
  return kemGenerateKeyPair(options.backend ?? defaultBackend);
}

/** DeriveKeyPair(ikm) (§7.1.3): the same `ikm` always gives the same key pair. */
export function deriveKeyPair(ikm: Uint8Array, options: HpkeOptions = {}): KeyPair {
  return kemDeriveKeyPair(options.backend ?? defaultBackend, ikm);
}
