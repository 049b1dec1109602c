/** Output protection (docs/output-protection.md): HPKE, wire format v1, server middleware. */
export * from './hpke/index.js';
export { DecryptionError } from './errors.js';
export {
  OUTPUT_PROTECTION_INFO,
  parseClientPublicKey,
  parseServerPublicKey,
  encodeBase64,
  decodeBase64Strict,
  choiceAad,
  sealText,
  openText,
} from './wire.js';
export { chunkOpener, chunkSealer, encryptChunks, encryptBody, decryptBody } from './stages.js';
export { OutputProtectionRegistry, outputProtectionRegistry } from './registry.js';
export {
  userPublicKeyMiddleware,
  injectMiddleware,
  getOutputProtection,
  DEFAULT_PROTECTED_ROUTES,
  type OutputProtectionMode,
  type UserPublicKeyMiddlewareOptions,
  type OutputProtectionEnv,
} from './middleware.js';
export {
  ProxyOutputProtection,
  RotatingKeyPair,
  type OutputProtectionSettings,
  type ProtectedAnswer,
} from './proxy-keys.js';
