export { UpstreamClient, type UpstreamClientOptions, type UpstreamCall, type UpstreamResponse } from './client.js';
