export { UpstreamClient, readAnswerJson, readBoundedText, type UpstreamClientOptions, type UpstreamCall, type UpstreamResponse } from './client.js';
