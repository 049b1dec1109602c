/** The key schedule and the encryption context of RFC 9180 §5 (base mode only). */
import { DecryptionError, MessageLimitReachedError } from '../errors.js';
import type { AeadKey, HpkeBackend } from './backend.js';
import {
  EMPTY,
  HPKE_SUITE_ID,
  LABEL,
  MODE_BASE,
  N_H,
  N_K,
  N_N,
  concat,
  labeledExpand,
  labeledExtract,
} from './suite.js';

export interface KeyScheduleValues {
  keyScheduleContext: Uint8Array;
  secret: Uint8Array;
  key: Uint8Array;
  baseNonce: Uint8Array;
  exporterSecret: Uint8Array;
}

/** KeySchedule(mode_base, shared_secret, info, psk = "", psk_id = "") (§5.1). */
export function keySchedule(backend: HpkeBackend, sharedSecret: Uint8Array, info: Uint8Array): KeyScheduleValues {
  const pskIdHash = labeledExtract(backend, HPKE_SUITE_ID, EMPTY, LABEL.pskIdHash, EMPTY);
  const infoHash = labeledExtract(backend, HPKE_SUITE_ID, EMPTY, LABEL.infoHash, info);
  const keyScheduleContext = concat(Uint8Array.of(MODE_BASE), pskIdHash, infoHash);
  const secret = labeledExtract(backend, HPKE_SUITE_ID, sharedSecret, LABEL.secret, EMPTY);
  return {
    keyScheduleContext,
    secret,
    key: labeledExpand(backend, HPKE_SUITE_ID, secret, LABEL.key, keyScheduleContext, N_K),
    baseNonce: labeledExpand(backend, HPKE_SUITE_ID, secret, LABEL.baseNonce, keyScheduleContext, N_N),
    exporterSecret: labeledExpand(backend, HPKE_SUITE_ID, secret, LABEL.exp, keyScheduleContext, N_H),
  };
}

/**
 * The largest sequence number. RFC 9180 §5.2 lets an implementation keep a sequence number shorter
 * than the nonce (left-padded with zeros) as long as it raises an error on overflow; a JS number is
 * exact up to 2^53 - 1, which no response comes near, and keeps bigint arithmetic off the hot path.
 */
export const MAX_SEQUENCE_NUMBER = Number.MAX_SAFE_INTEGER;

let setSequence: (context: HpkeContext, seq: number) => void;

/** What sender and receiver share: the AEAD key, the nonce sequence and the exporter. */
abstract class HpkeContext {
  readonly #backend: HpkeBackend;
  readonly #aead: AeadKey;
  readonly #baseNonce: Uint8Array;
  readonly #exporterSecret: Uint8Array;
  #seq = 0;

  static {
    setSequence = (context, seq) => {
      context.#seq = seq;
    };
  }

  constructor(backend: HpkeBackend, schedule: KeyScheduleValues) {
    this.#backend = backend;
    this.#aead = backend.aes128gcm(schedule.key);
    this.#baseNonce = schedule.baseNonce;
    this.#exporterSecret = schedule.exporterSecret;
  }

  /** How many messages this context has sealed or opened: the next message's sequence number. */
  get seq(): number {
    return this.#seq;
  }

  /** Export(exporter_context, L) (§5.3): a secret both sides can derive, bound to this context. */
  export(exporterContext: Uint8Array, length: number): Uint8Array {
    return labeledExpand(this.#backend, HPKE_SUITE_ID, this.#exporterSecret, LABEL.sec, exporterContext, length);
  }

  protected get aead(): AeadKey {
    return this.#aead;
  }

  /** ComputeNonce(seq) = base_nonce XOR I2OSP(seq, Nn); refuses before the sequence would overflow. */
  protected currentNonce(): Uint8Array {
    const seq = this.#seq;
    if (seq >= MAX_SEQUENCE_NUMBER) throw new MessageLimitReachedError();
    const nonce = this.#baseNonce.slice();
    // seq < 2^53: its big-endian bytes occupy the last 7 of the 12; split into 32-bit halves.
    let low = seq >>> 0;
    let high = Math.floor(seq / 0x1_0000_0000);
    for (let i = N_N - 1; i >= N_N - 4; i--, low >>>= 8) nonce[i]! ^= low & 0xff;
    for (let i = N_N - 5; i >= N_N - 8 && high > 0; i--, high >>>= 8) nonce[i]! ^= high & 0xff;
    return nonce;
  }

  protected incrementSeq(): void {
    this.#seq += 1;
  }
}

/** The sender's context (SetupBaseS): seals messages in order. */
export class HpkeSenderContext extends HpkeContext {
  /** The encapsulated key to send to the recipient (the ephemeral public key, 32 bytes). */
  readonly enc: Uint8Array;

  constructor(backend: HpkeBackend, schedule: KeyScheduleValues, enc: Uint8Array) {
    super(backend, schedule);
    this.enc = enc;
  }

  /** ContextS.Seal(aad, pt): `ciphertext || tag`, and the sequence number advances. */
  seal(aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    const ciphertext = this.aead.seal(this.currentNonce(), aad, plaintext);
    this.incrementSeq();
    return ciphertext;
  }
}

/** The recipient's context (SetupBaseR): opens messages in the order they were sealed. */
export class HpkeRecipientContext extends HpkeContext {
  /**
   * ContextR.Open(aad, ct): the plaintext, or a DecryptionError when the ciphertext is not the next
   * one sealed for this context with this aad. A failed open does not advance the sequence number.
   */
  open(aad: Uint8Array, ciphertext: Uint8Array): Uint8Array {
    const plaintext = this.aead.open(this.currentNonce(), aad, ciphertext);
    if (!plaintext) {
      throw new DecryptionError(
        `HPKE open failed for message ${this.seq}: the ciphertext was tampered with, reordered or dropped, or sealed for another key.`,
      );
    }
    this.incrementSeq();
    return plaintext;
  }
}

/**
 * Test-only: moves a context to sequence number `seq`, to reach the RFC vectors' later messages
 * and the overflow limit without sealing 2^53 messages. Not exported from the package.
 */
export function setSequenceNumberForTesting(context: HpkeSenderContext | HpkeRecipientContext, seq: number): void {
  if (!Number.isSafeInteger(seq) || seq < 0)
    throw new RangeError(`seq must be a safe non-negative integer, got ${seq}`);
  setSequence(context, seq);
}
