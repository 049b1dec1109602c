export { listen, type ListenOptions, type RunningServer } from './server.js';
export {
  REQUEST_ID_HEADER,
  findRequestContext,
  requestContext,
  requestContextOf,
  usableRequestId,
} from './request-context.js';
