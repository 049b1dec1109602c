import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  OUTPUT_PROTECTION_INFO,
  encodeBase64,
  parseClientPublicKey,
  sealText,
  setupBaseS,
} from '../../src/protection/index.js';

/**
 * A real HTTP server on loopback standing in for vLLM, with behaviour scripted per test. It
 * records every request's raw bytes (to prove what left the proxy) and how each response ended.
 */
export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  raw: Buffer;
  json(): Record<string, unknown>;
}

export type Behaviour = (request: RecordedRequest, response: ServerResponse) => void | Promise<void>;

export interface ScriptedUpstream {
  url: string;
  requests: RecordedRequest[];
  /** Resolves when a response's connection closed before the response was complete (the proxy aborted). */
  nextAbort(): Promise<RecordedRequest>;
  setBehaviour(behaviour: Behaviour): void;
  close(): Promise<void>;
}

export async function startScriptedUpstream(initial: Behaviour): Promise<ScriptedUpstream> {
  let behaviour = initial;
  const requests: RecordedRequest[] = [];
  const abortWaiters: ((r: RecordedRequest) => void)[] = [];
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (chunk: Buffer) => parts.push(chunk));
    req.on('end', () => {
      const raw = Buffer.concat(parts);
      const recorded: RecordedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        raw,
        json: () => JSON.parse(raw.toString('utf8')) as Record<string, unknown>,
      };
      requests.push(recorded);
      res.on('close', () => {
        if (!res.writableFinished) abortWaiters.splice(0).forEach((resolve) => resolve(recorded));
      });
      void behaviour(recorded, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    nextAbort: () => new Promise((resolve) => abortWaiters.push(resolve)),
    setBehaviour: (next) => (behaviour = next),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function completionChunk(text: string, finishReason: string | null = null): Record<string, unknown> {
  return {
    id: 'cmpl-up',
    object: 'text_completion',
    created: 1700000000,
    model: 'up-model',
    choices: [{ index: 0, text, logprobs: null, finish_reason: finishReason, stop_reason: null }],
  };
}

export function sse(payload: unknown): string {
  return `data: ${typeof payload === 'string' ? payload : JSON.stringify(payload)}\n\n`;
}

/** A well-formed vLLM completions stream of the given tokens. */
export function streamTokens(tokens: readonly string[], options: { usage?: boolean } = {}): Behaviour {
  return (request, response) => {
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    tokens.forEach((token, i) => response.write(sse(completionChunk(token, i === tokens.length - 1 ? 'stop' : null))));
    if (options.usage) {
      response.write(
        sse({
          id: 'cmpl-up',
          object: 'text_completion',
          created: 1,
          model: 'up-model',
          choices: [],
          usage: { prompt_tokens: 5, completion_tokens: tokens.length, total_tokens: 5 + tokens.length },
        }),
      );
    }
    response.end(sse('[DONE]'));
  };
}

export function jsonBody(status: number, body: unknown): Behaviour {
  return (_request, response) => {
    response.writeHead(status, { 'content-type': 'application/json' });
    response.end(JSON.stringify(body));
  };
}

/** Sends headers and one token, then nothing: the connection stays open until someone closes it. */
export function streamThenStall(token: string): Behaviour {
  return (_request, response) => {
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    response.write(sse(completionChunk(token)));
  };
}

/** Never answers at all. */
export const hang: Behaviour = () => undefined;

/** Relays the request to a real server and its answer back: a recording tap on the wire. */
export function forwardTo(baseUrl: string): Behaviour {
  return async (request, response) => {
    const headers = Object.fromEntries(
      Object.entries(request.headers).filter(
        (entry): entry is [string, string] =>
          typeof entry[1] === 'string' && entry[0] !== 'host' && entry[0] !== 'content-length',
      ),
    );
    const answer = await fetch(baseUrl + request.path, {
      method: request.method,
      headers,
      body: request.method === 'GET' ? undefined : request.raw,
    });
    response.writeHead(answer.status, Object.fromEntries(answer.headers));
    for await (const chunk of answer.body ?? []) response.write(chunk);
    response.end();
  };
}

export interface ProtectedStreamOptions {
  clientKeyHeader?: string;
  serverKeyHeader?: string;
  /** Flip a bit in the ciphertext of this token. */
  tamperAt?: number;
  /** Send the ciphertexts of these two tokens in swapped order. */
  swap?: [number, number];
  /** Leave this token out of the stream. */
  dropAt?: number;
}

/** A vLLM behind output protection: seals every token for the client key the request carried. */
export function protectedStream(tokens: readonly string[], options: ProtectedStreamOptions = {}): Behaviour {
  const clientKeyHeader = options.clientKeyHeader ?? 'x-client-public-key';
  const serverKeyHeader = options.serverKeyHeader ?? 'x-server-public-key';
  return (request, response) => {
    const clientKey = parseClientPublicKey(request.headers[clientKeyHeader] as string | undefined, clientKeyHeader);
    const { enc, context } = setupBaseS(clientKey, OUTPUT_PROTECTION_INFO);
    const sealed = tokens.map((token) => sealText(context, 0, token));
    if (options.tamperAt !== undefined) {
      const bytes = Buffer.from(sealed[options.tamperAt]!, 'base64');
      bytes[0]! ^= 1;
      sealed[options.tamperAt] = bytes.toString('base64');
    }
    if (options.swap) {
      const [a, b] = options.swap;
      [sealed[a], sealed[b]] = [sealed[b]!, sealed[a]!];
    }
    response.writeHead(200, { 'content-type': 'text/event-stream', [serverKeyHeader]: encodeBase64(enc) });
    sealed.forEach((text, i) => {
      if (i !== options.dropAt) response.write(sse(completionChunk(text, i === sealed.length - 1 ? 'stop' : null)));
    });
    response.end(sse('[DONE]'));
  };
}
