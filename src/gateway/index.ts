export { createProtectGateway, type ProtectGatewayOptions } from './gateway.js';
