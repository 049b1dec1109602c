export { UpstreamClient, readAnswerJson, type UpstreamResponse } from './client.js';
export { upstreamErrorFromPayload } from './errors.js';
