/**
 * `sgt audit`: every attack of docs/privacy.md against one artifact, in each noise mode, as one
 * report. The CLI, `npm run bench:privacy` and the tests all run this function.
 */
import type { NoiseMode, Sgt } from '../sgt/index.js';
import {
  emptyRecovery,
  knownPlaintextRegression,
  linkability,
  nearestNeighbour,
  noiseStreamRecovery,
  randomLinearState,
  repetitionAveraging,
  score,
  type LinkabilityResult,
  type Recovery,
} from './attacks.js';
import { labelPrompt, type LabelledPrompt } from './content.js';
import { publicCorpus } from './corpus.js';
import { linearNoise } from './linear-generator.js';
import type { AuditPrompt } from './prompts.js';
import { ProxySide, ServerSide } from './server-view.js';

export const DEFAULT_REPEATS: readonly number[] = [1, 4, 16, 64, 256];
/** Known-plaintext pairs (token rows) the regression attacker trains on. */
export const DEFAULT_REGRESSION_TOKENS = 10_000;

export interface AuditOptions {
  readonly prompts: readonly AuditPrompt[];
  /** The noise secret of the simulated proxy (a fresh random one is as good: the server never has it). */
  readonly secret: Uint8Array;
  readonly modes?: readonly NoiseMode[];
  readonly repeats?: readonly number[];
  readonly regressionTokens?: number;
  readonly onProgress?: (line: string) => void;
}

export type AttackName = 'nearest' | 'averaging' | 'regression' | 'noise-stream';

export interface AttackRow extends Recovery {
  readonly attack: AttackName;
  /** The noise the proxy used: a mode, or the linear reference generator the noise-stream attack is validated on. */
  readonly noise: NoiseMode | 'linear-reference';
  /** Requests averaged (averaging only). */
  readonly repeats?: number;
  /** recovered / contentTokens. */
  readonly recovery: number;
  /** Wall time of the attack; the averaging rows of a mode share one pass, so they share its time. */
  readonly ms: number;
  readonly detail?: Readonly<Record<string, number | string | boolean>>;
}

export interface AuditReport {
  readonly artifact: {
    readonly dir: string;
    readonly baseModel: string;
    readonly hidden: number;
    readonly vocab: number;
  };
  readonly prompts: number;
  readonly contentTokens: number;
  readonly secrets: number;
  readonly attacks: AttackRow[];
  readonly linkability: (LinkabilityResult & { readonly noise: NoiseMode; readonly ms: number })[];
  readonly ms: number;
}

/** A system prompt shared by two requests with different user messages (linkability's prefix pairs). */
const SHARED_SYSTEM_PROMPT =
  'You are the support assistant of Northwind Clinic. Answer in two sentences and never give a diagnosis.';

