/** DHKEM(X25519, HKDF-SHA256), RFC 9180 §4.1 and §7.1. */
import { DecryptionError, InvalidPublicKeyError } from '../errors.js';
import type { HpkeBackend } from './backend.js';
import {
  EMPTY,
  KEM_SUITE_ID,
  LABEL,
  N_ENC,
  N_PK,
  N_SECRET,
  N_SK,
  concat,
  labeledExpand,
  labeledExtract,
} from './suite.js';

export interface KeyPair {
  publicKey: Uint8Array;
  privateKey: Uint8Array;
}

function isAllZero(bytes: Uint8Array): boolean {
  let acc = 0;
  for (const byte of bytes) acc |= byte; // no early exit: the time does not depend on where a 1 is
  return acc === 0;
}

/**
 * DH(sk, pk), refusing what RFC 9180 §7.1.4 says to refuse: an all-zero result, which a low-order
 * public key forces whatever the private key. Backends differ in how they report it (noble throws,
 * OpenSSL errors "failed during key derivation"), so both paths end here, as `undefined`.
 */
function dh(backend: HpkeBackend, privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array | undefined {
  let shared: Uint8Array;
  try {
    shared = backend.x25519(privateKey, publicKey);
  } catch {
    return undefined;
  }
  return shared.length === N_SECRET && !isAllZero(shared) ? shared : undefined;
}

function extractAndExpand(backend: HpkeBackend, dhValue: Uint8Array, kemContext: Uint8Array): Uint8Array {
  const eaePrk = labeledExtract(backend, KEM_SUITE_ID, EMPTY, LABEL.eaePrk, dhValue);
  return labeledExpand(backend, KEM_SUITE_ID, eaePrk, LABEL.sharedSecret, kemContext, N_SECRET);
}

/** DeriveKeyPair(ikm) (§7.1.3): deterministic, used by the RFC's test vectors. */
export function deriveKeyPair(backend: HpkeBackend, ikm: Uint8Array): KeyPair {
  const dkpPrk = labeledExtract(backend, KEM_SUITE_ID, EMPTY, LABEL.dkpPrk, ikm);
  const privateKey = labeledExpand(backend, KEM_SUITE_ID, dkpPrk, LABEL.sk, EMPTY, N_SK);
  return { privateKey, publicKey: backend.x25519PublicKey(privateKey) };
}

/** GenerateKeyPair(): for X25519 any 32 random bytes are a private key (clamping is part of X25519). */
export function generateKeyPair(backend: HpkeBackend): KeyPair {
  return backend.x25519GenerateKeyPair();
}

export interface Encapsulation {
  sharedSecret: Uint8Array;
  enc: Uint8Array;
}

/** Encap(pkR). `ephemeral` replaces the random key pair (only for reproducing test vectors). */
export function encap(backend: HpkeBackend, recipientPublicKey: Uint8Array, ephemeral?: KeyPair): Encapsulation {
  if (recipientPublicKey.length !== N_PK) {
    throw new InvalidPublicKeyError(`An X25519 public key is ${N_PK} bytes, got ${recipientPublicKey.length}.`);
  }
  const { privateKey: skE, publicKey: enc } = ephemeral ?? generateKeyPair(backend);
  const dhValue = dh(backend, skE, recipientPublicKey);
  if (!dhValue)
    throw new InvalidPublicKeyError(
      'The X25519 public key is a low-order point; no shared secret can be derived from it.',
    );
  return { sharedSecret: extractAndExpand(backend, dhValue, concat(enc, recipientPublicKey)), enc };
}

/**
 * Decap(enc, skR). `recipientPublicKey` saves recomputing pk(skR) when the caller has it; it must
 * be the public key of `recipientPrivateKey`.
 */
export function decap(
  backend: HpkeBackend,
  enc: Uint8Array,
  recipientPrivateKey: Uint8Array,
  recipientPublicKey: Uint8Array = backend.x25519PublicKey(recipientPrivateKey),
): Uint8Array {
  if (enc.length !== N_ENC) throw new DecryptionError(`The encapsulated key is ${N_ENC} bytes, got ${enc.length}.`);
  if (recipientPrivateKey.length !== N_SK)
    throw new RangeError(`An X25519 private key is ${N_SK} bytes, got ${recipientPrivateKey.length}.`);
  const dhValue = dh(backend, recipientPrivateKey, enc);
  if (!dhValue) throw new DecryptionError('The encapsulated key is a low-order X25519 point.');
  return extractAndExpand(backend, dhValue, concat(enc, recipientPublicKey));
}
