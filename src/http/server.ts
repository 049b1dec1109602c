import type { Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import { ApiError, InvalidRequestError, OverloadedError, toErrorEnvelope } from '../errors/index.js';
import { writeDirect } from './direct-body.js';

export interface RunningServer {
  url: string;
  port: number;
  /**
   * Stops accepting connections, lets in-flight responses run for up to `graceMs`, then ends
   * whatever is still open (streams included). Idempotent: a second call waits for the first.
   */
  close(graceMs?: number): Promise<void>;
}

/** Hono's `app.fetch`: @hono/node-server passes it `{ incoming, outgoing }` as its env. */
type FetchHandler = (request: Request, env: NodeBindings) => Response | Promise<Response>;
interface NodeBindings {
  outgoing: unknown;
}

export interface ListenOptions {
  /**
   * Longest time a client may take to send a whole request, headers and body (Node's default is
   * 5 minutes: 100 one-byte-a-second uploads then hold 100 connections for that long). 408 after.
   */
  requestTimeoutMs?: number;
  /** Open connections beyond this get a 503 envelope and are closed at once (default: no cap). */
  maxConnections?: number;
}

/** Listens and resolves once the port is bound, or rejects with the bind error (EADDRINUSE, EACCES). */
export async function listen(
  fetch: FetchHandler,
  host: string,
  port: number,
  options: ListenOptions = {},
): Promise<RunningServer> {
  // A plain node:http server (createAdaptorServer's default) with our timeouts. Node checks them only
  // every connectionsCheckingInterval (30 s by default), so that is tightened to a quarter of the bound.
  const timeout = options.requestTimeoutMs;
  const serverOptions =
    timeout === undefined
      ? {}
      : {
          requestTimeout: timeout,
          headersTimeout: timeout,
          connectionsCheckingInterval: Math.max(100, Math.min(30_000, Math.floor(timeout / 4))),
        };
  // A streamed body that can write itself to the socket does (direct-body.ts); any other answer is node-server's.
  const direct = (request: Request, env: NodeBindings): Response | Promise<Response> => {
    const response = fetch(request, env);
    return response instanceof Promise
      ? response.then((r) => writeDirect(r, env.outgoing))
      : writeDirect(response, env.outgoing);
  };
  const server = createAdaptorServer({ fetch: direct, serverOptions }) as Server;
  server.on('clientError', answerClientError);
  if (options.maxConnections !== undefined) capConnections(server, options.maxConnections);
  const boundPort = await bind(server, host, port);
  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost(host)}:${boundPort}`,
    port: boundPort,
    close: (graceMs = 0) => (closing ??= closeServer(server, graceMs)),
  };
}

function bind(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** A wildcard address is not one to connect to: the URL names loopback instead. */
function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

function closeServer(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((err) => (err ? reject(err) : resolve()));
    server.closeIdleConnections();
    if (graceMs <= 0) {
      server.closeAllConnections();
      return;
    }
    setTimeout(() => server.closeAllConnections(), graceMs).unref();
  });
}

/** A response written straight to the socket, for when there is no request object to answer. */
function writeRawError(socket: Socket, error: ApiError, reason: string, extraHeaders = ''): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify(toErrorEnvelope(error));
  const head = `HTTP/1.1 ${error.status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extraHeaders}connection: close\r\n\r\n`;
  // Destroyed once flushed: nothing more is read from this socket, whatever the client sends.
  socket.end(head + body, () => socket.destroy());
}

/**
 * Requests Node's HTTP parser rejects (duplicate Content-Length, CL with TE, bad chunk sizes, NUL in a
 * header, headers too large) and requests that took too long get the OpenAI envelope the API
 * promises, not Node's bare status line.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  if (err.code === 'HPE_HEADER_OVERFLOW') {
    writeRawError(
      socket,
      new ApiError(431, 'invalid_request_error', 'The request headers are too large.', {
        code: 'request_header_fields_too_large',
      }),
      'Request Header Fields Too Large',
    );
  } else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    writeRawError(
      socket,
      new ApiError(408, 'invalid_request_error', 'The request was not received in time.', { code: 'request_timeout' }),
      'Request Timeout',
    );
  } else {
    writeRawError(
      socket,
      new InvalidRequestError('The request is not valid HTTP/1.1.', { code: 'malformed_http_request' }),
      'Bad Request',
    );
  }
}

/** Counts open connections; one over the cap is answered 503 and closed before any request is read. */
function capConnections(server: Server, max: number): void {
  let open = 0;
  // Before Node's own listener, so an over-cap socket is answered before its parser sees a byte.
  server.prependListener('connection', (socket: Socket) => {
    open++;
    socket.once('close', () => open--);
    if (open > max) {
      const error = new OverloadedError(`The server has its maximum of ${max} open connections; try again shortly.`, 1);
      writeRawError(socket, error, 'Service Unavailable', `retry-after: ${error.retryAfterSeconds}\r\n`);
    }
  });
}
