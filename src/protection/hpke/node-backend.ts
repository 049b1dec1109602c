import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  diffieHellman,
  generateKeyPairSync,
  timingSafeEqual,
  type KeyObject,
} from 'node:crypto';
import type { AeadKey, HpkeBackend } from './backend.js';
import { concat } from './suite.js';

/**
 * A copy in its own ArrayBuffer. Small Buffers are slices of Node's shared 8 KiB pool: handing out
 * such a view would let `result.buffer` reach unrelated memory, and would keep a private key or a
 * plaintext in the pool. Everything here is at most a few hundred bytes, so the copy is noise.
 */
function asBytes(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer);
}

const b64url = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
const fromB64url = (text: string | undefined): Uint8Array => asBytes(Buffer.from(text ?? '', 'base64url'));

/*
 * OpenSSL takes X25519 keys as KeyObjects, and how a raw private key becomes one matters. Node 20
 * has no raw import: PKCS#8 DER costs ~500 µs (OpenSSL 3's generic decoder tries every format), and
 * JWK (~35 µs) demands the public key `x` next to `d` — the very thing we may be asked to compute.
 * So a key this process generates stays a KeyObject and is never imported, and a key from
 * elsewhere (a test vector, a client's stored key) is imported once by DER and remembered, by
 * identity and checked byte for byte. A public key imports from JWK in ~7 µs; the DH is ~35 µs.
 */
const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

interface PreparedPrivateKey {
  bytes: Uint8Array; // a private copy: the caller's array may be reused for another key
  keyObject: KeyObject;
  publicKey: Uint8Array;
}

const preparedKeys = new WeakMap<Uint8Array, PreparedPrivateKey>();

function prepare(privateKey: Uint8Array, keyObject: KeyObject, publicKey: Uint8Array): PreparedPrivateKey {
  const prepared = { bytes: privateKey.slice(), keyObject, publicKey };
  preparedKeys.set(privateKey, prepared);
  return prepared;
}

function preparedPrivateKey(privateKey: Uint8Array): PreparedPrivateKey {
  const known = preparedKeys.get(privateKey);
  if (known && known.bytes.length === privateKey.length && timingSafeEqual(known.bytes, privateKey)) return known;
  if (privateKey.length !== 32) throw new RangeError(`An X25519 private key is 32 bytes, got ${privateKey.length}.`);
  const keyObject = createPrivateKey({
    key: Buffer.concat([PKCS8_X25519_PREFIX, privateKey]),
    format: 'der',
    type: 'pkcs8',
  });
  return prepare(privateKey, keyObject, fromB64url(keyObject.export({ format: 'jwk' }).x));
}

function publicKeyObject(publicKey: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: b64url(publicKey) }, format: 'jwk' });
}

const TAG_LENGTH = 16;

function nodeAes128Gcm(rawKey: Uint8Array): AeadKey {
  const key = createSecretKey(rawKey);
  return {
    seal(nonce, aad, plaintext) {
      const cipher = createCipheriv('aes-128-gcm', key, nonce, { authTagLength: TAG_LENGTH });
      cipher.setAAD(aad);
      const head = cipher.update(plaintext);
      const tail = cipher.final(); // empty for GCM, which is a stream mode
      return concat(head, tail, cipher.getAuthTag());
    },
    open(nonce, aad, ciphertext) {
      if (ciphertext.length < TAG_LENGTH) return undefined;
      const decipher = createDecipheriv('aes-128-gcm', key, nonce, { authTagLength: TAG_LENGTH });
      decipher.setAAD(aad);
      decipher.setAuthTag(ciphertext.subarray(ciphertext.length - TAG_LENGTH));
      const head = decipher.update(ciphertext.subarray(0, ciphertext.length - TAG_LENGTH));
      try {
        return concat(head, decipher.final());
      } catch {
        return undefined; // "Unsupported state or unable to authenticate data": the tag did not verify
      }
    },
  };
}

/** node:crypto (OpenSSL) for every primitive. */
export const nodeBackend: HpkeBackend = {
  name: 'node:crypto',
  x25519(privateKey, publicKey) {
    const { keyObject } = preparedPrivateKey(privateKey);
    return asBytes(diffieHellman({ privateKey: keyObject, publicKey: publicKeyObject(publicKey) }));
  },
  x25519PublicKey: (privateKey) => preparedPrivateKey(privateKey).publicKey,
  x25519GenerateKeyPair() {
    const { privateKey: keyObject } = generateKeyPairSync('x25519');
    const jwk = keyObject.export({ format: 'jwk' });
    const privateKey = fromB64url(jwk.d);
    const publicKey = fromB64url(jwk.x);
    prepare(privateKey, keyObject, publicKey);
    return { privateKey, publicKey };
  },
  hmacSha256(key, parts) {
    const mac = createHmac('sha256', key);
    for (const part of parts) mac.update(part);
    return asBytes(mac.digest());
  },
  aes128gcm: nodeAes128Gcm,
};
