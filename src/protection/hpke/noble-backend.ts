import { gcm } from '@noble/ciphers/aes.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { randomBytes } from '@noble/hashes/utils.js';
import type { AeadKey, HpkeBackend } from './backend.js';

function nobleAes128Gcm(key: Uint8Array): AeadKey {
  return {
    seal: (nonce, aad, plaintext) => gcm(key, nonce, aad).encrypt(plaintext),
    open(nonce, aad, ciphertext) {
      try {
        return gcm(key, nonce, aad).decrypt(ciphertext);
      } catch {
        return undefined; // "invalid ghash tag" (or a ciphertext shorter than the tag)
      }
    },
  };
}

/** Pure JavaScript (@noble/curves, @noble/hashes, @noble/ciphers): runs wherever JS does. */
export const nobleBackend: HpkeBackend = {
  name: '@noble',
  x25519: (privateKey, publicKey) => x25519.getSharedSecret(privateKey, publicKey),
  x25519PublicKey: (privateKey) => x25519.getPublicKey(privateKey),
  hmacSha256(key, parts) {
    const mac = hmac.create(sha256, key);
    for (const part of parts) mac.update(part);
    return mac.digest();
  },
  aes128gcm: nobleAes128Gcm,
  x25519GenerateKeyPair() {
    const privateKey = randomBytes(32);
    return { privateKey, publicKey: x25519.getPublicKey(privateKey) };
  },
};
