export { startProxyServer, type ProxyServer } from './serve.js';
export { listen, type RunningServer } from '../http/index.js';

export { auditCommandReport, startGatewayCommand, startReferenceCommand } from './commands.js';
