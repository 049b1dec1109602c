/**
 * The three primitives HPKE needs, behind one small interface so that a suite can be assembled
 * from different implementations (pure-JS @noble/* or node:crypto / OpenSSL) and measured side by
 * side. Everything takes and returns bytes; nothing here knows about HPKE's labels.
 */

/** One AES-128-GCM key, prepared once (key schedule, KeyObject) and used for every message. */
export interface AeadKey {
  /** `ciphertext || tag` (16-byte tag). */
  seal(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array;
  /** The plaintext, or `undefined` when the tag does not verify. Never throws for a bad ciphertext. */
  open(nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Uint8Array | undefined;
}

export interface HpkeBackend {
  readonly name: string;
  /** X25519(sk, u) (RFC 7748). May throw or return all zeros for a low-order point; the KEM checks. */
  x25519(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array;
  /** X25519(sk, 9): the public key of a private key. */
  x25519PublicKey(privateKey: Uint8Array): Uint8Array;
  /** A fresh random key pair (a backend may keep a prepared form of it for a later `x25519`). */
  x25519GenerateKeyPair(): { privateKey: Uint8Array; publicKey: Uint8Array };
  /** HMAC-SHA256 over the concatenation of `parts` (HKDF is built on it in `suite.ts`). */
  hmacSha256(key: Uint8Array, parts: readonly Uint8Array[]): Uint8Array;
  aes128gcm(key: Uint8Array): AeadKey;
}
