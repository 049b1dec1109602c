/** Pins the worked example of docs/output-protection.md, so the document cannot drift from the code. */
import { describe, expect, it } from 'vitest';
import {
  OUTPUT_PROTECTION_INFO,
  encap,
  encodeBase64,
  keySchedule,
  nobleBackend,
  nodeBackend,
  openText,
  sealText,
  setupBaseR,
  setupBaseS,
} from '../../src/protection/index.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const skR = Uint8Array.from({ length: 32 }, (_, i) => i);
const skE = Uint8Array.from({ length: 32 }, (_, i) => 0x20 + i);

const EXAMPLE = {
  pkR: 'j0DFrbaPJWJK5bIU6nZ6bslNgp09e14a0bpvPiE4KF8=',
  enc: 'NYBy1jZYgNGu6jKa35EhODhR7SGijjt16WXQ0s0WYlQ=',
  sharedSecret: '20a58593fe00bcc54b0c1e452c52747d1f7a2e301b9d6c2bb71758ded5e614f0',
  key: 'e15576fca662dd2e9ce33c4eda1271d8',
  baseNonce: 'e51f361e3295ce9e6151b95a',
  fields: [
    { index: 0, text: 'Hello', field: 'wj7zA+KFkSAgesMYg61lxZgzIUko' },
    { index: 1, text: 'Hi', field: 'U4xeFALlo4M+4katJQW4pJnj' },
    { index: 0, text: ', wörld 👋', field: 't7sN8znfV2Lbu7U4VfBNBOA2N3grsQnbhoSsB44=' },
  ],
};

describe.each([nodeBackend, nobleBackend])('docs/output-protection.md worked example ($name)', (backend) => {
  it('gives the documented keys, secrets and fields', () => {
    const pkR = backend.x25519PublicKey(skR);
    const ephemeralKeyPair = { privateKey: skE, publicKey: backend.x25519PublicKey(skE) };
    expect(encodeBase64(pkR)).toBe(EXAMPLE.pkR);
    const { sharedSecret, enc } = encap(backend, pkR, ephemeralKeyPair);
    expect(encodeBase64(enc)).toBe(EXAMPLE.enc);
    expect(hex(sharedSecret)).toBe(EXAMPLE.sharedSecret);
    const schedule = keySchedule(backend, sharedSecret, new TextEncoder().encode(OUTPUT_PROTECTION_INFO));
    expect(hex(schedule.key)).toBe(EXAMPLE.key);
    expect(hex(schedule.baseNonce)).toBe(EXAMPLE.baseNonce);

    const { context } = setupBaseS(pkR, OUTPUT_PROTECTION_INFO, { backend, ephemeralKeyPair });
    const receiver = setupBaseR(enc, skR, OUTPUT_PROTECTION_INFO, { backend });
    for (const { index, text, field } of EXAMPLE.fields) {
      expect(sealText(context, index, text)).toBe(field);
      expect(openText(receiver, index, field)).toBe(text);
    }
  });
});
