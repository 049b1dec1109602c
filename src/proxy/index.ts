export { createProxyApp, type ProxySettings } from './app.js';
