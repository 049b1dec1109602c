/**
 * The attack suite of docs/privacy.md, each attack a function of what the server holds
 * (ServerSide) and what it receives (ProxySide.send), scored on content tokens only.
 */
import PQueue from 'p-queue';
import { MatMul, type NoiseMode } from '../sgt/index.js';
import type { LabelledPrompt } from './content.js';
import { linearNoise, recoverLinearState } from './linear-generator.js';
import { applyLinear, fitRidge } from './ridge.js';
import type { ProxySide, SentPrompt, ServerSide } from './server-view.js';

export interface Recovery {
  contentTokens: number;
  recovered: number;
  secrets: number;
  secretsRecovered: number;
}

export function emptyRecovery(): Recovery {
  return { contentTokens: 0, recovered: 0, secrets: 0, secretsRecovered: 0 };
}

/** Adds one prompt's guesses to `into`: content tokens guessed right, secrets guessed whole. */
export function score(into: Recovery, prompt: LabelledPrompt, guessed: readonly number[]): void {
  prompt.content.forEach((isContent, t) => {
    if (!isContent) return;
    into.contentTokens++;
    if (guessed[t] === prompt.ids[t]) into.recovered++;
  });
  for (const secret of prompt.secrets) {
    into.secrets++;
    if (secret.positions.every((t) => guessed[t] === prompt.ids[t])) into.secretsRecovered++;
  }
}

/** Runs `fn` over `items` with at most `limit` in flight (the transform batches what is in flight). */
function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const queue = new PQueue({ concurrency: limit });
  return Promise.all(items.map((item, i) => queue.add(() => fn(item, i))));
}

const CONCURRENCY = 16;

/** a. One request, nearest row of the table for each embedding (the product's obfuscation score). */
export async function nearestNeighbour(
  proxy: ProxySide,
  server: ServerSide,
  prompts: readonly LabelledPrompt[],
  mode: NoiseMode,
): Promise<Recovery> {
  const recovery = emptyRecovery();
  await mapLimit(prompts, CONCURRENCY, async (p) =>
    score(recovery, p, await server.read((await proxy.send(p.ids, mode)).embeds)),
  );
  return recovery;
}

export interface AveragingResult {
  readonly byRepeats: Map<number, Recovery>;
  /** Prompts whose repeated requests were all bit-identical (what prefix mode promises). */
  readonly identicalPrompts: number;
}

/** b. N requests of the same prompt, averaged, then nearest neighbour; one pass up to the largest N. */
export async function repetitionAveraging(
  proxy: ProxySide,
  server: ServerSide,
  prompts: readonly LabelledPrompt[],
  mode: NoiseMode,
  repeats: readonly number[],
  onPrompt?: (done: number) => void,
): Promise<AveragingResult> {
  const byRepeats = new Map(repeats.map((n) => [n, emptyRecovery()] as const));
  const largest = Math.max(...repeats);
  let identicalPrompts = 0;
  let done = 0;
  for (const p of prompts) {
    const sum = new Float64Array(p.ids.length * server.hidden);
    let first: Float32Array | undefined;
    let identical = true;
    let count = 0;
    for (let start = 0; start < largest; start += CONCURRENCY) {
      const sent = await Promise.all(
        Array.from({ length: Math.min(CONCURRENCY, largest - start) }, () => proxy.send(p.ids, mode)),
      );
      for (const { embeds } of sent) {
        first ??= embeds;
        if (identical && !sameBits(first, embeds)) identical = false;
        for (let i = 0; i < embeds.length; i++) sum[i] = (sum[i] as number) + (embeds[i] as number);
        count++;
        if (byRepeats.has(count))
          score(byRepeats.get(count) as Recovery, p, await server.read(Float32Array.from(sum, (v) => v / count)));
      }
    }
    if (identical) identicalPrompts++;
    onPrompt?.(++done);
  }
  return { byRepeats, identicalPrompts };
}

/**
 * c. Known-plaintext regression: the server fits a ridge map transformed → plain on the requests
 * whose plaintext it knows (`training`: public prompts, template tokens), then reads the secret
 * prompts through it.
 */
