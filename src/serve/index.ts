export { startProxyServer, type ProxyServer } from './serve.js';
export { listen, type RunningServer } from '../http/index.js';
export { cacheDirFor } from './cache-dir.js';
export { prepareDemoSgt } from './demo-sgt.js';
