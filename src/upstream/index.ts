export { UpstreamClient, readAnswerJson, type UpstreamClientOptions, type UpstreamCall, type UpstreamResponse } from './client.js';
export { MAX_RELAYED_MESSAGE_CHARS, upstreamErrorFromPayload } from './errors.js';