export async function knownPlaintextRegression(
  proxy: ProxySide,
  server: ServerSide,
  training: readonly LabelledPrompt[],
  prompts: readonly LabelledPrompt[],
  mode: NoiseMode,
): Promise<Recovery & { pairs: number }> {
  const h = server.hidden;
  const sent = await mapLimit(training, CONCURRENCY, (p) => proxy.send(p.ids, mode));
  const pairs = training.reduce((n, p) => n + p.ids.length, 0);
  const x = new Float32Array(pairs * h);
  const y = new Float32Array(pairs * h);
  let row = 0;
  training.forEach((p, i) => {
    x.set((sent[i] as SentPrompt).embeds, row * h);
    y.set(server.plain(p.ids), row * h);
    row += p.ids.length;
  });
  const mm = await MatMul.create();
  try {
    const map = await fitRidge(mm, x, y, pairs, h);
    const recovery = emptyRecovery();
    await mapLimit(prompts, CONCURRENCY, async (p) => {
      const { embeds } = await proxy.send(p.ids, mode);
      score(recovery, p, await server.read(await applyLinear(mm, map, embeds, p.ids.length)));
    });
    return { ...recovery, pairs };
  } finally {
    await mm.close();
  }
}

export interface NoiseStreamResult extends Recovery {
  /** Prompts where a linear generator state was found that reproduces the known noise. */
  readonly statesRecovered: number;
  readonly attempted: number;
  /** Correlation of the predicted with the true noise over the held-back positions (0: chance). */
  readonly correlation: number;
  /** Share of held-back noise values predicted within 1e-3. */
  readonly exact: number;
  /** The artifact's output is affine in its noise (the probe is exact). */
  readonly affine: boolean;
}

/** Tolerance on a noise value recovered from float32 embeddings through the probe. */
const RECOVERY_TOLERANCE = 1e-4;
const DENOISE_ROUNDS = 8;
/** Known noise values handed to the solver: ~14 bits each, so 1024 give ~100× the 128 unknowns. */
const SOLVER_VALUES = 1024;

/**
 * d. Noise-stream recovery. The server computes the noise exactly where it knows the plaintext
 * (the template tokens before the first content token) from the SGT weights, tries to recover a
 * linear generator's state from it (linear-generator.ts), and if it can, predicts the noise at
 * every other position and strips it: a few rounds of "read, recompute μ and σ for the reading,
 * subtract them and the predicted noise, read again". `sender` decides the noise: the product's
 * keyed stream, or the linear reference generator the attack is meant to break.
 */
export async function noiseStreamRecovery(
  server: ServerSide,
  prompts: readonly LabelledPrompt[],
  sender: (p: LabelledPrompt) => Promise<SentPrompt>,
): Promise<NoiseStreamResult> {
  const h = server.hidden;
  const recovery = emptyRecovery();
  let statesRecovered = 0;
  let attempted = 0;
  let affine = true;
  const moments = { xy: 0, xx: 0, yy: 0, exact: 0, count: 0 };
  await mapLimit(prompts, 4, async (p) => {
    const sent = await sender(p);
    const known = p.knownPrefix;
    let predicted: Float32Array = new Float32Array(p.ids.length * h);
    if (known > 0) {
      attempted++;
      const probe = await server.probe(p.ids.slice(0, known), { checkAffine: true });
      affine &&= probe.affine === true;
      const recovered = new Float32Array(known * h);
      for (let i = 0; i < known * h; i++)
        recovered[i] = ((sent.embeds[i] as number) - (probe.offset[i] as number)) / (probe.scale[i] as number);
      const { state } = recoverLinearState(recovered.subarray(0, SOLVER_VALUES), RECOVERY_TOLERANCE);
      if (state !== undefined) {
        statesRecovered++;
        predicted = linearNoise(state, p.ids.length * h);
      }
    }
    const truth = sent.noise();
    for (let i = known * h; i < truth.length; i++) {
      const [a, b] = [predicted[i] as number, truth[i] as number];
      moments.xy += a * b;
      moments.xx += a * a;
      moments.yy += b * b;
      if (Math.abs(a - b) < 1e-3) moments.exact++;
      moments.count++;
    }
    score(recovery, p, await denoiseAndRead(server, p, sent.embeds, predicted));
  });
  const correlation = moments.xx > 0 && moments.yy > 0 ? moments.xy / Math.sqrt(moments.xx * moments.yy) : 0;
  return {
    ...recovery,
    statesRecovered,
    attempted,
    correlation,
    exact: moments.count > 0 ? moments.exact / moments.count : 0,
    affine,
  };
}

