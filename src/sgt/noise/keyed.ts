/**
 * The transform's noise: N(0, 1) values from an AES-256-CTR keystream, so that knowing any number
 * of noise values (a server holding the SGT weights can compute them at positions whose plaintext
 * it knows) reveals nothing about the others. See docs/privacy.md for the threat model.
 *
 * Each position t gets its own keystream: counter blocks `nonce_t ‖ be32(block)` under the
 * request's AES key, where nonce_t is the first 12 bytes of a hash chain over the prompt's ids:
 *
 *   d₋₁ = root,   d_t = SHA-256(d_{t-1} ‖ le32(ids[t]))
 *
 * so the noise at t depends on the key, the root and the prefix ids[0..t] only, costs one hash per
 * token (not per prefix), and does not depend on the batch, on padding or on later tokens. The
 * root is what the noise mode chooses (NoiseKeys): secret-derived and shared by every request in
 * `prefix` mode (the same prefix always gives the same noise), per request in `fresh` mode.
 *
 * The ziggurat (ziggurat.ts) turns each position's words into H normals; it usually needs
 * H words and rarely a few more, so each position is given H + H/8 + 16 words and, in the
 * vanishingly rare case that is not enough, a longer stream from the same counter blocks.
 */
import { createCipheriv, createHmac, hash, randomBytes } from 'node:crypto';
import { normalsFromWords } from './ziggurat.js';

export type NoiseMode = 'prefix' | 'fresh';

export const NOISE_MODES: readonly NoiseMode[] = ['prefix', 'fresh'];

/** What one request's noise is computed from. Hold it like a key: with it, the noise is known. */
export interface NoiseKey {
  /** AES-256 key of the keystream (32 bytes). */
  readonly cipherKey: Uint8Array;
  /** Start of the prefix hash chain (32 bytes). */
  readonly root: Uint8Array;
}

/** Version tag of every derivation below: bump it whenever the noise for the same inputs changes. */
const DOMAIN = 'sgt-noise/v2';
const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const BLOCK_BYTES = 16;
/**
 * Above this many keystream bytes per position one native CTR call per position is cheaper than
 * building every counter block in JS for one ECB call (measured, 2-core dev VM: T 512 × H 4096
 * ECB 12 ms vs CTR 3.6 ms; H 256 ECB 0.5 ms vs CTR 1.5 ms). Both give the same bits.
 */
const CTR_MIN_POSITION_BYTES = 4096;

/**
 * The noise keys of one noise secret (`SGP_NOISE_SECRET`) for one transform, derived once. Bound to
 * the transform's fingerprint (`Sgt.fingerprint`): the same prompt through two versions of an
 * artifact under one secret gets independent noise, since a server holding both sets of weights
 * could otherwise cancel a shared ε between the two tensors.
 */
export class NoiseKeys {
  private readonly bound: Uint8Array;
  private readonly cipherKey: Uint8Array;
  private readonly prefixRoot: Uint8Array;

  constructor(secret: Uint8Array, transformFingerprint: string) {
    if (secret.length < 16) throw new RangeError('a noise secret needs at least 16 bytes');
    this.bound = hmac(secret, `${DOMAIN} transform:${transformFingerprint}`);
    this.cipherKey = hmac(this.bound, `${DOMAIN} aes-256-ctr key`);
    this.prefixRoot = hmac(this.bound, `${DOMAIN} prefix root`);
  }

  /**
   * The key of a request. `prefix`: one key for all requests, whatever their `seed` (a seed that
   * changed the noise would let repeated prompts with different seeds be averaged). `fresh`: a
   * random root per request, or, with a `seed`, a root derived from the secret and the seed, so
   * that the seed reproduces the embeddings while the server, which sees the seed, still cannot.
   */
  forRequest(mode: NoiseMode, seed?: number | bigint | null): NoiseKey {
    // Copies: a caller that wipes its key must not wipe every later request's.
    const cipherKey = this.cipherKey.slice();
    if (mode === 'prefix') return { cipherKey, root: this.prefixRoot.slice() };
    const root = seed == null ? randomBytes(KEY_BYTES) : hmac(this.bound, `${DOMAIN} seed root:${seed}`);
    return { cipherKey, root };
  }
}

/** A key from the OS CSPRNG: fresh noise that nobody, this process included, can reproduce. */
export function randomNoiseKey(): NoiseKey {
  return { cipherKey: randomBytes(KEY_BYTES), root: randomBytes(KEY_BYTES) };
}

/** Throws unless `key` has the shape of a NoiseKey (32-byte key and root). */
export function assertNoiseKey(key: NoiseKey): void {
  if (
    !(key.cipherKey instanceof Uint8Array) ||
    key.cipherKey.length !== KEY_BYTES ||
    !(key.root instanceof Uint8Array) ||
    key.root.length !== KEY_BYTES
  ) {
    throw new TypeError('a noise key has a 32-byte cipherKey and a 32-byte root');
  }
}

/** The noise of a whole prompt, [ids.length, hidden] row-major. */
export function noiseFor(ids: ArrayLike<number>, hidden: number, key: NoiseKey): Float32Array {
  const out = new Float32Array(ids.length * hidden);
  new PromptNoise(ids, key).fill(out, 0, ids.length, hidden);
  return out;
}

