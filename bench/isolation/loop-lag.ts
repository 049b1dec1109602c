/**
 * `npm run bench:loop-lag`: does the relay's event loop wait on transforms? With the real-size demo
 * SGT (H 4096 × V 32 000, where one ~500-token prompt is several hundred ms of transform), CLIENTS
 * closed-loop streams each send a ~500-token prompt and read a 64-token answer paced at 20 ms, for
 * WINDOW_MS; `sgt-proxy serve` runs as a real process in front of a reference server on the same
 * artifact. Run twice in one go: SGP_TRANSFORM_WORKERS=0 (template, tokenizer and transform on the
 * event loop: the baseline) and the default (worker threads).
 *
 * Reports the proxy's own event-loop delay over the window, from its /metrics
 * (`nodejs_eventloop_lag_*`: prom-client's monitorEventLoopDelay, reset by each scrape, so one
 * scrape before the window and one after give the window's), less the 10 ms timer period it
 * includes; and what the clients saw: every gap between two chunks of an answer.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { distribution } from '../lib/stats.js';
import { ROOT, start, stop, withCli, writeResult } from './cli-process.js';

const SGT_DIR = join(ROOT, '.sgt-proxy', 'bench-artifacts', 'h4096-v32000');
const CLIENTS = 4;
const WINDOW_MS = 15_000;
const TOKENS = 64;
// prom-client's default eventLoopMonitoringPrecision: each sample is this period plus the delay.
const LAG_PERIOD_S = 0.01;
const CONTENT = 'The lighthouse keeper wrote in the log every night. '.repeat(45); // ~500 tokens

const body = JSON.stringify({
  messages: [{ role: 'user', content: CONTENT }],
  max_tokens: TOKENS,
  stream: true,
});

/** One stream, read to its end: its first chunk's delay and the gaps between its chunks (ms). */
async function oneStream(url: string): Promise<{ ttftMs: number; gaps: number[]; complete: boolean }> {
  const sent = performance.now();
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  const gaps: number[] = [];
  let last: number | undefined;
  let ttftMs = Number.NaN;
  let text = '';
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    const now = performance.now();
    if (last === undefined) ttftMs = now - sent;
    else gaps.push(now - last);
    last = now;
    text += decoder.decode(r.value, { stream: true });
  }
  return { ttftMs, gaps, complete: response.ok && text.endsWith('data: [DONE]\n\n') };
}

async function scrapeLag(url: string): Promise<Record<'p50' | 'p99' | 'max', number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const value = (name: string): number => {
    const match = new RegExp(`^nodejs_eventloop_lag_${name}_seconds (\\S+)$`, 'm').exec(text);
    if (!match?.[1]) throw new Error(`/metrics has no nodejs_eventloop_lag_${name}_seconds`);
    return Math.max(0, (Number(match[1]) - LAG_PERIOD_S) * 1000);
  };
  return { p50: value('p50'), p99: value('p99'), max: value('max') };
}

async function measure(url: string) {
  await Promise.all([oneStream(url), oneStream(url)]); // warm-up: the session's first runs
  await scrapeLag(url); // starts the window's histogram
  const until = performance.now() + WINDOW_MS;
  const results: Awaited<ReturnType<typeof oneStream>>[] = [];
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (performance.now() < until) results.push(await oneStream(url));
    }),
  );
  const lag = await scrapeLag(url);
  const gaps = distribution(results.flatMap((r) => r.gaps));
  const ttft = distribution(results.map((r) => r.ttftMs));
  const round = (v: number | null) => (v === null ? null : Math.round(v * 10) / 10);
  return {
    requests: results.length,
    incomplete: results.filter((r) => !r.complete).length,
    ttft_ms: { p50: round(ttft.p50), p99: round(ttft.p99) },
    client_gap_ms: { p50: round(gaps.p50), p99: round(gaps.p99), max: round(gaps.max) },
    loop_lag_ms: { p50: round(lag.p50), p99: round(lag.p99), max: round(lag.max) },
  };
}

async function main(): Promise<void> {
  if (!existsSync(join(SGT_DIR, 'sgt.json')))
    throw new Error(
      `${SGT_DIR} is missing: npm run bench:full builds it (or sgt-proxy sgt build-demo --out ${SGT_DIR} --hidden 4096 --vocab 32000)`,
    );
  const reference = await start(
    ['reference-server', '--mode', 'paced', '--token-interval-ms', '20', '--port', '0', '--sgt', SGT_DIR],
    {},
  );
  const rows: Record<string, unknown>[] = [];
  try {
    for (const workers of ['0', 'default']) {
      const env: Record<string, string> = {
        SGP_SGT_PATH: SGT_DIR,
        SGP_INFERENCE_SERVICE_HOST: reference.url,
        SGP_PORT: '0',
        SGP_HOST: '127.0.0.1',
        SGP_OUTPUT_DECRYPTION: 'false',
      };
      if (workers !== 'default') env.SGP_TRANSFORM_WORKERS = workers;
      const row = { workers, ...(await withCli(['serve'], env, (proxy) => measure(proxy.url))) };
      console.log(JSON.stringify(row));
      rows.push(row);
    }
  } finally {
    await stop(reference);
  }
  writeResult('loop-lag', { clients: CLIENTS, window_ms: WINDOW_MS, tokens: TOKENS, sgt: 'h4096-v32000', rows });
}

await main();