async function denoiseAndRead(
  server: ServerSide,
  p: LabelledPrompt,
  embeds: Float32Array,
  noise: Float32Array,
): Promise<number[]> {
  const keepKnown = (guess: number[]): number[] =>
    guess.map((id, t) => (t < p.knownPrefix ? (p.ids[t] as number) : id));
  let guess = keepKnown(await server.read(embeds));
  for (let round = 0; round < DENOISE_ROUNDS; round++) {
    const { offset, scale } = await server.probe(guess);
    const plain = server.plain(guess);
    const estimate = embeds.map(
      (v, i) => v - ((offset[i] as number) - (plain[i] as number)) - (scale[i] as number) * (noise[i] as number),
    );
    guess = keepKnown(await server.read(estimate));
  }
  return guess;
}

/** A random 128-bit state for the linear reference generator (never all zero). */
export function randomLinearState(): Uint32Array {
  const state = crypto.getRandomValues(new Uint32Array(4));
  if (state.every((word) => word === 0)) state[0] = 1;
  return state;
}

export interface LinkabilityResult {
  /** Share of same-prompt pairs the server links (at a threshold no different-prompt pair passes). */
  readonly samePrompt: number;
  /** Share of pairs that share a system prompt (different user messages) it links. */
  readonly sharedPrefix: number;
  /** Share of different-prompt pairs linked at that threshold (0 by construction, reported). */
  readonly differentPrompts: number;
  readonly pairs: number;
}

/** Positions compared by the linkability statistic, from the first content token on. */
const LINK_POSITIONS = 16;

/**
 * e. Linkability: can the server tell that two requests share a prompt, or a prefix? Statistic:
 * the mean cosine between the two requests' rows at the same positions (first 16 content
 * positions); threshold: the largest value any pair of different prompts reached.
 */
export async function linkability(
  proxy: ProxySide,
  server: ServerSide,
  prompts: readonly LabelledPrompt[],
  shared: readonly [LabelledPrompt, LabelledPrompt][],
  mode: NoiseMode,
): Promise<LinkabilityResult> {
  const h = server.hidden;
  const statistic = async (a: LabelledPrompt, b: LabelledPrompt): Promise<number> => {
    const [ea, eb] = await Promise.all([proxy.send(a.ids, mode), proxy.send(b.ids, mode)]);
    const from = Math.min(a.knownPrefix, b.knownPrefix);
    const to = Math.min(a.ids.length, b.ids.length, from + LINK_POSITIONS);
    let sum = 0;
    for (let t = from; t < to; t++)
      sum += cosine(ea.embeds.subarray(t * h, (t + 1) * h), eb.embeds.subarray(t * h, (t + 1) * h));
    return to > from ? sum / (to - from) : 0;
  };
  const same = await mapLimit(prompts, CONCURRENCY, (p) => statistic(p, p));
  const different = await mapLimit(prompts, CONCURRENCY, (p, i) =>
    statistic(p, prompts[(i + 1) % prompts.length] as LabelledPrompt),
  );
  const prefix = await mapLimit(shared, CONCURRENCY, ([a, b]) => statistic(a, b));
  const threshold = Math.max(...different);
  const share = (values: number[]): number =>
    values.length === 0 ? 0 : values.filter((v) => v > threshold).length / values.length;
  return {
    samePrompt: share(same),
    sharedPrefix: share(prefix),
    differentPrompts: share(different),
    pairs: same.length + different.length + prefix.length,
  };
}

function cosine(a: Float32Array, b: Float32Array): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += (a[i] as number) * (b[i] as number);
    aa += (a[i] as number) ** 2;
    bb += (b[i] as number) ** 2;
  }
  return aa > 0 && bb > 0 ? ab / Math.sqrt(aa * bb) : 0;
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}
