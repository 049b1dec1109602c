/**
 * sgt-proxy's benchmark harness (issues 4, 9–11). One invocation measures, side by side against a
 * paced reference server, the scenarios of bench/lib/scenarios.ts:
 *   direct       client → reference server /v1/chat/completions (plain text)
 *   proxy        client → sgt-proxy (SGT, output protection on: the proxy decrypts) → reference server
 *   proxy-plain  client → sgt-proxy (SGT, no output protection) → reference server
 *   peer         client → @portkey-ai/gateway (custom OpenAI-compatible host) → reference server
 *   proxy-h4096  client → sgt-proxy (the H 4096 × V 32 000 demo SGT) → reference server (prompt-length sweep)
 * Every process is its own child, on loopback; every load is bounded in count and time.
 *
 *   node dist/bench/run.js [--mode quick|full|soak] [--profile] [--scenarios a,b] [--ladder 1,16,64]
 *        [--max-clients N] [--step-seconds N] [--warmup-seconds N] [--tokens N] [--interval-ms N]
 *        [--open-rates r1,r2|none] [--max-rate R] [--prompt-tokens 128,512|none]
 *        [--soak-minutes N] [--soak-concurrency N] [--soak-scenario NAME]
 */
import { existsSync, mkdirSync } from 'node:fs';
import { CLI, LOGS } from './lib/harness.js';
import { benchLadder } from './lib/ladder.js';
import { parseOptions } from './lib/options.js';
import { installCleanup, stopAll } from './lib/processes.js';
import { soak } from './lib/soak.js';

async function main(): Promise<void> {
  installCleanup();
  const options = parseOptions(process.argv.slice(2));
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first (npm run bench does)`);
  mkdirSync(LOGS, { recursive: true });
  if (options.mode === 'soak') await soak(options);
  else await benchLadder(options);
}

main().catch(async (err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  await stopAll(2_000);
  process.exitCode = 1;
});
