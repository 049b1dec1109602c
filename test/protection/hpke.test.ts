import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DecryptionError, InvalidPublicKeyError, MessageLimitReachedError } from '../../src/protection/errors.js';
import { setSequenceNumberForTesting } from '../../src/protection/hpke/context.js';
import {
  MAX_SEQUENCE_NUMBER,
  defaultBackend,
  generateKeyPair,
  nobleBackend,
  nodeBackend,
  setupBaseR,
  setupBaseS,
} from '../../src/protection/hpke/index.js';

const INFO = 'sgt-output-protection/v1';
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (bytes: Uint8Array): string => new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);

// Low-order points of Curve25519 (RFC 7748 §5 discussion, libsodium's blocklist): DH with any of
// them is all zeros, which RFC 9180 §7.1.4 requires to be rejected.
const LOW_ORDER = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
];

const SAMPLES = ['', 'a', ' the', 'héllo', '日本語', '😀', 'a😀b', '\uFEFFbom', 'x'.repeat(5000), '\u0000nul'];

describe.each([nodeBackend, nobleBackend])('HPKE with $name', (backend) => {
  it('round-trips texts, multi-byte UTF-8 and empty ones included, in order', () => {
    const recipient = generateKeyPair({ backend });
    const { enc, context: sender } = setupBaseS(recipient.publicKey, INFO, { backend });
    const receiver = setupBaseR(enc, recipient.privateKey, INFO, { backend });
    for (const sample of SAMPLES) {
      const ct = sender.seal(utf8('0'), utf8(sample));
      expect(ct.length).toBe(utf8(sample).length + 16);
      expect(text(receiver.open(utf8('0'), ct))).toBe(sample);
    }
    expect(receiver.seq).toBe(SAMPLES.length);
  });

  it('round-trips random bytes of random lengths', () => {
    const recipient = generateKeyPair({ backend });
    const { enc, context: sender } = setupBaseS(recipient.publicKey, INFO, { backend });
    const receiver = setupBaseR(enc, recipient.privateKey, INFO, { backend });
    for (let i = 0; i < 50; i++) {
      const pt = new Uint8Array(randomBytes((i * 7) % 97));
      const aad = new Uint8Array(randomBytes(i % 5));
      expect(receiver.open(aad, sender.seal(aad, pt))).toEqual(pt);
    }
  });

  it('interoperates with the other backend', () => {
    const other = backend === nodeBackend ? nobleBackend : nodeBackend;
    const recipient = generateKeyPair({ backend: other });
    const { enc, context: sender } = setupBaseS(recipient.publicKey, INFO, { backend });
    const receiver = setupBaseR(enc, recipient.privateKey, INFO, { backend: other });
    expect(text(receiver.open(utf8('1'), sender.seal(utf8('1'), utf8('both ways'))))).toBe('both ways');
    expect(sender.export(utf8('ctx'), 32)).toEqual(receiver.export(utf8('ctx'), 32));
  });

  describe('fails closed', () => {
    const pair = () => {
      const recipient = generateKeyPair({ backend });
      const { enc, context: sender } = setupBaseS(recipient.publicKey, INFO, { backend });
      return { recipient, enc, sender, receiver: setupBaseR(enc, recipient.privateKey, INFO, { backend }) };
    };

    it('on a flipped ciphertext or tag bit, and a truncated ciphertext', () => {
      const { sender, receiver } = pair();
      const ct = sender.seal(utf8('0'), utf8('secret'));
      for (const position of [0, ct.length - 1]) {
        const tampered = ct.slice();
        tampered[position]! ^= 0x01;
        expect(() => receiver.open(utf8('0'), tampered)).toThrow(DecryptionError);
      }
      expect(() => receiver.open(utf8('0'), ct.subarray(0, 15))).toThrow(DecryptionError);
      expect(() => receiver.open(utf8('0'), ct.subarray(1))).toThrow(DecryptionError);
      expect(text(receiver.open(utf8('0'), ct))).toBe('secret'); // failures did not advance the sequence
    });

    it('on the wrong aad', () => {
      const { sender, receiver } = pair();
      expect(() => receiver.open(utf8('1'), sender.seal(utf8('0'), utf8('secret')))).toThrow(DecryptionError);
    });

    it('on messages out of order, and on a dropped message', () => {
      const { sender, receiver } = pair();
      const [a, b, c] = ['one', 'two', 'three'].map((t) => sender.seal(utf8('0'), utf8(t)));
      expect(() => receiver.open(utf8('0'), b!)).toThrow(DecryptionError); // reordered
      expect(text(receiver.open(utf8('0'), a!))).toBe('one');
      expect(() => receiver.open(utf8('0'), c!)).toThrow(DecryptionError); // b dropped
      expect(() => receiver.open(utf8('0'), a!)).toThrow(DecryptionError); // replayed
    });

    it('for another recipient key, another info, another enc', () => {
      const { enc, sender } = pair();
      const ct = sender.seal(utf8('0'), utf8('secret'));
      const stranger = generateKeyPair({ backend });
      expect(() => setupBaseR(enc, stranger.privateKey, INFO, { backend }).open(utf8('0'), ct)).toThrow(
        DecryptionError,
      );
      const { recipient } = pair();
      const { enc: enc2 } = setupBaseS(recipient.publicKey, INFO, { backend });
      expect(() => setupBaseR(enc2, recipient.privateKey, INFO, { backend }).open(utf8('0'), ct)).toThrow(
        DecryptionError,
      );
    });

    it('with another info string', () => {
      const recipient = generateKeyPair({ backend });
      const { enc, context: sender } = setupBaseS(recipient.publicKey, INFO, { backend });
      const receiver = setupBaseR(enc, recipient.privateKey, 'sgt-output-protection/v2', { backend });
      expect(() => receiver.open(utf8('0'), sender.seal(utf8('0'), utf8('x')))).toThrow(DecryptionError);
    });
  });

  it.each(LOW_ORDER)('refuses the low-order public key %s', (hexKey) => {
    const key = Uint8Array.from(Buffer.from(hexKey, 'hex'));
    expect(() => setupBaseS(key, INFO, { backend })).toThrow(InvalidPublicKeyError);
    const recipient = generateKeyPair({ backend });
    expect(() => setupBaseR(key, recipient.privateKey, INFO, { backend })).toThrow(DecryptionError);
  });

  it('refuses keys of the wrong length', () => {
    expect(() => setupBaseS(new Uint8Array(31), INFO, { backend })).toThrow(InvalidPublicKeyError);
    const recipient = generateKeyPair({ backend });
    expect(() => setupBaseR(new Uint8Array(33), recipient.privateKey, INFO, { backend })).toThrow(DecryptionError);
  });
});

