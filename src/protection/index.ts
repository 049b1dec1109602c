/** Output protection (docs/output-protection.md): HPKE, wire formats v1 and v2, server middleware. */
export * from './hpke/index.js';
export { DecryptionError } from './errors.js';
export {
  OUTPUT_PROTECTION_INFO,
  OUTPUT_PROTECTION_VERSION_HEADER,
  protectionVersion,
  setupProtectedSender,
  setupProtectedRecipient,
  sealField,
  type ProtectionVersion,
  parseClientPublicKey,
  parseServerPublicKey,
  encodeBase64,
  decodeBase64Strict,
  choiceAad,
  sealText,
  openText,
} from './wire.js';
export {
  chunkOpener,
  chunkSealer,
  encryptChunks,
  encryptBody,
  decryptBody,
  UnprotectableOutputError,
} from './stages.js';
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
