import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DirectBody } from '../../src/http/index.js';

/** The two ways a relayed body reaches its client (src/http/direct-body.ts). */
export type Edge = 'web stream' | 'node response';
export const EDGES: readonly Edge[] = ['web stream', 'node response'];

/**
 * The body as its client receives it: the Web Stream itself, or what fetch reads from a real
 * loopback server whose response the body wrote itself (`writeTo`). `served` gets the server's
 * response, for tests that watch its socket.
 */
export async function throughEdge(
  body: DirectBody,
  edge: Edge,
  served?: (res: ServerResponse) => void,
): Promise<ReadableStream<Uint8Array>> {
  if (edge === 'web stream') return body.stream;
  const server = createServer((_req, res) => {
    served?.(res);
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.flushHeaders();
    body.writeTo(res);
    res.on('close', () => server.closeAllConnections());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.unref();
  const { port } = server.address() as AddressInfo;
  const response = await fetch(`http://127.0.0.1:${port}/`);
  server.close();
  return response.body!;
}
