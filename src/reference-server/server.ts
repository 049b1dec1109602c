import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import { createReferenceServerApp, type ReferenceServerOptions } from './app.js';

export interface RunningServer {
  url: string;
  port: number;
  /** Stops listening and ends open connections, streams included (their generations are aborted). */
  close(): Promise<void>;
}

export interface StartOptions extends ReferenceServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
}

export async function startReferenceServer(options: StartOptions): Promise<RunningServer> {
  const app = createReferenceServerApp(options);
  // createAdaptorServer without serverOptions builds a node:http server.
  const server = createAdaptorServer({ fetch: app.fetch }) as Server;
  const port = await listen(server, options.host, options.port);
  const url = `http://${urlHost(options.host)}:${port}`;
  options.logger.info({ url, mode: options.mode, model: options.sgt.metadata.baseModel }, 'reference server listening');
  let closing: Promise<void> | undefined;
  // Idempotent: a second close() (a test's cleanup, a signal handler) waits for the first.
  return { url, port, close: () => (closing ??= closeServer(server)) };
}

function listen(server: Server, host: string, port: number): Promise<number> {
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

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((err) => (err ? reject(err) : resolve()));
    // Without this, close() would wait for every open stream to finish.
    server.closeAllConnections();
  });
}
