/** Output protection (docs/output-protection.md): HPKE, wire format v1, server middleware. */
export * from './hpke/index.js';
export { DecryptionError, MessageLimitReachedError, InvalidPublicKeyError } from './errors.js';
export {
  OUTPUT_PROTECTION_INFO,
  DEFAULT_CLIENT_PUBLIC_KEY_HEADER,
  DEFAULT_SERVER_PUBLIC_KEY_HEADER,
  PUBLIC_KEY_BYTES,
  parseClientPublicKey,
  parseServerPublicKey,
  encodeBase64,
  decodeBase64Strict,
  choiceAad,
  sealText,
  openText,
} from './wire.js';
export { encryptChunks, decryptChunks, encryptBody, decryptBody, transformProtectedTexts, type TextTransform } from './stages.js';
export { OutputProtectionRegistry, outputProtectionRegistry, type Registration } from './registry.js';
export {
  userPublicKeyMiddleware,
  injectMiddleware,
  getOutputProtection,
  DEFAULT_PROTECTED_ROUTES,
  type OutputProtectionMode,
  type ProtectedRoute,
  type UserPublicKeyMiddlewareOptions,
  type OutputProtection,
  type OutputProtectionVariables,
  type OutputProtectionEnv,
  type FetchApp,
} from './middleware.js';
