/**
 * `npm run bench:privacy`: the privacy audit (src/privacy) of the demo SGT in both noise modes,
 * plus the side effect of prefix noise on vLLM's prefix cache. Writes bench/results/privacy.json
 * and bench/results/privacy.svg (content tokens recovered vs requests averaged), prints the table.
 *
 *   npm run bench:privacy                      # demo SGT, N up to 256, ~2 minutes on 2 cores
 *   npm run bench:privacy -- --sgt DIR --repeats 1,4,16
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { decodePromptEmbeds, encodePromptEmbeds } from '../../src/embeds/index.js';
import {
  DEFAULT_REPEATS,
  defaultAuditPrompts,
  formatAuditTable,
  runAudit,
  type AuditReport,
} from '../../src/privacy/index.js';
import { NoiseKeys, ensureDemoSgt, loadSgt, type NoiseMode, type Sgt } from '../../src/sgt/index.js';
import { renderChart } from '../lib/svg.js';

/** vLLM's KV-cache block size (its default): prefix-cache hits are counted in whole blocks. */
const BLOCK_TOKENS = 16;

const { values } = parseArgs({
  options: {
    sgt: { type: 'string' },
    repeats: { type: 'string' },
    out: { type: 'string', default: join('bench', 'results') },
  },
});
const repeats = values.repeats === undefined ? [...DEFAULT_REPEATS] : values.repeats.split(',').map(Number);
const DEMO_DIR = join('.sgt-proxy', 'bench-artifacts', 'privacy-demo');
if (values.sgt === undefined) await ensureDemoSgt({ out: DEMO_DIR });
const dir = values.sgt ?? DEMO_DIR;
const sgt = await loadSgt(dir);
try {
  const report = await runAudit(sgt, {
    prompts: defaultAuditPrompts(),
    secret: randomBytes(32),
    repeats,
    onProgress: (line) => console.error(line),
  });
  const cache = await prefixCacheBlocks(sgt);
  console.log(formatAuditTable(report));
  console.log(
    `\nvLLM prefix cache (block ${BLOCK_TOKENS}, bf16 prompt_embeds, ${cache.pairs} request pairs sharing a ${cache.sharedTokens}-token system prompt + template):`,
  );
  for (const [mode, share] of Object.entries(cache.identicalBlocks))
    console.log(
      `  ${mode}: ${(100 * share).toFixed(1)}% of the shared prefix's full blocks byte-identical across the pair`,
    );
  await mkdir(values.out, { recursive: true });
  await writeFile(
    join(values.out, 'privacy.json'),
    `${JSON.stringify({ benchmark: 'privacy', startedAt: new Date().toISOString(), report, prefixCache: cache }, null, 2)}\n`,
  );
  await writeFile(join(values.out, 'privacy.svg'), chart(report));
  console.log(`\nwrote ${join(values.out, 'privacy.json')} and ${join(values.out, 'privacy.svg')}`);
} finally {
  await sgt.close();
}

/**
 * Two requests that share a system prompt, sent as the proxy sends them: how many of the shared
 * prefix's full 16-token blocks are byte-identical in the encoded `prompt_embeds` (vLLM hashes a
 * block's embedding bytes when it caches prompt embeddings).
 */
async function prefixCacheBlocks(
  target: Sgt,
): Promise<{ pairs: number; sharedTokens: number; identicalBlocks: Record<NoiseMode, number> }> {
  const system =
    'You are the support assistant of Northwind Clinic. Answer in two sentences, cite the policy number, never give a diagnosis, and escalate anything urgent to a human nurse on duty.';
  const users = defaultAuditPrompts()
    .flatMap((p) => p.messages.filter((m) => m.role === 'user').map((m) => m.content))
    .slice(0, 20);
  const keys = new NoiseKeys(randomBytes(32), target.fingerprint);
  const h = target.metadata.hiddenSize;
  const ids = users.map((content) =>
    target.tokenize(
      target.renderPrompt([
        { role: 'system', content: system },
        { role: 'user', content },
      ]),
    ),
  );
  const shared = sharedPrefixLength(ids);
  const blocks = Math.floor(shared / BLOCK_TOKENS);
  const identicalBlocks = {} as Record<NoiseMode, number>;
  for (const mode of ['prefix', 'fresh'] as const) {
    let same = 0;
    for (let i = 0; i + 1 < ids.length; i += 2) {
      // What vLLM receives: the bf16 tensor, decoded back (bf16 → f32 is exact, so equal floats mean equal bytes).
      const [a, b] = await Promise.all(
        [i, i + 1].map(async (k) => {
          const { embeds, tokens } = await target.transform(ids[k] as number[], { noise: keys.forRequest(mode) });
          return decodePromptEmbeds(encodePromptEmbeds(embeds, [tokens, h], 'bfloat16')).data;
        }),
      );
      for (let block = 0; block < blocks; block++) {
        const range = [block * BLOCK_TOKENS * h, (block + 1) * BLOCK_TOKENS * h] as const;
        if (sameBits((a as Float32Array).subarray(...range), (b as Float32Array).subarray(...range))) same++;
      }
    }
    identicalBlocks[mode] = same / (Math.floor(ids.length / 2) * blocks);
  }
  return { pairs: Math.floor(ids.length / 2), sharedTokens: shared, identicalBlocks };
}

function sharedPrefixLength(sequences: readonly number[][]): number {
  const first = sequences[0] ?? [];
  let n = 0;
  while (n < first.length && sequences.every((s) => s[n] === first[n])) n++;
  return n;
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** Recovery vs requests averaged, one line per noise mode, nearest neighbour (N = 1) included. */
function chart(report: AuditReport): string {
  const averaging = report.attacks.filter((a) => a.attack === 'averaging');
  const series = (['prefix', 'fresh'] as const).map((mode) => ({
    name: `${mode} noise${mode === 'prefix' ? ' (default)' : ''}`,
    points: averaging.filter((a) => a.noise === mode).map((a) => [a.repeats as number, 100 * a.recovery] as const),
  }));
  const secrets = (['prefix', 'fresh'] as const).map((mode) => ({
    name: `${mode} noise${mode === 'prefix' ? ' (default)' : ''}`,
    points: averaging
      .filter((a) => a.noise === mode)
      .map((a) => [a.repeats as number, a.secrets === 0 ? 0 : (100 * a.secretsRecovered) / a.secrets] as const),
  }));
  const { artifact } = report;
  return renderChart({
    title: 'Repetition averaging: what a server reads from N copies of the same prompt',
    subtitle: `${artifact.baseModel} (H ${artifact.hidden}), ${report.prompts} prompts, ${report.contentTokens} content tokens, ${report.secrets} secrets; nearest neighbour on the average`,
    xLabel: 'requests of the same prompt averaged (N)',
    xTicks: [...new Set(averaging.map((a) => a.repeats as number))].sort((x, y) => x - y),
    panels: [
      { title: 'content tokens recovered', yLabel: '% of content tokens', series },
      { title: 'secrets recovered whole', yLabel: '% of secrets', series: secrets },
    ],
  });
}