/** The noise of one prompt, generated in ranges of positions (the prefix chain is hashed once). */
export class PromptNoise {
  private readonly nonces: Uint8Array;

  constructor(
    ids: ArrayLike<number>,
    private readonly key: NoiseKey,
  ) {
    this.nonces = prefixNonces(ids, key.root);
  }

  /** Writes positions [from, to) into `out` ((to − from) · hidden values); ranges compose exactly. */
  fill(out: Float32Array, from: number, to: number, hidden: number): void {
    if (out.length !== (to - from) * hidden)
      throw new RangeError(`noise buffer has ${out.length} values, expected ${(to - from) * hidden}`);
    const { cipherKey } = this.key;
    const nonces = this.nonces.subarray(from * NONCE_BYTES, to * NONCE_BYTES);
    const positions = to - from;
    const blocks = Math.ceil(wordsPerPosition(hidden) / 4);
    const stream =
      blocks * BLOCK_BYTES >= CTR_MIN_POSITION_BYTES ? undefined : ecbKeystream(cipherKey, nonces, positions, blocks);
    for (let p = 0; p < positions; p++) {
      const row = out.subarray(p * hidden, (p + 1) * hidden);
      const nonce = nonces.subarray(p * NONCE_BYTES, (p + 1) * NONCE_BYTES);
      const words =
        stream === undefined
          ? ctrKeystream(cipherKey, nonce, blocks)
          : stream.subarray(p * blocks * 4, (p + 1) * blocks * 4);
      if (normalsFromWords(words, row) >= 0) continue;
      // Not enough words (probability far below 1e-30 per position at H ≥ 64): a longer stream.
      for (let more = blocks * 2; normalsFromWords(ctrKeystream(cipherKey, nonce, more), row) < 0; more *= 2);
    }
  }
}

function wordsPerPosition(hidden: number): number {
  return hidden + (hidden >> 3) + 16;
}

/** nonce_t for every position, 12 bytes each, from the hash chain of the file comment. */
function prefixNonces(ids: ArrayLike<number>, root: Uint8Array): Uint8Array {
  const to = ids.length;
  const nonces = new Uint8Array(to * NONCE_BYTES);
  const link = new Uint8Array(KEY_BYTES + 4);
  const view = new DataView(link.buffer);
  link.set(root);
  for (let t = 0; t < to; t++) {
    view.setUint32(KEY_BYTES, ids[t] as number, true);
    const digest = hash('sha256', link, 'buffer');
    link.set(digest);
    nonces.set(digest.subarray(0, NONCE_BYTES), t * NONCE_BYTES);
  }
  return nonces;
}

let zeros = new Uint8Array(0);

/** `blocks` keystream blocks of one position as int32 words (one native AES-CTR call). */
function ctrKeystream(cipherKey: Uint8Array, nonce: Uint8Array, blocks: number): Int32Array {
  const bytes = blocks * BLOCK_BYTES;
  if (zeros.length < bytes) zeros = new Uint8Array(bytes);
  const iv = new Uint8Array(BLOCK_BYTES);
  iv.set(nonce); // counter bytes 12..15 start at 0, big-endian (OpenSSL's CTR increment)
  const cipher = createCipheriv('aes-256-ctr', cipherKey, iv);
  return int32Words(cipher.update(zeros.subarray(0, bytes)));
}

/**
 * The same keystream for every position at once: the counter blocks written out and encrypted in
 * one ECB call (CTR is ECB over counter blocks). Cheaper than one cipher per position when
 * positions are short.
 */
function ecbKeystream(cipherKey: Uint8Array, nonces: Uint8Array, positions: number, blocks: number): Int32Array {
  const input = new Uint8Array(positions * blocks * BLOCK_BYTES);
  const view = new DataView(input.buffer);
  for (let p = 0; p < positions; p++) {
    const start = p * blocks * BLOCK_BYTES;
    input.set(nonces.subarray(p * NONCE_BYTES, (p + 1) * NONCE_BYTES), start);
    // Replicate the first block by doubling, then write each block's counter.
    for (let filled = BLOCK_BYTES, total = blocks * BLOCK_BYTES; filled < total; filled *= 2) {
      input.copyWithin(start + filled, start, start + Math.min(filled, total - filled));
    }
    for (let b = 1; b < blocks; b++) view.setUint32(start + b * BLOCK_BYTES + NONCE_BYTES, b, false);
  }
  const cipher = createCipheriv('aes-256-ecb', cipherKey, null);
  cipher.setAutoPadding(false);
  return int32Words(cipher.update(input));
}

/** The keystream is read as little-endian words (docs/privacy.md); typed arrays use the host's order. */
const LITTLE_ENDIAN_HOST = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/** The bytes as int32 words; copied when the Buffer (a pooled slice) is not 4-byte aligned. */
function int32Words(bytes: Buffer): Int32Array {
  if (!LITTLE_ENDIAN_HOST) throw new Error('keyed noise needs a little-endian host (so do prompt_embeds)');
  if (bytes.byteOffset % 4 === 0) return new Int32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  return new Int32Array(new Uint8Array(bytes).buffer);
}

function hmac(secret: Uint8Array, label: string): Uint8Array {
  return new Uint8Array(createHmac('sha256', secret).update(label).digest());
}
