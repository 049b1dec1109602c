export type { HpkeBackend } from './backend.js';
export { nodeBackend } from './node-backend.js';
export { nobleBackend } from './noble-backend.js';
export { defaultBackend } from './default-backend.js';
export { HpkeSenderContext, HpkeRecipientContext, MAX_SEQUENCE_NUMBER, keySchedule } from './context.js';
export { encap, decap, type KeyPair } from './kem.js';
export { setupBaseS, setupBaseR, generateKeyPair, deriveKeyPair } from './setup.js';
export { KEM_ID, KDF_ID, AEAD_ID, MODE_BASE } from './suite.js';
