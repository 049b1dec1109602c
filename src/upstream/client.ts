import {
  ApiError,
  ClientClosedError,
  UpstreamHttpError,
  UpstreamProtocolError,
  UpstreamTimeoutError,
  UpstreamUnavailableError,
} from '../errors/index.js';
import { readAtMost } from '../internal/read-at-most.js';
import { relayBody } from '../internal/relay-body.js';
import { upstreamErrorFromPayload } from './errors.js';

export interface UpstreamClientOptions {
  /** Base URL without a trailing slash, e.g. http://vllm:8000 */
  baseUrl: string;
  /** Longest wait for response headers, and for each body chunk once the stream has started. */
  timeoutMs: number;
  /** Sent on every request (SGP_REQUEST_HEADERS_TO_ADD, Basic auth): they win over per-request headers. */
  fixedHeaders: Record<string, string>;
}

export interface UpstreamCall {
  headers: Record<string, string>;
  /** Aborts the call when the client goes away. */
  signal: AbortSignal;
  /** Told once, when the call is done with: it failed, or its body ended, failed or was cancelled. */
  onSettled?: () => void;
}

/** A 2xx answer whose body is guarded: a broken or stalled body errors with a typed ApiError. */
export interface UpstreamResponse {
  status: number;
  headers: Headers;
  body: ReadableStream<Uint8Array>;
}

// Error bodies are relayed as a message; more than this of one is not worth holding in memory.
const MAX_ERROR_BODY_BYTES = 64 * 1024;

export class UpstreamClient {
  constructor(private readonly options: UpstreamClientOptions) {}

  get baseUrl(): string {
    return this.options.baseUrl;
  }

  postJson(path: string, body: unknown, call: UpstreamCall): Promise<UpstreamResponse> {
    return this.send(path, { method: 'POST', body: JSON.stringify(body), contentType: 'application/json' }, call);
  }

  get(path: string, call: UpstreamCall): Promise<UpstreamResponse> {
    return this.send(path, { method: 'GET' }, call);
  }

  /**
   * Any request, relayed: the answer comes back whatever its status (the `protect` gateway passes
   * vLLM's own errors through unchanged), with the same deadlines, abort and error mapping as the
   * calls above. A streamed request body is sent as it arrives.
   */
  async relay(
    path: string,
    request: { method: string; headers: Headers; body: ReadableStream<Uint8Array> | null },
    signal: AbortSignal,
  ): Promise<UpstreamResponse> {
    const headers = new Headers(request.headers);
    for (const [name, value] of Object.entries(this.options.fixedHeaders)) headers.set(name, value);
    // Node's fetch needs `duplex` to send a streamed body; the DOM-free RequestInit type lacks it.
    const init = {
      method: request.method,
      headers,
      body: request.body,
      ...(request.body ? { duplex: 'half' } : {}),
    } as RequestInit;
    const { response, abort, release } = await this.exchange(path, init, { signal });
    const body = response.body ?? new ReadableStream<Uint8Array>({ start: (c) => c.close() });
    return { status: response.status, headers: response.headers, body: this.guardBody(body, abort, release) };
  }

  private async send(
    path: string,
    request: { method: string; body?: string; contentType?: string },
    call: UpstreamCall,
  ): Promise<UpstreamResponse> {
    const headers: Record<string, string> = { ...call.headers, ...this.options.fixedHeaders };
    if (request.contentType) headers['content-type'] = request.contentType;
    const { response, abort, release } = await this.exchange(
      path,
      { method: request.method, headers, body: request.body },
      call,
    );
    if (!response.ok) {
      // The error body gets the same deadline and stays abortable: a stalled one must not hang us.
      const bodyTimer = setTimeout(() => abort.abort(this.timeoutError('error body')), this.options.timeoutMs);
      try {
        throw await this.httpError(response);
      } finally {
        clearTimeout(bodyTimer);
        release();
      }
    }
    const body = response.body ?? new ReadableStream<Uint8Array>({ start: (c) => c.close() });
    return { status: response.status, headers: response.headers, body: this.guardBody(body, abort, release) };
  }

  /**
   * The fetch itself: the header deadline, the client's abort reaching the upstream, and a network
   * failure named. `release`, called once when the answer is done with, detaches from the client's
   * signal and tells the caller.
   */
  private async exchange(
    path: string,
    init: RequestInit,
    call: Pick<UpstreamCall, 'signal' | 'onSettled'>,
  ): Promise<{ response: Response; abort: AbortController; release: () => void }> {
    const { signal } = call;
    const abort = new AbortController();
    const onClientAbort = (): void => abort.abort(new ClientClosedError());
    if (signal.aborted) {
      call.onSettled?.();
      throw new ClientClosedError();
    }
    signal.addEventListener('abort', onClientAbort, { once: true });
    const release = (): void => {
      signal.removeEventListener('abort', onClientAbort);
      call.onSettled?.();
    };
    const headerTimer = setTimeout(() => abort.abort(this.timeoutError('answer')), this.options.timeoutMs);
    try {
      return { response: await fetch(this.options.baseUrl + path, { ...init, signal: abort.signal }), abort, release };
    } catch (err) {
      release();
      throw this.failure(abort.signal, err);
    } finally {
      clearTimeout(headerTimer);
    }
  }

