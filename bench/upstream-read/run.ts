/**
 * `npm run bench:upstream-read`: the upstream read path, measured four ways in one run — Node's
 * fetch (what src/upstream/client.ts used), undici's `request()` (the npm package), node:http
 * with a keep-alive agent, and the product's own UpstreamClient (node:http since, its body read
 * as a ByteSource, with its deadlines and abort wiring) — and the SSE relay over that client. A child process serves SSE streams shaped like vLLM's (one ~170-byte
 * completion event per write, each write in its own turn of its event loop, so the reader sees many
 * small reads, as with real token pacing); this process reads them, C at a time, and reports its
 * own CPU per 1,000 events and the wall time, alternating the clients over several rounds.
 */
import { fork } from 'node:child_process';
import { Agent, request as httpRequest } from 'node:http';
import { request as undiciRequest, Agent as UndiciAgent } from 'undici';
import type { ByteSource } from '../../src/internal/byte-source.js';
import { parseEventObject, relaySse } from '../../src/stream/index.js';
import { UpstreamClient } from '../../src/upstream/index.js';
import { distribution } from '../lib/stats.js';

const EVENTS = 200;
const REQUESTS = 160;
const CONCURRENCY = 32;
const ROUNDS = 3;

const EVENT = `data: ${JSON.stringify({ id: 'cmpl-0123456789abcdef', object: 'text_completion', created: 1764547200, model: 'Qwen/Qwen3-0.6B', choices: [{ index: 0, text: ' token', logprobs: null, finish_reason: null }] })}\n\n`;

type Reader = (url: string) => Promise<number>;

const fetchReader: Reader = async (url) => {
  const response = await fetch(url, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
  let bytes = 0;
  const reader = response.body!.getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) bytes += r.value.length;
  return bytes;
};

function undiciReader(): Reader {
  const dispatcher = new UndiciAgent({ connections: CONCURRENCY * 2 });
  return async (url) => {
    const { body } = await undiciRequest(url, {
      method: 'POST',
      body: '{}',
      headers: { 'content-type': 'application/json' },
      dispatcher,
    });
    let bytes = 0;
    for await (const chunk of body) bytes += (chunk as Buffer).length;
    return bytes;
  };
}

function nodeHttpReader(): Reader {
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY * 2 });
  return (url) =>
    new Promise((resolve, reject) => {
      const req = httpRequest(
        url,
        { method: 'POST', agent, headers: { 'content-type': 'application/json' } },
        (res) => {
          let bytes = 0;
          res.on('data', (chunk: Buffer) => (bytes += chunk.length));
          res.on('end', () => resolve(bytes));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end('{}');
    });
}

function upstreamClientBody(): (url: string) => Promise<ByteSource> {
  let client: UpstreamClient | undefined;
  return async (url) => {
    const { origin, pathname } = new URL(url);
    client ??= new UpstreamClient({ baseUrl: origin, timeoutMs: 60_000, fixedHeaders: {} });
    return (await client.postJson(pathname, '{}', { headers: {}, signal: new AbortController().signal })).body;
  };
}

function upstreamClientReader(): Reader {
  const open = upstreamClientBody();
  return async (url) => {
    const body = await open(url);
    let bytes = 0;
    for (let chunk = await body.read(); chunk !== undefined; chunk = await body.read()) bytes += chunk.length;
    return bytes;
  };
}

/**
 * What the SSE relay adds above the client: each event parsed and re-encoded, its output read as
 * the HTTP layer reads it.
 */
function relayReader(): Reader {
  const open = upstreamClientBody();
  return async (url) => {
    const body = await open(url);
    const out = relaySse(body, (data) => [parseEventObject(data)], {
      keepAliveIntervalMs: 60_000,
      maxEventBytes: 1 << 16,
    });
    const reader = out.stream.getReader();
    const decoder = new TextDecoder();
    let events = 0;
    for (let r = await reader.read(); !r.done; r = await reader.read())
      events += decoder.decode(r.value, { stream: true }).split('\n\n').length - 1;
    // runClient checks the upstream's byte count; the relay re-encodes, so it is reported when every event came out.
    return events === EVENTS + 1 ? EVENT.length * EVENTS + 'data: [DONE]\n\n'.length : 0;
  };
}

async function runClient(read: Reader, url: string): Promise<{ cpuMsPer1000: number; wallMs: number }> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  let next = 0;
  const expected = EVENT.length * EVENTS + 'data: [DONE]\n\n'.length;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < REQUESTS) {
        next++;
        const bytes = await read(url);
        if (bytes !== expected) throw new Error(`read ${bytes} bytes, expected ${expected}`);
      }
    }),
  );
  const used = process.cpuUsage(cpu);
  return {
    cpuMsPer1000: ((used.user + used.system) / 1000 / (REQUESTS * EVENTS)) * 1000,
    wallMs: performance.now() - started,
  };
}

async function main(): Promise<void> {
  const child = fork(new URL(import.meta.url), ['serve']);
  process.on('exit', () => child.kill());
  const port = await new Promise<number>((resolve) => child.once('message', (p) => resolve(p as number)));
  const url = `http://127.0.0.1:${port}/v1/completions`;
  const clients: Record<string, Reader> = {
    fetch: fetchReader,
    'undici.request': undiciReader(),
    'node:http': nodeHttpReader(),
    UpstreamClient: upstreamClientReader(),
    'UpstreamClient + relay': relayReader(),
  };
  const results: Record<string, { cpu: number[]; wall: number[] }> = {};
  for (const name of Object.keys(clients)) await runClient(clients[name]!, url); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, read] of Object.entries(clients)) {
      const r = await runClient(read, url);
      (results[name] ??= { cpu: [], wall: [] }).cpu.push(r.cpuMsPer1000);
      results[name].wall.push(r.wallMs);
    }
  }
  child.kill();
  const baseline = distribution(results.fetch!.cpu).p50!;
  console.log(
    `${REQUESTS} streams × ${EVENTS} events, ${CONCURRENCY} at a time, ${ROUNDS} rounds (client CPU per 1,000 events, ms)`,
  );
  for (const [name, r] of Object.entries(results)) {
    const cpu = distribution(r.cpu);
    const wall = distribution(r.wall);
    console.log(
      `${name.padEnd(22)} cpu p50 ${cpu.p50!.toFixed(1)} (min ${cpu.min!.toFixed(1)}, max ${cpu.max!.toFixed(1)})  ×${(cpu.p50! / baseline).toFixed(2)} of fetch   wall p50 ${wall.p50!.toFixed(0)} ms`,
    );
  }
}

// Last: the readers above must be initialised before main() runs.
if (process.argv[2] === 'serve') {
  const { createServer } = await import('node:http');
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    let sent = 0;
    const next = (): void => {
      if (sent++ === EVENTS) return void res.end('data: [DONE]\n\n');
      res.write(EVENT);
      setImmediate(next);
    };
    next();
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.send?.(typeof address === 'object' && address ? address.port : 0);
  });
} else {
  await main();
}
