export { UpstreamClient, readAnswerJson, type UpstreamResponse } from './client.js';
export { upstreamErrorFromPayload } from './errors.js';
export { UpstreamPool, type Schedule, type UpstreamPoolOptions, type UpstreamState } from './pool.js';
