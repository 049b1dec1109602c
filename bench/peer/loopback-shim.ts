/**
 * Preloaded (`node --import`) into the peer gateway (@portkey-ai/gateway) by the bench. Two changes,
 * both outside the gateway's own code, each for a stated reason:
 *
 * 1. Loopback only. The gateway's CLI takes `--port` but no host, and @hono/node-server then listens
 *    on every interface. A `listen(port)` without a host gets 127.0.0.1 instead.
 *
 * 2. Streaming works on Node. As published (1.15.2), its dependency range resolves
 *    @hono/node-server 1.19.x, whose lightweight Response keeps an upstream fetch response's
 *    headers object, which the fetch spec makes immutable; the gateway then appends its
 *    `x-portkey-*` headers to it and every streamed chat completion fails with
 *    "TypeError: immutable" (Portkey-AI/gateway issues #1389 and #1550; the maintainers'
 *    workaround is @hono/node-server <= 1.14.2). Here, fetch's responses get a fresh, mutable copy of
 *    their headers: one Headers copy per upstream request, the body stream untouched.
 */
import net from 'node:net';

const host = process.env.BENCH_LISTEN_HOST ?? '127.0.0.1';
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function listenOnLoopback(this: net.Server, ...args: unknown[]) {
  if (typeof args[0] === 'number' && (args[1] === undefined || typeof args[1] === 'function')) {
    if (args[1] === undefined) args[1] = host;
    else args.splice(1, 0, host);
  }
  return (listen as (...a: unknown[]) => net.Server).apply(this, args);
} as typeof listen;

const originalFetch = globalThis.fetch;
globalThis.fetch = async function fetchWithMutableHeaders(...args: Parameters<typeof fetch>): Promise<Response> {
  const response = await originalFetch(...args);
  return new Response(response.body, {
    status: response.status,
    statusText: response.statusText,
    headers: new Headers(response.headers),
  });
};
