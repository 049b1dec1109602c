/**
 * `npm run bench:isolation`: what one huge prompt does to everyone else (issue: bounded work per
 * request, off the loop). The proxy runs as a real process (`sgt-proxy serve`) in front of a paced
 * reference server (one token every 20 ms). While 4 streams flow and `/livez` is probed every
 * 10 ms, one worst-case prompt arrives: the longest single "word" the character bound lets through
 * (the slowest text to tokenize), then a 1 MB one. Run twice in one go: SGP_TRANSFORM_WORKERS=0
 * (template, tokenizer and transform on the event loop: the baseline) and the default (worker threads).
 *
 * Reports, over the window from the big request's send to its answer: `/livez` latency p50/p99/max
 * and the largest gap between two tokens of the running streams. Target: /livez ≤ 50 ms, no gap
 * over 100 ms.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { distribution } from '../lib/stats.js';
import { start, stop, withCli, writeResult } from './cli-process.js';

const STREAMS = 4;
const TOKEN_INTERVAL_MS = 20;

const chat = (content: string, maxTokens: number, stream: boolean): string =>
  JSON.stringify({ messages: [{ role: 'user', content }], max_tokens: maxTokens, stream });

/** One stream's token arrival times (ms, performance.now()). */
async function streamArrivals(url: string, signal: AbortSignal): Promise<number[]> {
  const arrivals: number[] = [];
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: chat('Tell me a long story about lighthouses.', 2000, true),
    signal,
  });
  const reader = response.body!.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const text = new TextDecoder().decode(value);
      const now = performance.now();
      for (const _ of text.matchAll(/"content":"[^"]/g)) arrivals.push(now);
    }
  } catch {
    // aborted at the end of the run
  }
  return arrivals;
}

interface Probe {
  at: number;
  ms: number;
  ok: boolean;
}

async function probeLivez(url: string, until: { done: boolean }): Promise<Probe[]> {
  const probes: Probe[] = [];
  while (!until.done) {
    const at = performance.now();
    try {
      const response = await fetch(`${url}/livez`);
      await response.text();
      probes.push({ at, ms: performance.now() - at, ok: response.ok });
    } catch {
      probes.push({ at, ms: performance.now() - at, ok: false });
    }
    await sleep(10);
  }
  return probes;
}

interface Case {
  name: string;
  content: string;
}

async function measure(proxyUrl: string, big: Case) {
  const streams = new AbortController();
  const arrivals = Array.from({ length: STREAMS }, () => streamArrivals(proxyUrl, streams.signal));
  await sleep(1000); // streams flowing
  const until = { done: false };
  const probes = probeLivez(proxyUrl, until);
  await sleep(300);
  const sentAt = performance.now();
  const response = await fetch(`${proxyUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: chat(big.content, 1, false),
  });
  const body = (await response.json()) as { error?: { code?: string } };
  const answeredAt = performance.now();
  await sleep(300);
  until.done = true;
  const probed = await probes;
  streams.abort();
  const times = await Promise.all(arrivals);
  const inWindow = (t: number) => t >= sentAt && t <= answeredAt + 100;
  const gaps = times.flatMap((ts) =>
    ts
      .slice(1)
      .map((t, i) => ({ at: t, gap: t - (ts[i] as number) }))
      .filter((g) => inWindow(g.at)),
  );
  const livez = distribution(probed.filter((p) => inWindow(p.at)).map((p) => p.ms));
  return {
    prompt: big.name,
    characters: big.content.length,
    status: response.status,
    code: body.error?.code ?? null,
    answer_ms: Math.round(answeredAt - sentAt),
    livez_ms: { p50: livez.p50, p99: livez.p99, max: livez.max, n: livez.count },
    livez_failed: probed.filter((p) => inWindow(p.at) && !p.ok).length,
    stream_tokens: times.map((ts) => ts.length),
    max_stream_gap_ms: Math.round(Math.max(0, ...gaps.map((g) => g.gap))),
    gaps_over_100ms: gaps.filter((g) => g.gap > 100).length,
  };
}

async function main(): Promise<void> {
  const reference = await start(
    ['reference-server', '--mode', 'paced', '--token-interval-ms', String(TOKEN_INTERVAL_MS), '--port', '0'],
    {},
  );
  const bound = 4096 * 128; // the demo SGT's max_sequence_length × its longest token (128 characters)
  const cases: Case[] = [
    { name: 'one word at the character bound', content: 'a'.repeat(bound - 200) },
    { name: '1 MB of one word (over the bound)', content: 'a'.repeat(1_000_000) },
  ];
  const rows: Record<string, unknown>[] = [];
  try {
    for (const workers of ['0', 'default']) {
      const env: Record<string, string> = {
        SGP_INFERENCE_SERVICE_HOST: reference.url,
        SGP_PORT: '0',
        SGP_HOST: '127.0.0.1',
        SGP_MAX_REQUEST_BYTES: String(4 * 1024 * 1024),
        SGP_OUTPUT_DECRYPTION: 'false',
      };
      if (workers !== 'default') env.SGP_TRANSFORM_WORKERS = workers;
      await withCli(['serve'], env, async (proxy) => {
        await (
          await fetch(`${proxy.url}/v1/chat/completions`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: chat('warm up', 2, false),
          })
        ).text();
        for (const big of cases) {
          const row = { workers, ...(await measure(proxy.url, big)) };
          console.log(JSON.stringify(row));
          rows.push(row);
        }
      });
    }
  } finally {
    await stop(reference);
  }
  writeResult('isolation', { streams: STREAMS, token_interval_ms: TOKEN_INTERVAL_MS, rows });
}

await main();
