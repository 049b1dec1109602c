/**
 * Obfuscation score distribution of demo artifacts on src/privacy/audit-prompts.json: the
 * fraction of each prompt's tokens the nearest-neighbour attack does NOT recover (one fixed noise
 * seed per prompt, as in test/sgt/obfuscation.test.ts). Artifacts are cached in
 * .sgt-proxy/bench-artifacts.
 *
 *   node dist/bench-sgt/bench/sgt/obfuscation.js                      # H 64 default and scale 0
 *   node dist/bench-sgt/bench/sgt/obfuscation.js --hidden 4096 --vocab 32000 [--noise-scale S]
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { NoiseKeys, defaultDemoNoiseScale, ensureDemoSgt, loadSgt, obfuscationScore } from '../../src/sgt/index.js';
import { table } from './stats.js';
import { readFixture } from './workload.js';

const NOISE_KEYS = new NoiseKeys(new TextEncoder().encode('sgt-proxy-bench-noise-secret'), 'bench');

interface Spec {
  readonly hidden: number;
  readonly vocab?: number;
  readonly noiseScale?: number;
}

async function measure(spec: Spec): Promise<(string | number)[]> {
  const scale = spec.noiseScale ?? defaultDemoNoiseScale(spec.hidden, spec.vocab);
  const out = join('.sgt-proxy', 'bench-artifacts', `obfuscation-h${spec.hidden}-v${spec.vocab ?? 'full'}-s${scale}`);
  await ensureDemoSgt({
    out,
    hidden: spec.hidden,
    noiseScale: scale,
    ...(spec.vocab === undefined ? {} : { vocab: spec.vocab }),
  });
  const sgt = await loadSgt(out);
  try {
    const prompts = await readFixture();
    const scores: number[] = [];
    let hidden = 0;
    let tokens = 0;
    for (const [i, prompt] of prompts.entries()) {
      const ids = sgt.tokenize(sgt.renderPrompt(prompt.messages));
      const result = await sgt.transform(ids, { noise: NOISE_KEYS.forRequest('fresh', 1000 + i) });
      const score = obfuscationScore(ids, await sgt.nearestTokens(result.embeds, result.tokens));
      scores.push(score);
      hidden += score * ids.length;
      tokens += ids.length;
    }
    scores.sort((a, b) => a - b);
    const q = (f: number): string =>
      (scores[Math.min(scores.length - 1, Math.floor(f * scores.length))] as number).toFixed(3);
    return [
      spec.hidden,
      sgt.metadata.vocabSize,
      scale,
      prompts.length,
      tokens,
      (hidden / tokens).toFixed(4),
      q(0),
      q(0.1),
      q(0.5),
      (scores.at(-1) as number).toFixed(3),
    ];
  } finally {
    await sgt.close();
  }
}

const { values } = parseArgs({
  options: { hidden: { type: 'string' }, vocab: { type: 'string' }, 'noise-scale': { type: 'string' } },
});
const specs: Spec[] =
  values.hidden === undefined
    ? [{ hidden: 64 }, { hidden: 64, noiseScale: 0 }]
    : [
        {
          hidden: Number(values.hidden),
          ...(values.vocab === undefined ? {} : { vocab: Number(values.vocab) }),
          ...(values['noise-scale'] === undefined ? {} : { noiseScale: Number(values['noise-scale']) }),
        },
      ];
const rows: (string | number)[][] = [];
for (const spec of specs) rows.push(await measure(spec));
console.log(table(['H', 'V', 'noise scale', 'prompts', 'tokens', 'aggregate', 'min', 'p10', 'median', 'max'], rows));
