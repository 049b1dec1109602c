export { listen, type ListenOptions, type RunningServer } from './server.js';
export {
  REQUEST_ID_HEADER,
  findRequestContext,
  requestContext,
  requestContextOf,
  usableRequestId,
  type RequestContext,
} from './request-context.js';
