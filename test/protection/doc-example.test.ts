/** Pins the worked example of docs/output-protection.md, so the document cannot drift from the code. */
import { describe, expect, it } from 'vitest';
import {
  OUTPUT_PROTECTION_INFO,
  chunkOpener,
  chunkSealer,
  encap,
  encodeBase64,
  keySchedule,
  nobleBackend,
  nodeBackend,
  openText,
  sealText,
  setupBaseR,
  setupBaseS,
  setupProtectedRecipient,
  setupProtectedSender,
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

const V2_PLAIN = {
  choices: [
    {
      index: 0,
      text: 'Hi',
      logprobs: { text_offset: [0], token_logprobs: [0], tokens: ['Hi'], top_logprobs: [{ Hi: 0, Yo: -9999 }] },
      finish_reason: 'stop',
      stop_reason: '!',
    },
  ],
};
const V2_SENT =
  '{"choices":[{"index":0,"text":"n2/PZkfUPmHVmDATB/pHCj9N","logprobs":{"text_offset":[0],"token_logprobs":[0],"tokens":["gdrgDm6emrtfO1tNmOzmPQkI"],"top_logprobs":[{"+wx8cIV7cRdDoAPAR6Uc7xhZ":0,"otN3XEZWYHtnjWwEeVksMUTz":-9999}]},"finish_reason":"stop","stop_reason":"DclDg3povkyeVF+xui2IBa0="}]}';

describe.each([nodeBackend, nobleBackend])('docs/output-protection.md worked example v2 ($name)', (backend) => {
  it('gives the documented key schedule and answer, and opens it back', () => {
    const pkR = backend.x25519PublicKey(skR);
    const ephemeralKeyPair = { privateKey: skE, publicKey: backend.x25519PublicKey(skE) };
    const { sharedSecret } = encap(backend, pkR, ephemeralKeyPair);
    const schedule = keySchedule(backend, sharedSecret, new TextEncoder().encode('sgt-output-protection/v2'));
    expect(hex(schedule.key)).toBe('8cd406101828dacf2e8eb0f089da174d');
    expect(hex(schedule.baseNonce)).toBe('d8b755bea05e8d269ce80ee7');
    const { enc, context } = setupProtectedSender(pkR, 2, { backend, ephemeralKeyPair });
    expect(encodeBase64(enc)).toBe(EXAMPLE.enc);
    expect(JSON.stringify(chunkSealer(context)(V2_PLAIN))).toBe(V2_SENT);
    const receiver = setupProtectedRecipient(enc, skR, 2, { backend });
    expect(chunkOpener(receiver)(JSON.parse(V2_SENT))).toEqual(V2_PLAIN);
  });
});
