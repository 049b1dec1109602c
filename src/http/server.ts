import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';

export interface RunningServer {
  url: string;
  port: number;
  /**
   * Stops accepting connections, lets in-flight responses run for up to `graceMs`, then ends
   * whatever is still open (streams included). Idempotent: a second call waits for the first.
   */
  close(graceMs?: number): Promise<void>;
}

type FetchHandler = (request: Request) => Response | Promise<Response>;

/** Listens and resolves once the port is bound, or rejects with the bind error (EADDRINUSE, EACCES). */
export async function listen(fetch: FetchHandler, host: string, port: number): Promise<RunningServer> {
  // Without serverOptions, createAdaptorServer builds a plain node:http server.
  const server = createAdaptorServer({ fetch }) as Server;
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