export async function runAudit(sgt: Sgt, options: AuditOptions): Promise<AuditReport> {
  const started = performance.now();
  const modes = options.modes ?? ['prefix', 'fresh'];
  const repeats = [...(options.repeats ?? DEFAULT_REPEATS)].sort((a, b) => a - b);
  const progress = options.onProgress ?? (() => undefined);
  const prompts = options.prompts.map((p) => labelPrompt(sgt, p));
  const proxy = new ProxySide(sgt, options.secret);
  const server = await ServerSide.open(sgt);
  const training = publicCorpus(sgt, options.regressionTokens ?? DEFAULT_REGRESSION_TOKENS).map((p) =>
    labelPrompt(sgt, p),
  );
  const shared = sharedPrefixPairs(sgt, options.prompts);
  const attacks: AttackRow[] = [];
  const links: AuditReport['linkability'] = [];
  const timed = async <T>(fn: () => Promise<T>): Promise<[T, number]> => {
    const t0 = performance.now();
    const value = await fn();
    return [value, performance.now() - t0];
  };
  const row = (
    attack: AttackName,
    noise: AttackRow['noise'],
    r: Recovery,
    ms: number,
    extra: Partial<AttackRow> = {},
  ): AttackRow => ({
    attack,
    noise,
    ...r,
    recovery: r.contentTokens === 0 ? 0 : r.recovered / r.contentTokens,
    ms,
    ...extra,
  });

  for (const mode of modes) {
    progress(`audit: ${mode} noise: nearest neighbour (${prompts.length} prompts)`);
    const [nearest, nearestMs] = await timed(() => nearestNeighbour(proxy, server, prompts, mode));
    attacks.push(row('nearest', mode, nearest, nearestMs));

    progress(`audit: ${mode} noise: repetition averaging, N = ${repeats.join(', ')}`);
    const [averaging, averagingMs] = await timed(() =>
      repetitionAveraging(proxy, server, prompts, mode, repeats, (done) => {
        if (done % 10 === 0 || done === prompts.length)
          progress(`audit: ${mode} noise: repetition averaging: ${done}/${prompts.length} prompts`);
      }),
    );
    for (const n of repeats) {
      attacks.push(
        row('averaging', mode, averaging.byRepeats.get(n) ?? emptyRecovery(), averagingMs, {
          repeats: n,
          detail: { identical_repeats: `${averaging.identicalPrompts}/${prompts.length} prompts` },
        }),
      );
    }

    progress(
      `audit: ${mode} noise: known-plaintext regression (${training.reduce((n, p) => n + p.ids.length, 0)} pairs)`,
    );
    const [regression, regressionMs] = await timed(() =>
      knownPlaintextRegression(proxy, server, training, prompts, mode),
    );
    attacks.push(row('regression', mode, regression, regressionMs, { detail: { pairs: regression.pairs } }));

    progress(`audit: ${mode} noise: noise-stream recovery`);
    const [stream, streamMs] = await timed(() => noiseStreamRecovery(server, prompts, (p) => proxy.send(p.ids, mode)));
    attacks.push(row('noise-stream', mode, stream, streamMs, { detail: noiseStreamDetail(stream) }));

    progress(`audit: ${mode} noise: linkability`);
    const [link, linkMs] = await timed(() => linkability(proxy, server, prompts, shared, mode));
    links.push({ ...link, noise: mode, ms: linkMs });
  }

  progress('audit: noise-stream recovery against the linear reference generator (what the attack breaks)');
  const [reference, referenceMs] = await timed(() =>
    noiseStreamRecovery(server, prompts, (p) =>
      proxy.sendWithNoise(p.ids, linearNoise(randomLinearState(), p.ids.length * sgt.metadata.hiddenSize)),
    ),
  );
  attacks.push(
    row('noise-stream', 'linear-reference', reference, referenceMs, { detail: noiseStreamDetail(reference) }),
  );

  const totals = emptyRecovery();
  for (const p of prompts) score(totals, p, p.ids);
  return {
    artifact: {
      dir: sgt.dir,
      baseModel: sgt.metadata.baseModel,
      hidden: sgt.metadata.hiddenSize,
      vocab: sgt.metadata.vocabSize,
    },
    prompts: prompts.length,
    contentTokens: totals.contentTokens,
    secrets: totals.secrets,
    attacks,
    linkability: links,
    ms: performance.now() - started,
  };
}

/** With no state found there is no prediction: a correlation would be 0 by construction, not measured. */
function noiseStreamDetail(
  r: Awaited<ReturnType<typeof noiseStreamRecovery>>,
): Record<string, number | string | boolean> {
  const prediction: Record<string, number | string> =
    r.statesRecovered === 0
      ? { noise_prediction: 'none (no linear state fits)' }
      : { noise_correlation: Number(r.correlation.toFixed(4)), noise_within_0_001: Number(r.exact.toFixed(4)) };
  return { states_recovered: `${r.statesRecovered}/${r.attempted} prompts`, ...prediction, affine_probe: r.affine };
}

/** Pairs (S + user A, S + user B): the same system prompt, different user messages. */
function sharedPrefixPairs(sgt: Sgt, prompts: readonly AuditPrompt[]): [LabelledPrompt, LabelledPrompt][] {
  const users = prompts
    .map((p) => p.messages.find((m) => m.role === 'user')?.content)
    .filter((c): c is string => c !== undefined);
  const make = (content: string, i: number): LabelledPrompt =>
    labelPrompt(sgt, {
      id: `shared-${i}`,
      secrets: [],
      messages: [
        { role: 'system', content: SHARED_SYSTEM_PROMPT },
        { role: 'user', content },
      ],
    });
  return users.map((content, i) => [make(content, i), make(users[(i + 1) % users.length] as string, i)]);
}
