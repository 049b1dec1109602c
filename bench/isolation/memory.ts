/**
 * `npm run bench:memory`: the proxy's resident memory with the real-size demo SGT (H 4096 × V 32 000,
 * float16 table), whatever the pool size. For SGP_TRANSFORM_WORKERS = 0, 1, 2 and 4, `sgt-proxy serve`
 * runs as a real process behind a paced reference server; after warm-up (prompts of ~512 tokens,
 * a few at a time) its VmRSS and VmHWM are read from /proc. Target: RSS ≤ one copy of the table +
 * 300 MiB for every pool size.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, start, stop } from './cli-process.js';

const SGT_DIR = join(ROOT, '.sgt-proxy', 'bench-artifacts', 'h4096-v32000');
const MiB = 1024 * 1024;

function status(pid: number, field: string): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${field}:`));
  return Number(/(\d+) kB/.exec(line ?? '')?.[1] ?? NaN) * 1024;
}

async function warmUp(url: string): Promise<void> {
  const content = 'The lighthouse keeper wrote in the log every night. '.repeat(50); // ~500 tokens
  const one = async (): Promise<void> => {
    const response = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [{ role: 'user', content }], max_tokens: 4 }),
    });
    if (response.status !== 200) throw new Error(`warm-up got ${response.status}: ${await response.text()}`);
  };
  for (let round = 0; round < 4; round++) await Promise.all(Array.from({ length: 4 }, one));
}

async function main(): Promise<void> {
  if (!existsSync(join(SGT_DIR, 'sgt.json')))
    throw new Error(
      `${SGT_DIR} is missing: npm run bench:full builds it (or sgt-proxy sgt build-demo --out ${SGT_DIR} --hidden 4096 --vocab 32000)`,
    );
  const table = statSync(join(SGT_DIR, 'embeddings.safetensors')).size;
  const reference = await start(
    ['reference-server', '--mode', 'paced', '--token-interval-ms', '0', '--port', '0', '--sgt', SGT_DIR],
    {},
  );
  console.log(
    `table (embeddings.safetensors): ${(table / MiB).toFixed(0)} MiB; target RSS ≤ ${(table / MiB + 300).toFixed(0)} MiB`,
  );
  try {
    for (const workers of ['0', '1', '2', '4']) {
      const proxy = await start(['serve'], {
        SGP_SGT_PATH: SGT_DIR,
        SGP_INFERENCE_SERVICE_HOST: reference.url,
        SGP_OUTPUT_DECRYPTION: 'false',
        SGP_HOST: '127.0.0.1',
        SGP_PORT: '0',
        SGP_TRANSFORM_WORKERS: workers,
      });
      try {
        await warmUp(proxy.url);
        const pid = proxy.child.pid as number;
        const rss = status(pid, 'VmRSS');
        const peak = status(pid, 'VmHWM');
        const verdict = rss <= table + 300 * MiB ? 'within' : 'OVER';
        console.log(
          `SGP_TRANSFORM_WORKERS=${workers}: RSS ${(rss / MiB).toFixed(0)} MiB (peak ${(peak / MiB).toFixed(0)} MiB) — ${verdict} the target`,
        );
      } finally {
        await stop(proxy);
      }
    }
  } finally {
    await stop(reference);
  }
}

await main();
