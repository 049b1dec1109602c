export { directResponse, type DirectBody } from './direct-body.js';
export { listen, type ListenOptions, type RunningServer } from './server.js';
export {
  REQUEST_ID_HEADER,
  findRequestContext,
  requestContext,
  requestContextOf,
  usableRequestId,
  type RequestContext,
} from './request-context.js';
