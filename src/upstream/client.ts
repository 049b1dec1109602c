import {
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type RequestOptions,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { Readable, finished, pipeline } from 'node:stream';
import {
  ApiError,
  ClientClosedError,
  UpstreamHttpError,
  UpstreamProtocolError,
  UpstreamTimeoutError,
  UpstreamUnavailableError,
} from '../errors/index.js';
import type { ByteFlow, ByteSink, ByteSource } from '../internal/byte-source.js';
import { readAtMost } from '../internal/read-at-most.js';
import { upstreamErrorFromPayload } from './errors.js';

export interface UpstreamClientOptions {
  /** Base URL without a trailing slash, e.g. http://vllm:8000 (https:// too). */
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

/**
 * An answer whose body is guarded: a broken or stalled body rejects a read (or ends its flow) with
 * a typed ApiError, and `cancel()` closes the connection. Each `read()`, or each chunk pushed by
 * `flow()`, is one read of the socket: no Web Streams stage between the network and the SSE relay.
 */
export interface UpstreamResponse {
  status: number;
  headers: Headers;
  body: ByteSource;
}

// Error bodies are relayed as a message; more than this of one is not worth holding in memory.
const MAX_ERROR_BODY_BYTES = 64 * 1024;

/**
 * An idle pooled connection is closed after this long: under the 5 s keep-alive of uvicorn (vLLM)
 * and of Node servers, so that we do not send a request on a socket the server is closing (the
 * same default as undici's, which fetch used).
 */
const IDLE_SOCKET_MS = 4_000;

/** One request in progress: its answer's headers have come, the body is still to read. */
interface Exchange {
  response: IncomingMessage;
  /** Ends the exchange: the socket is destroyed, so the upstream sees the connection close. */
  abort(reason?: ApiError): void;
  /** What a failed read is reported as: the reason it was aborted for, else the network's error. */
  failure(err: unknown): ApiError;
  /** Called when the answer is done with (any number of times, acts once). */
  release(): void;
}

/**
 * A JSON request body, serialised by the caller: whole, or in pieces written as they are (the
 * proxy's completions request, whose megabytes of `prompt_embeds` never become one string).
 */
export type JsonText = string | readonly Uint8Array[];

type RequestBody = JsonText | ReadableStream<Uint8Array> | undefined;

const byteLengthOf = (body: JsonText): number =>
  typeof body === 'string' ? Buffer.byteLength(body) : body.reduce((sum, piece) => sum + piece.byteLength, 0);

/**
 * The upstream's HTTP client: node:http (node:https for an https:// base URL) over one keep-alive
 * agent per client. It replaced fetch on the hot path: per streamed event it costs about a fifth
 * less CPU (`npm run bench:upstream-read`), and node:http is no new dependency.
 */
export class UpstreamClient {
  private readonly request: typeof httpRequest;
  private readonly target: RequestOptions;
  /** The base URL's own path, requests' paths go under it. */
  private readonly basePath: string;
  private readonly origin: string;

  constructor(private readonly options: UpstreamClientOptions) {
    const url = new URL(options.baseUrl);
    const secure = url.protocol === 'https:';
    this.request = secure ? httpsRequest : httpRequest;
    const agentOptions = { keepAlive: true, timeout: IDLE_SOCKET_MS };
    this.target = {
      protocol: url.protocol,
      // node:http wants an IPv6 literal without the URL's brackets.
      hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: url.port || (secure ? 443 : 80),
      agent: secure ? new HttpsAgent(agentOptions) : new HttpAgent(agentOptions),
    };
    this.basePath = url.pathname.replace(/\/+$/, '');
    this.origin = url.origin;
  }

  get baseUrl(): string {
    return this.options.baseUrl;
  }

  postJson(path: string, body: JsonText, call: UpstreamCall): Promise<UpstreamResponse> {
    return this.send(path, { method: 'POST', body, contentType: 'application/json' }, call);
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
    const headers: OutgoingHttpHeaders = Object.fromEntries(request.headers);
    for (const [name, value] of Object.entries(this.options.fixedHeaders)) headers[name.toLowerCase()] = value;
    const exchange = await this.exchange(path, request.method, headers, request.body ?? undefined, { signal });
    return this.answer(exchange);
  }

  private async send(
    path: string,
    request: { method: string; body?: JsonText; contentType?: string },
    call: UpstreamCall,
  ): Promise<UpstreamResponse> {
    const headers: OutgoingHttpHeaders = { ...call.headers, ...this.options.fixedHeaders };
    if (request.contentType) headers['content-type'] = request.contentType;
    if (request.body !== undefined) headers['content-length'] = byteLengthOf(request.body);
    const exchange = await this.exchange(path, request.method, headers, request.body, call);
    const answer = this.answer(exchange);
    if (answer.status < 200 || answer.status > 299) {
      // The error body gets the same deadline and stays abortable: a stalled one must not hang us.
      const bodyTimer = setTimeout(() => exchange.abort(this.timeoutError('error body')), this.options.timeoutMs);
      try {
        throw await this.httpError(answer);
      } finally {
        clearTimeout(bodyTimer);
        exchange.release();
      }
    }
    return answer;
  }

  private answer(exchange: Exchange): UpstreamResponse {
    const { response } = exchange;
    return {
      status: response.statusCode ?? 0,
      headers: headersOf(response.rawHeaders),
      body: new AnswerBody(exchange, this.options.timeoutMs, () => this.timeoutError('next chunk')),
    };
  }

  /**
   * The request itself, up to its answer's headers: the header deadline, the client's abort
   * reaching the upstream socket, and a network failure named. A request sent on a pooled
   * connection the server had just closed is sent once more on a new one, when its body can be.
   */
  private exchange(
    path: string,
    method: string,
    headers: OutgoingHttpHeaders,
    body: RequestBody,
    call: Pick<UpstreamCall, 'signal' | 'onSettled'>,
    mayResend = true,
  ): Promise<Exchange> {
    const { signal } = call;
    if (signal.aborted) {
      call.onSettled?.();
      return Promise.reject(new ClientClosedError());
    }
    return new Promise<Exchange>((resolve, reject) => {
      const req = this.request({ ...this.target, method, path: this.basePath + path, headers });
      let response: IncomingMessage | undefined;
      let reason: ApiError | undefined;
      let decided = false;
      let released = false;
      const onClientAbort = (): void => abort(new ClientClosedError());
      const detach = (): void => {
        clearTimeout(headerTimer);
        signal.removeEventListener('abort', onClientAbort);
      };
      const release = (): void => {
        if (released) return;
        released = true;
        detach();
        call.onSettled?.();
      };
      const failure = (err: unknown): ApiError => reason ?? this.networkFailure(err);
      const fail = (err: unknown): void => {
        if (decided) return;
        decided = true;
        release();
        reject(failure(err));
      };
      const abort = (why?: ApiError): void => {
        reason ??= why;
        req.destroy();
        if (response) response.destroy();
        else fail(why);
      };
      signal.addEventListener('abort', onClientAbort, { once: true });
      const headerTimer = setTimeout(() => abort(this.timeoutError('answer')), this.options.timeoutMs);

      req.on('error', (err) => {
        if (response) return; // once the headers came, a failure is the body's reads' to report
        const resendable = mayResend && req.reusedSocket && !(body instanceof ReadableStream) && reason === undefined;
        if (!decided && resendable && networkErrorCode(err) === 'ECONNRESET') {
          decided = true;
          detach();
          resolve(this.exchange(path, method, headers, body, call, false));
          return;
        }
        fail(err);
      });
      req.once('response', (res) => {
        if (decided) return void res.destroy();
        decided = true;
        response = res;
        clearTimeout(headerTimer);
        // The body's reads report its failures; this keeps one nobody reads yet from being thrown.
        res.on('error', () => undefined);
        resolve({ response: res, abort, failure, release });
      });

      if (body instanceof ReadableStream) {
        // A failed request body destroys the request, whose 'error' above names it.
        pipeline(Readable.fromWeb(body), req, () => undefined);
      } else if (typeof body === 'object') {
        for (const piece of body) req.write(piece);
        req.end();
      } else {
        req.end(body);
      }
    });
  }

  private timeoutError(waitingFor: string): UpstreamTimeoutError {
    return new UpstreamTimeoutError(
      `The upstream did not send its ${waitingFor} within ${this.options.timeoutMs / 1000} s.`,
    );
  }

  /** A connection that could not be made or that broke, named with its error code. */
  private networkFailure(err: unknown): ApiError {
    if (err instanceof ApiError) return err;
    const code = networkErrorCode(err);
    return new UpstreamUnavailableError(
      `The upstream at ${this.origin} could not be reached or broke the connection${code ? ` (${code})` : ''}.`,
      { cause: err },
    );
  }

  private async httpError(answer: UpstreamResponse): Promise<UpstreamHttpError> {
    // A broken error body still leaves us the status to report.
    const { text } = await readBoundedText(answer.body, MAX_ERROR_BODY_BYTES).catch(() => ({ text: '' }));
    // 4xx is the client's to fix and keeps its status; an upstream 5xx is a bad gateway for our client,
    // except 503, which keeps its meaning (retry later).
    const upstreamStatus = answer.status;
    const status = upstreamStatus < 500 || upstreamStatus === 503 ? upstreamStatus : 502;
    const retryAfter = retryAfterValue(answer.headers.get('retry-after'));
    let payload: unknown;
    try {
      payload = JSON.parse(text);
    } catch {
      // An HTML page from a load balancer, a stack trace: not a message for our client.
      const message = `The upstream answered HTTP ${upstreamStatus} with a body that is not JSON.`;
      return new UpstreamHttpError(status, message, { code: 'upstream_error', retryAfter, upstreamStatus });
    }
    return upstreamErrorFromPayload(payload, status, { retryAfter, upstreamStatus });
  }
}

/**
 * An answer's body read straight off the IncomingMessage. One timer per body, re-armed by each
 * read, is the idle deadline: it aborts only if it fires while a read waits, so a slow client
 * (nobody reading) is not taken for a stalled upstream.
 */
class AnswerBody implements ByteSource {
  /** node:stream's own iterator, made on the first `read()`: one read of the socket's buffered bytes per step. */
  private chunks: AsyncIterator<Uint8Array> | undefined;
  private open = true;
  private waiting = false;
  private readonly idle: NodeJS.Timeout;

  constructor(
    private readonly exchange: Exchange,
    timeoutMs: number,
    stalled: () => ApiError,
  ) {
    this.idle = setTimeout(() => {
      if (this.waiting) exchange.abort(stalled());
    }, timeoutMs);
  }

  async read(): Promise<Uint8Array | undefined> {
    if (!this.open) return undefined;
    this.waiting = true;
    this.idle.refresh();
    let step: IteratorResult<Uint8Array>;
    try {
      this.chunks ??= this.exchange.response[Symbol.asyncIterator]();
      step = await this.chunks.next();
    } catch (err) {
      if (!this.open) return undefined; // cancelled while this read waited
      this.settle();
      throw this.exchange.failure(err);
    } finally {
      this.waiting = false;
    }
    if (step.done) {
      this.settle();
      return undefined;
    }
    return step.value;
  }

  /**
   * The body pushed from the socket's 'data' events: the relay's path, no promise per chunk. The
   * idle deadline counts only while not paused, as `read()`'s only while a read waits.
   */
  flow(sink: ByteSink): ByteFlow {
    const { response } = this.exchange;
    const want = (): void => {
      this.waiting = true;
      this.idle.refresh();
    };
    want();
    // A Buffer: nothing calls setEncoding on an answer.
    response.on('data', (chunk: Buffer) => {
      if (!this.open) return;
      this.idle.refresh();
      sink.data(chunk);
    });
    finished(response, (err) => {
      if (!this.open) return; // cancelled: the sink was told by whoever cancelled
      this.settle();
      if (err) sink.error(this.exchange.failure(err));
      else sink.end();
    });
    return {
      pause: () => {
        this.waiting = false;
        response.pause();
      },
      resume: () => {
        if (!this.open) return;
        want();
        response.resume();
      },
      cancel: () => this.cancel(),
    };
  }

  cancel(): Promise<void> {
    if (this.open) {
      this.settle();
      this.exchange.abort();
    }
    return Promise.resolve();
  }

  private settle(): void {
    this.open = false;
    clearTimeout(this.idle);
    this.exchange.release();
  }
}

function headersOf(raw: readonly string[]): Headers {
  const headers = new Headers();
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  return headers;
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

/** node:net's code (ECONNREFUSED, ECONNRESET), on the error or, as fetch wrapped them, on its cause. */
function networkErrorCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 2; e = e.cause, depth++) {
    const { code } = e as { code?: unknown };
    if (typeof code === 'string') return code;
  }
  return undefined;
}

/** Reads at most `limit` bytes of a body as text; `complete` is false when it had more. */
export async function readBoundedText(
  body: ByteSource | ReadableStream<Uint8Array> | null,
  limit: number,
): Promise<{ text: string; complete: boolean }> {
  const { bytes, complete } = await readAtMost(body, limit);
  return { text: new TextDecoder().decode(bytes), complete };
}

// n ≤ 16 choices of a few thousand tokens each fit many times over; anything bigger is not an answer.
export const MAX_ANSWER_BYTES = 32 * 1024 * 1024;

/** A non-stream upstream answer as parsed JSON: bounded, and a typed 502 when it is not JSON. */
export async function readAnswerJson(body: ByteSource | ReadableStream<Uint8Array> | null): Promise<unknown> {
  const { text, complete } = await readBoundedText(body, MAX_ANSWER_BYTES);
  if (!complete) throw new UpstreamProtocolError(`The upstream answer is larger than ${MAX_ANSWER_BYTES} bytes.`);
  try {
    return JSON.parse(text);
  } catch {
    throw new UpstreamProtocolError('The upstream answered with a body that is not JSON.');
  }
}