  /**
   * Wraps the body so that a stall (no chunk within the timeout while we wait for one) or a
   * broken connection errors the stream with a typed error, and cancelling it aborts the request.
   */
  private guardBody(
    body: ReadableStream<Uint8Array>,
    abort: AbortController,
    release: () => void,
  ): ReadableStream<Uint8Array> {
    // One timer per body, re-armed by each read: it aborts only if it fires while a read waits.
    let waiting = false;
    const idle = setTimeout(() => {
      if (waiting) abort.abort(this.timeoutError('next chunk'));
    }, this.options.timeoutMs);
    return relayBody(body, {
      onSettled: () => {
        clearTimeout(idle);
        release();
      },
      mapError: (err) => this.failure(abort.signal, err),
      aroundRead: async (read) => {
        waiting = true;
        idle.refresh();
        try {
          return await read();
        } finally {
          waiting = false;
        }
      },
      onCancel: (reason) => abort.abort(reason),
    });
  }

  private timeoutError(waitingFor: string): UpstreamTimeoutError {
    return new UpstreamTimeoutError(
      `The upstream did not send its ${waitingFor} within ${this.options.timeoutMs / 1000} s.`,
    );
  }

  /** Why a fetch or a body read failed: our own timeout, the client leaving, or the network. */
  private failure(signal: AbortSignal, err: unknown): ApiError {
    if (signal.aborted && signal.reason instanceof ApiError) return signal.reason;
    const code = networkErrorCode(err);
    const origin = new URL(this.options.baseUrl).origin;
    return new UpstreamUnavailableError(
      `The upstream at ${origin} could not be reached or broke the connection${code ? ` (${code})` : ''}.`,
      { cause: err },
    );
  }

  private async httpError(response: Response): Promise<UpstreamHttpError> {
    // A broken error body still leaves us the status to report.
    const { text } = await readBoundedText(response.body, MAX_ERROR_BODY_BYTES).catch(() => ({ text: '' }));
    // 4xx is the client's to fix and keeps its status; an upstream 5xx is a bad gateway for our client,
    // except 503, which keeps its meaning (retry later).
    const status = response.status < 500 || response.status === 503 ? response.status : 502;
    const retryAfter = retryAfterValue(response.headers.get('retry-after'));
    const upstreamStatus = response.status;
    let payload: unknown;
    try {
      payload = JSON.parse(text);
    } catch {
      // An HTML page from a load balancer, a stack trace: not a message for our client.
      const message = `The upstream answered HTTP ${response.status} with a body that is not JSON.`;
      return new UpstreamHttpError(status, message, { code: 'upstream_error', retryAfter, upstreamStatus });
    }
    return upstreamErrorFromPayload(payload, status, { retryAfter, upstreamStatus });
  }
}

/** A Retry-After worth relaying: delay-seconds or an HTTP-date (RFC 9110 §10.2.3), nothing else. */
function retryAfterValue(value: string | null): string | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d{1,9}$/.test(trimmed)) return trimmed;
  return trimmed.length <= 64 && /^[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(trimmed)
    ? trimmed
    : undefined;
}

function networkErrorCode(err: unknown): string | undefined {
  const cause = err instanceof Error ? (err.cause as { code?: unknown } | undefined) : undefined;
  if (cause && typeof cause.code === 'string') return cause.code;
  return undefined;
}

/** Reads at most `limit` bytes of a body as text; `complete` is false when it had more. */
export async function readBoundedText(
  body: ReadableStream<Uint8Array> | null,
  limit: number,
): Promise<{ text: string; complete: boolean }> {
  const { bytes, complete } = await readAtMost(body, limit);
  return { text: new TextDecoder().decode(bytes), complete };
}

// n ≤ 16 choices of a few thousand tokens each fit many times over; anything bigger is not an answer.
export const MAX_ANSWER_BYTES = 32 * 1024 * 1024;

/** A non-stream upstream answer as parsed JSON: bounded, and a typed 502 when it is not JSON. */
export async function readAnswerJson(body: ReadableStream<Uint8Array> | null): Promise<unknown> {
  const { text, complete } = await readBoundedText(body, MAX_ANSWER_BYTES);
  if (!complete) throw new UpstreamProtocolError(`The upstream answer is larger than ${MAX_ANSWER_BYTES} bytes.`);
  try {
    return JSON.parse(text);
  } catch {
    throw new UpstreamProtocolError('The upstream answered with a body that is not JSON.');
  }
}
