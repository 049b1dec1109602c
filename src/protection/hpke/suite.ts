/**
 * The one suite of wire format v1 (RFC 9180): DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM,
 * and its labeled HKDF (§4). Sizes are the RFC's names (§7): Nsecret, Nenc, Npk, Nsk, Nk, Nn, Nh.
 */
import type { HpkeBackend } from './backend.js';

export const MODE_BASE = 0x00;
export const KEM_ID = 0x0020;
export const KDF_ID = 0x0001;
export const AEAD_ID = 0x0001;

export const N_SECRET = 32;
export const N_ENC = 32;
export const N_PK = 32;
export const N_SK = 32;
export const N_K = 16;
export const N_N = 12;
export const N_H = 32;

const ascii = (text: string): Uint8Array => new TextEncoder().encode(text);

export function i2osp(value: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let rest = value;
  for (let i = length - 1; i >= 0 && rest > 0; i--) {
    out[i] = rest % 256;
    rest = Math.floor(rest / 256);
  }
  if (rest > 0) throw new RangeError(`i2osp: ${value} does not fit in ${length} bytes`);
  return out;
}

export function concat(...parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

export const EMPTY = new Uint8Array(0);
const HPKE_V1 = ascii('HPKE-v1');
/** RFC 5869: an absent salt is Nh zero bytes (HMAC would pad an empty key to the same block). */
const ZERO_SALT = new Uint8Array(N_H);

/** suite_id of the KEM (§4.1) and of the whole HPKE suite (§5.1). */
export const KEM_SUITE_ID = concat(ascii('KEM'), i2osp(KEM_ID, 2));
export const HPKE_SUITE_ID = concat(ascii('HPKE'), i2osp(KEM_ID, 2), i2osp(KDF_ID, 2), i2osp(AEAD_ID, 2));

// Labels, encoded once.
export const LABEL = {
  eaePrk: ascii('eae_prk'),
  sharedSecret: ascii('shared_secret'),
  dkpPrk: ascii('dkp_prk'),
  sk: ascii('sk'),
  pskIdHash: ascii('psk_id_hash'),
  infoHash: ascii('info_hash'),
  secret: ascii('secret'),
  key: ascii('key'),
  baseNonce: ascii('base_nonce'),
  exp: ascii('exp'),
  sec: ascii('sec'),
} as const;

/** LabeledExtract(salt, label, ikm) = Extract(salt, "HPKE-v1" || suite_id || label || ikm). */
export function labeledExtract(
  backend: HpkeBackend,
  suiteId: Uint8Array,
  salt: Uint8Array,
  label: Uint8Array,
  ikm: Uint8Array,
): Uint8Array {
  return backend.hmacSha256(salt.length === 0 ? ZERO_SALT : salt, [HPKE_V1, suiteId, label, ikm]);
}

/**
 * LabeledExpand(prk, label, info, L) = Expand(prk, I2OSP(L, 2) || "HPKE-v1" || suite_id || label || info, L),
 * with HKDF-Expand's T(i) = HMAC(prk, T(i-1) || info || i).
 */
export function labeledExpand(
  backend: HpkeBackend,
  suiteId: Uint8Array,
  prk: Uint8Array,
  label: Uint8Array,
  info: Uint8Array,
  length: number,
): Uint8Array {
  if (!Number.isSafeInteger(length) || length < 0 || length > 255 * N_H) {
    throw new RangeError(`HKDF-Expand: length must be 0..${255 * N_H}, got ${length}`);
  }
  const labeledInfo = concat(i2osp(length, 2), HPKE_V1, suiteId, label, info);
  const out = new Uint8Array(length);
  let previous: Uint8Array = EMPTY;
  for (let offset = 0, counter = 1; offset < length; counter++) {
    previous = backend.hmacSha256(prk, [previous, labeledInfo, Uint8Array.of(counter)]);
    const take = Math.min(previous.length, length - offset);
    out.set(previous.subarray(0, take), offset);
    offset += take;
  }
  return out;
}
