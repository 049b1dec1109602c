import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DecryptionError } from '../../src/protection/errors.js';
import { setSequenceNumberForTesting } from '../../src/protection/hpke/context.js';
import {
  AEAD_ID,
  KDF_ID,
  KEM_ID,
  MODE_BASE,
  decap,
  deriveKeyPair,
  encap,
  keySchedule,
  nobleBackend,
  nodeBackend,
  setupBaseR,
  setupBaseS,
  type HpkeBackend,
} from '../../src/protection/hpke/index.js';

interface VectorFile {
  mode: number;
  kem_id: number;
  kdf_id: number;
  aead_id: number;
  info: string;
  ikmE: string;
  pkEm: string;
  skEm: string;
  ikmR: string;
  pkRm: string;
  skRm: string;
  enc: string;
  shared_secret: string;
  key_schedule_context: string;
  secret: string;
  key: string;
  base_nonce: string;
  exporter_secret: string;
  encryptions: { seq: number; pt: string; aad: string; nonce: string; ct: string }[];
}

const vectors = JSON.parse(
  readFileSync(
    new URL('../../../shared/vectors/hpke-rfc9180-a1-base-x25519-sha256-aes128gcm.json', import.meta.url),
    'utf8',
  ),
) as VectorFile;

const hex = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text, 'hex'));
const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

// A mix is a valid backend too: the hot path may take AES-GCM from one library and X25519 from another.
const mixed: HpkeBackend = {
  ...nobleBackend,
  name: 'noble X25519/HMAC + node AES-GCM',
  aes128gcm: nodeBackend.aes128gcm,
};

describe.each([nodeBackend, nobleBackend, mixed])('RFC 9180 A.1 vectors with $name', (backend) => {
  const info = hex(vectors.info);

  it('is the suite of the vector file', () => {
    expect([vectors.mode, vectors.kem_id, vectors.kdf_id, vectors.aead_id]).toEqual([
      MODE_BASE,
      KEM_ID,
      KDF_ID,
      AEAD_ID,
    ]);
  });

  it('DeriveKeyPair reproduces the ephemeral and recipient key pairs', () => {
    const e = deriveKeyPair(hex(vectors.ikmE), { backend });
    const r = deriveKeyPair(hex(vectors.ikmR), { backend });
    expect(toHex(e.privateKey)).toBe(vectors.skEm);
    expect(toHex(e.publicKey)).toBe(vectors.pkEm);
    expect(toHex(r.privateKey)).toBe(vectors.skRm);
    expect(toHex(r.publicKey)).toBe(vectors.pkRm);
  });

  it('Encap / Decap give enc and shared_secret', () => {
    const ephemeral = deriveKeyPair(hex(vectors.ikmE), { backend });
    const { enc, sharedSecret } = encap(backend, hex(vectors.pkRm), ephemeral);
    expect(toHex(enc)).toBe(vectors.enc);
    expect(toHex(sharedSecret)).toBe(vectors.shared_secret);
    expect(toHex(decap(backend, hex(vectors.enc), hex(vectors.skRm)))).toBe(vectors.shared_secret);
  });

  it('the key schedule gives key_schedule_context, secret, key, base_nonce, exporter_secret', () => {
    const values = keySchedule(backend, hex(vectors.shared_secret), info);
    expect(toHex(values.keyScheduleContext)).toBe(vectors.key_schedule_context);
    expect(toHex(values.secret)).toBe(vectors.secret);
    expect(toHex(values.key)).toBe(vectors.key);
    expect(toHex(values.baseNonce)).toBe(vectors.base_nonce);
    expect(toHex(values.exporterSecret)).toBe(vectors.exporter_secret);
  });

  it('SetupBaseS returns the vector enc', () => {
    const { enc, context } = setupBaseS(hex(vectors.pkRm), info, {
      backend,
      ephemeralKeyPair: deriveKeyPair(hex(vectors.ikmE), { backend }),
    });
    expect(toHex(enc)).toBe(vectors.enc);
    expect(toHex(context.enc)).toBe(vectors.enc);
    expect(context.seq).toBe(0);
  });

  it('seals and opens every vector message, advancing by sealing and opening dummies', () => {
    const { context: sender } = setupBaseS(hex(vectors.pkRm), info, {
      backend,
      ephemeralKeyPair: deriveKeyPair(hex(vectors.ikmE), { backend }),
    });
    const recipient = setupBaseR(hex(vectors.enc), hex(vectors.skRm), info, { backend });
    for (const v of vectors.encryptions) {
      while (sender.seq < v.seq) {
        const dummy = sender.seal(new Uint8Array(0), new Uint8Array(0));
        recipient.open(new Uint8Array(0), dummy);
      }
      expect(recipient.seq).toBe(v.seq);
      const ct = sender.seal(hex(v.aad), hex(v.pt));
      expect(toHex(ct)).toBe(v.ct);
      expect(toHex(recipient.open(hex(v.aad), hex(v.ct)))).toBe(v.pt);
      expect([sender.seq, recipient.seq]).toEqual([v.seq + 1, v.seq + 1]);
    }
  });

  it('seals and opens each vector message at its seq, set directly', () => {
    for (const v of vectors.encryptions) {
      const { context: sender } = setupBaseS(hex(vectors.pkRm), info, {
        backend,
        ephemeralKeyPair: deriveKeyPair(hex(vectors.ikmE), { backend }),
      });
      const recipient = setupBaseR(hex(vectors.enc), hex(vectors.skRm), info, { backend });
      setSequenceNumberForTesting(sender, v.seq);
      setSequenceNumberForTesting(recipient, v.seq);
      expect(toHex(sender.seal(hex(v.aad), hex(v.pt)))).toBe(v.ct);
      expect(toHex(recipient.open(hex(v.aad), hex(v.ct)))).toBe(v.pt);
    }
  });

  it('a vector ciphertext does not open at another seq', () => {
    const recipient = setupBaseR(hex(vectors.enc), hex(vectors.skRm), info, { backend });
    const v = vectors.encryptions[1]!; // seq 1
    expect(() => recipient.open(hex(v.aad), hex(v.ct))).toThrow(DecryptionError);
    expect(recipient.seq).toBe(0); // a failed open does not advance
  });
});
