export { listen, type RunningServer } from './server.js';
