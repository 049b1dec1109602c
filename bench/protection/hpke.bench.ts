/**
 * Which implementation for the hot path? Per-token seal/open of short texts (1-8 bytes, what one
 * generated token is) and per-request context setup, for each backend and for the mix we ship.
 *
 *   npm run bench:hpke   (= vitest bench --run bench/protection)
 *
 * Each iteration handles one token (sizes cycle 1..8 bytes), so `mean` is the time per token.
 */
import { bench, describe } from 'vitest';
import { setSequenceNumberForTesting } from '../../src/protection/hpke/context.js';
import {
  defaultBackend,
  generateKeyPair,
  nobleBackend,
  nodeBackend,
  setupBaseR,
  setupBaseS,
  type HpkeBackend,
} from '../../src/protection/hpke/index.js';
import { OUTPUT_PROTECTION_INFO, openText, sealText } from '../../src/protection/wire.js';

// The plausible mixes: AES-GCM is the per-token cost, X25519 the per-request one, HMAC is in both setups.
const nobleKemNodeAead: HpkeBackend = {
  ...nobleBackend,
  name: 'noble X25519+HMAC, node AES-GCM',
  aes128gcm: nodeBackend.aes128gcm,
};
const nodeKemNobleHmac: HpkeBackend = {
  ...nodeBackend,
  name: 'node X25519+AES-GCM, noble HMAC',
  hmacSha256: nobleBackend.hmacSha256,
};
const backends: HpkeBackend[] = [nodeBackend, nobleBackend, nobleKemNodeAead, nodeKemNobleHmac];

const TOKENS = Array.from({ length: 8 }, (_, i) => new Uint8Array(i + 1).fill(0x61 + i));
const AAD = new TextEncoder().encode('0');
const BATCH = 1024;

for (const backend of backends) {
  const label = backend === defaultBackend ? `${backend.name} (default)` : backend.name;
  const recipient = generateKeyPair({ backend });

  describe(`${label}: per token (1-8 bytes)`, () => {
    const { context: sender } = setupBaseS(recipient.publicKey, OUTPUT_PROTECTION_INFO, { backend });
    let i = 0;
    bench('seal', () => {
      sender.seal(AAD, TOKENS[i++ & 7]!);
    });

    const { enc, context: presealer } = setupBaseS(recipient.publicKey, OUTPUT_PROTECTION_INFO, { backend });
    const sealed = Array.from({ length: BATCH }, (_, k) => presealer.seal(AAD, TOKENS[k & 7]!));
    const opener = setupBaseR(enc, recipient.privateKey, OUTPUT_PROTECTION_INFO, { backend });
    bench('open', () => {
      if (opener.seq === BATCH) setSequenceNumberForTesting(opener, 0);
      opener.open(AAD, sealed[opener.seq]!);
    });
  });

  describe(`${label}: per response`, () => {
    bench('SetupBaseS (keygen + encap + key schedule)', () => {
      setupBaseS(recipient.publicKey, OUTPUT_PROTECTION_INFO, { backend });
    });
    const { enc } = setupBaseS(recipient.publicKey, OUTPUT_PROTECTION_INFO, { backend });
    bench('SetupBaseR (decap + key schedule)', () => {
      setupBaseR(enc, recipient.privateKey, OUTPUT_PROTECTION_INFO, { backend });
    });
  });
}

describe('primitives', () => {
  const key = new Uint8Array(32).fill(7);
  const parts = [new Uint8Array(7), new Uint8Array(10), new Uint8Array(8), new Uint8Array(32)]; // a LabeledExtract's input
  for (const backend of [nodeBackend, nobleBackend]) {
    bench(`${backend.name}: HMAC-SHA256 (57 bytes)`, () => {
      backend.hmacSha256(key, parts);
    });
    const { privateKey } = backend.x25519GenerateKeyPair();
    const { publicKey } = backend.x25519GenerateKeyPair();
    bench(`${backend.name}: X25519 DH`, () => {
      backend.x25519(privateKey, publicKey);
    });
    bench(`${backend.name}: X25519 key generation`, () => {
      backend.x25519GenerateKeyPair();
    });
  }
});

describe('wire field per token (seal/open + UTF-8 + base64, default backend)', () => {
  const words = ['a', 'ab', ' the', 'héllo', ' 世界', '👋🏽', 'token', '!'];
  const recipient = generateKeyPair();
  const { enc, context: sender } = setupBaseS(recipient.publicKey, OUTPUT_PROTECTION_INFO);
  let i = 0;
  bench('sealText', () => {
    sealText(sender, 0, words[i++ & 7]!);
  });
  const { enc: enc2, context: presealer } = setupBaseS(recipient.publicKey, OUTPUT_PROTECTION_INFO);
  const fields = Array.from({ length: BATCH }, (_, k) => sealText(presealer, 0, words[k & 7]!));
  const opener = setupBaseR(enc2, recipient.privateKey, OUTPUT_PROTECTION_INFO);
  bench('openText', () => {
    if (opener.seq === BATCH) setSequenceNumberForTesting(opener, 0);
    openText(opener, 0, fields[opener.seq]!);
  });
  void enc;
});
