/**
 * `npm run bench:per-request`: what a request costs the proxy apart from its tokens. `sgt-proxy
 * serve` (the demo SGT, SGP_OUTPUT_DECRYPTION=false) runs as a real process in front of the paced
 * reference server; 16 closed-loop clients send streamed chat requests for one token each, so
 * nearly all the proxy's CPU is per request: HTTP, routing, validation, template and tokenizer, the
 * transform, the upstream call, the access line.
 *
 * Reports CPU per request, from /proc, the median of 4 rounds of 8 s after 6 s of warm-up: the
 * proxy's main thread (the event loop every stream is relayed on), the whole proxy process (its
 * worker threads too), and the reference server's, measured in the same rounds as a yardstick
 * (it parses the same requests and answers them with one token): the proxy's main thread over it is
 * the figure to compare between runs, since this machine's speed moves more than a change does.
 */
import { mainThreadCpuSeconds, processCpuSeconds } from '../lib/cpu.js';
import { distribution } from '../lib/stats.js';
import { start, stop, withCli, writeResult } from './cli-process.js';

const CLIENTS = 16;
const WARMUP_MS = 6_000;
const ROUND_MS = 8_000;
const ROUNDS = 4;

const BODY = JSON.stringify({
  messages: [{ role: 'user', content: 'Tell me a story about a lighthouse keeper and the sea, in three sentences.' }],
  max_tokens: 1,
  stream: true,
});

async function oneRequest(url: string): Promise<void> {
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: BODY,
  });
  const text = await response.text();
  if (!response.ok || !text.endsWith('data: [DONE]\n\n'))
    throw new Error(`an incomplete answer: ${text.slice(0, 200)}`);
}

async function closedLoop(url: string, ms: number): Promise<number> {
  const until = performance.now() + ms;
  let requests = 0;
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      for (; performance.now() < until; requests++) await oneRequest(url);
    }),
  );
  return requests;
}

function cpuOf(pid: number, read: (pid: number) => number | null): number {
  const seconds = read(pid);
  if (seconds === null) throw new Error(`process ${pid} is gone`);
  return seconds;
}

async function measure(proxyUrl: string, proxyPid: number, referencePid: number) {
  await closedLoop(proxyUrl, WARMUP_MS);
  const rounds: { requests: number; main: number; process: number; reference: number }[] = [];
  const readings = () => ({
    main: cpuOf(proxyPid, mainThreadCpuSeconds),
    process: cpuOf(proxyPid, processCpuSeconds),
    reference: cpuOf(referencePid, processCpuSeconds),
  });
  for (let i = 0; i < ROUNDS; i++) {
    const before = readings();
    const requests = await closedLoop(proxyUrl, ROUND_MS);
    const after = readings();
    const perRequestUs = (key: keyof typeof before) => ((after[key] - before[key]) * 1e6) / requests;
    rounds.push({
      requests,
      main: perRequestUs('main'),
      process: perRequestUs('process'),
      reference: perRequestUs('reference'),
    });
  }
  const median = (key: 'main' | 'process' | 'reference') => Math.round(distribution(rounds.map((r) => r[key])).p50!);
  return {
    requests: rounds.map((r) => r.requests),
    proxy_main_thread_us_per_request: median('main'),
    proxy_process_us_per_request: median('process'),
    reference_server_us_per_request: median('reference'),
    // The machine's speed moves between runs by more than a change is worth: compare this, not the µs.
    main_thread_over_reference_server: Math.round((median('main') / median('reference')) * 100) / 100,
  };
}

async function main(): Promise<void> {
  const reference = await start(['reference-server', '--mode', 'paced', '--token-interval-ms', '1', '--port', '0'], {});
  try {
    const env = {
      SGP_INFERENCE_SERVICE_HOST: reference.url,
      SGP_PORT: '0',
      SGP_HOST: '127.0.0.1',
      SGP_OUTPUT_DECRYPTION: 'false',
    };
    const result = await withCli(['serve'], env, (proxy) => measure(proxy.url, proxy.child.pid!, reference.child.pid!));
    console.log(JSON.stringify(result));
    writeResult('per-request', { clients: CLIENTS, round_ms: ROUND_MS, rounds: ROUNDS, ...result });
  } finally {
    await stop(reference);
  }
}

await main();
