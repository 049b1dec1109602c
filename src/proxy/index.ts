export { createProxyApp, type ProxyAppDeps, type ProxySettings } from './app.js';
export { PromptEmbedder } from './prompt-embedder.js';
export { ProxyOutputProtection, RotatingKeyPair, UpstreamNotProtectedError, type OutputProtectionSettings } from './output-protection.js';
