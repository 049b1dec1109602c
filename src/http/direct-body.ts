import { ServerResponse } from 'node:http';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';

/**
 * A streamed body with two edges: a Web Stream for whoever reads the Response (Hono's
 * `app.request`, tests, any fetch-style host), and a writer straight into Node's response for the
 * proxy's own server. The second skips, per token, the Web Stream's promise hops and
 * @hono/node-server's read-then-write loop: 11–18% of the relay's main-thread CPU per token at 128
 * clients (`npm run bench -- --scenarios proxy,proxy-plain,peer`). Only one edge is ever used.
 */
export interface DirectBody {
  stream: ReadableStream<Uint8Array>;
  /** Starts the body on `res`, whose head is already written: backpressure, end and disconnect are its own. */
  writeTo(res: ServerResponse): void;
}

// Keyed by the stream, not the Response: Hono rebuilds a Response around the same body when a middleware sets a header after the handler.
const bodies = new WeakMap<ReadableStream<Uint8Array>, DirectBody>();

/** A Response for `body`, which `listen()`'s server writes straight to the socket. */
export function directResponse(body: DirectBody, init: ResponseInit): Response {
  bodies.set(body.stream, body);
  return new Response(body.stream, init);
}

/**
 * @hono/node-server takes this answer as "already written" only when it is a plain Response. Its
 * own lightweight Response (installed as the global one when a server starts) keeps a 'cache'
 * field, and one with that field gets a second head written. The marker is made when this module
 * loads, before any server here starts; were it a lightweight one, the direct path stays off
 * (slower, not wrong).
 */
const directPathOn = !Object.getOwnPropertySymbols(RESPONSE_ALREADY_SENT).some((key) => key.description === 'cache');

/**
 * Writes `response` straight to `res` when its body is a DirectBody nobody has read, and returns
 * the answer that tells @hono/node-server it is sent; otherwise returns `response` for it to write.
 */
export function writeDirect(response: Response, res: unknown): Response {
  if (!directPathOn || !(res instanceof ServerResponse)) return response;
  const stream = response.body;
  const body = stream === null ? undefined : bodies.get(stream);
  if (body === undefined || body.stream.locked) return response;
  res.writeHead(response.status, headersOf(response.headers));
  res.flushHeaders(); // the client sees the status at once, before the first token
  body.writeTo(res);
  return RESPONSE_ALREADY_SENT;
}

function headersOf(headers: Headers): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of headers) if (name !== 'set-cookie') out[name] = value;
  const cookies = headers.getSetCookie();
  if (cookies.length > 0) out['set-cookie'] = cookies;
  return out;
}
