import {
  UpstreamHttpError,
  UpstreamProtocolError,
  UpstreamTimeoutError,
  UpstreamTruncatedError,
  UpstreamUnavailableError,
} from '../errors/index.js';
import type { UpstreamFailureClass } from './metrics.js';

/** Which part of an upstream call failed: getting its answer (status and headers), or reading its body. */
export type UpstreamPhase = 'answer' | 'body';

/**
 * The failure class of an error from an upstream call, or undefined when the upstream is not to
 * blame (the client left, our own refusal). A connection that breaks while the body is read cut
 * the answer short: truncated, where the same error before the answer means it was refused.
 */
export function upstreamFailureClass(error: unknown, phase: UpstreamPhase): UpstreamFailureClass | undefined {
  if (error instanceof UpstreamTimeoutError) return 'timeout';
  if (error instanceof UpstreamUnavailableError) return phase === 'answer' ? 'refused' : 'truncated';
  if (error instanceof UpstreamTruncatedError) return 'truncated';
  if (error instanceof UpstreamProtocolError) return 'invalid';
  // UpstreamHttpError keeps a 4xx and reports an upstream 5xx as 502 or 503: still a 5xx.
  if (error instanceof UpstreamHttpError) return error.status < 500 ? '4xx' : '5xx';
  return undefined;
}
