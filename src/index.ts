/**
 * sgt-proxy as a library. The programs are the CLI's (`sgt-proxy serve | reference-server |
 * protect | sgt build-demo`); these are the parts other servers embed. The client side of output
 * protection is `sgt-proxy/client`.
 */
export {
  userPublicKeyMiddleware,
  injectMiddleware,
  getOutputProtection,
  outputProtectionRegistry,
  encryptChunks,
  encryptBody,
  type OutputProtectionMode,
  type UserPublicKeyMiddlewareOptions,
} from './protection/index.js';
export { createProtectGateway, type ProtectGatewayOptions } from './gateway/index.js';
export {
  createReferenceServerApp,
  startReferenceServer,
  type ReferenceServerOptions,
} from './reference-server/index.js';
export { loadSgt, buildDemoSgt, type Sgt, type ChatMessage } from './sgt/index.js';
export { encodePromptEmbeds, decodePromptEmbeds, type EmbedsDtype } from './embeds/index.js';