describe('sequence numbers', () => {
  it('the last sequence number seals and opens; the next one is MessageLimitReachedError, on both sides', () => {
    const recipient = generateKeyPair();
    const { enc, context: sender } = setupBaseS(recipient.publicKey, INFO);
    const receiver = setupBaseR(enc, recipient.privateKey, INFO);
    setSequenceNumberForTesting(sender, MAX_SEQUENCE_NUMBER - 1);
    setSequenceNumberForTesting(receiver, MAX_SEQUENCE_NUMBER - 1);
    const last = sender.seal(utf8('0'), utf8('last'));
    expect(text(receiver.open(utf8('0'), last))).toBe('last');
    expect(sender.seq).toBe(MAX_SEQUENCE_NUMBER);
    expect(() => sender.seal(utf8('0'), utf8('one too many'))).toThrow(MessageLimitReachedError);
    expect(() => receiver.open(utf8('0'), last)).toThrow(MessageLimitReachedError);
    expect(sender.seq).toBe(MAX_SEQUENCE_NUMBER); // no wrap-around to a used nonce
  });

  it('high sequence numbers give the nonce the RFC computes (agreement between backends past 2^32)', () => {
    const recipient = generateKeyPair();
    const ephemeral = generateKeyPair();
    const results = [nodeBackend, nobleBackend].map((backend) => {
      const { context } = setupBaseS(recipient.publicKey, INFO, { backend, ephemeralKeyPair: ephemeral });
      setSequenceNumberForTesting(context, 2 ** 40 + 5);
      return Buffer.from(context.seal(utf8('0'), utf8('far'))).toString('hex');
    });
    expect(results[0]).toBe(results[1]);
    const receiver = setupBaseR(ephemeral.publicKey, recipient.privateKey, INFO);
    setSequenceNumberForTesting(receiver, 2 ** 40 + 5);
    expect(text(receiver.open(utf8('0'), Buffer.from(results[0]!, 'hex')))).toBe('far');
  });
});

describe('keys', () => {
  it('generateKeyPair gives distinct 32-byte keys whose public key matches the private one', () => {
    const a = generateKeyPair();
    const b = generateKeyPair();
    expect(a.publicKey).toHaveLength(32);
    expect(a.privateKey).toHaveLength(32);
    expect(a.privateKey).not.toEqual(b.privateKey);
    expect(nobleBackend.x25519PublicKey(a.privateKey)).toEqual(a.publicKey);
    expect(defaultBackend.x25519PublicKey(a.privateKey)).toEqual(a.publicKey);
  });

  it('the node backend does not confuse a reused private-key array with the key it first held', () => {
    const first = generateKeyPair({ backend: nodeBackend });
    const reused = first.privateKey;
    const second = generateKeyPair({ backend: nobleBackend });
    reused.set(second.privateKey);
    expect(nodeBackend.x25519PublicKey(reused)).toEqual(second.publicKey);
  });
});
