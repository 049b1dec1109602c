export { UpstreamClient, readBoundedText, type UpstreamClientOptions, type UpstreamCall, type UpstreamResponse } from './client.js';
