import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';

export interface RunningServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

type FetchHandler = (request: Request) => Response | Promise<Response>;

/** Listens and resolves once the port is bound, or rejects with the bind error (EADDRINUSE, EACCES). */
export function listen(fetch: FetchHandler, host: string, port: number): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    let server: ServerType;
    const onError = (err: Error): void => reject(err);
    server = serve({ fetch, hostname: host, port }, (info: AddressInfo) => {
      server.off('error', onError);
      const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
      resolve({
        url: `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${info.port}`,
        port: info.port,
        close: () => closeServer(server),
      });
    });
    server.once('error', onError);
  });
}

function closeServer(server: ServerType): Promise<void> {
  return new Promise((resolve) => {
    // Idle keep-alive sockets would hold close() open; in-flight responses still finish.
    if ('closeIdleConnections' in server) server.closeIdleConnections();
    server.close(() => resolve());
  });
}
