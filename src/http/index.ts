export { listen, type ListenOptions, type RunningServer } from './server.js';
