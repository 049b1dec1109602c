/**
 * Each attack working where it should and failing against the defences (issue: privacy that
 * survives a curious server). Run on the shipped prompts, subsets where an attack is costly.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  knownPlaintextRegression,
  linkability,
  nearestNeighbour,
  noiseStreamRecovery,
  randomLinearState,
  repetitionAveraging,
} from '../../src/privacy/attacks.js';
import { publicCorpus } from '../../src/privacy/corpus.js';
import { ProxySide, ServerSide } from '../../src/privacy/server-view.js';
import { defaultAuditPrompts, labelPrompt, linearNoise, type LabelledPrompt } from '../../src/privacy/index.js';
import { loadSgt, type Sgt } from '../../src/sgt/index.js';
import { DEMO_SGT_DIR, IDENTITY_SGT_DIR } from '../support/artifacts.js';

const SECRET = new TextEncoder().encode('attack-test-noise-secret-01');
let demo: Sgt;
let identity: Sgt;
let demoServer: ServerSide;
let demoProxy: ProxySide;
let prompts: LabelledPrompt[];

beforeAll(async () => {
  [demo, identity] = await Promise.all([loadSgt(DEMO_SGT_DIR), loadSgt(IDENTITY_SGT_DIR)]);
  demoServer = await ServerSide.open(demo);
  demoProxy = new ProxySide(demo, SECRET);
  prompts = defaultAuditPrompts().map((p) => labelPrompt(demo, p));
});
afterAll(async () => {
  await Promise.all([demo.close(), identity.close()]);
});

const rate = (r: { recovered: number; contentTokens: number }): number => r.recovered / r.contentTokens;

describe('nearest neighbour', () => {
  it('reads nearly everything through an identity transform, secrets included', async () => {
    const server = await ServerSide.open(identity);
    const labelled = prompts.map((p) => labelPrompt(identity, p.prompt));
    const r = await nearestNeighbour(new ProxySide(identity, SECRET), server, labelled, 'prefix');
    expect(rate(r)).toBeGreaterThan(0.99);
    expect(r.secretsRecovered).toBe(r.secrets);
  });

  it('reads at most 5% of the content through the demo SGT in both modes, and no secret', async () => {
    for (const mode of ['prefix', 'fresh'] as const) {
      const r = await nearestNeighbour(demoProxy, demoServer, prompts, mode);
      expect(rate(r), mode).toBeLessThanOrEqual(0.05);
      expect(r.secretsRecovered, mode).toBe(0);
    }
  });
});

describe('repetition averaging', () => {
  it('fresh noise: recovery climbs with the number of requests averaged', async () => {
    const subset = prompts.slice(0, 24);
    const { byRepeats, identicalPrompts } = await repetitionAveraging(
      demoProxy,
      demoServer,
      subset,
      'fresh',
      [1, 4, 16],
    );
    const [r1, r4, r16] = [1, 4, 16].map((n) => rate(byRepeats.get(n) as never));
    expect(identicalPrompts).toBe(0);
    expect(r4 as number).toBeGreaterThan((r1 as number) + 0.03);
    expect(r16 as number).toBeGreaterThan(0.3);
  });

  it('prefix noise: 256 requests of a prompt are bit-identical, so N = 256 reads exactly what N = 1 reads', async () => {
    const subset = prompts.filter((p) => p.prompt.id.startsWith('pii')).slice(0, 4);
    const { byRepeats, identicalPrompts } = await repetitionAveraging(
      demoProxy,
      demoServer,
      subset,
      'prefix',
      [1, 256],
    );
    expect(identicalPrompts).toBe(subset.length);
    expect(byRepeats.get(256)).toEqual(byRepeats.get(1));
    expect(byRepeats.get(256)?.secretsRecovered).toBe(0);
  });
});

describe('known-plaintext regression', () => {
  it('trained on 10 000 known pairs, it undoes an identity transform and reads ≤ 5% through the demo SGT', async () => {
    const training = publicCorpus(demo, 10_000).map((p) => labelPrompt(demo, p));
    const r = await knownPlaintextRegression(demoProxy, demoServer, training, prompts, 'prefix');
    expect(r.pairs).toBeGreaterThanOrEqual(10_000);
    expect(rate(r)).toBeLessThanOrEqual(0.05);
    expect(r.secretsRecovered).toBe(0);
    const identityServer = await ServerSide.open(identity);
    const id = await knownPlaintextRegression(
      new ProxySide(identity, SECRET),
      identityServer,
      publicCorpus(identity, 2_000).map((p) => labelPrompt(identity, p)),
      prompts.slice(0, 10).map((p) => labelPrompt(identity, p.prompt)),
      'prefix',
    );
    expect(rate(id)).toBeGreaterThan(0.99);
  });
});

describe('noise-stream recovery', () => {
  const subset = (): LabelledPrompt[] => prompts.slice(0, 12);

  it('breaks a linear generator: the state is recovered, the noise predicted exactly, most content read', async () => {
    const r = await noiseStreamRecovery(demoServer, subset(), (p) =>
      demoProxy.sendWithNoise(p.ids, linearNoise(randomLinearState(), p.ids.length * 64)),
    );
    expect(r.statesRecovered).toBe(r.attempted);
    expect(r.correlation).toBeGreaterThan(0.999);
    expect(r.exact).toBeGreaterThan(0.999);
    expect(rate(r)).toBeGreaterThan(0.5);
  });

  it('against the keyed stream the solver finds no state, so it predicts nothing and reads no more than nearest neighbour', async () => {
    // What makes the noise unpredictable is AES-CTR under a secret key, not this solver's failure:
    // linear-generator.test.ts shows its scope (it fails on a linear generator behind the ziggurat too).
    for (const mode of ['prefix', 'fresh'] as const) {
      const r = await noiseStreamRecovery(demoServer, subset(), (p) => demoProxy.send(p.ids, mode));
      expect(r.affine).toBe(true); // the probe was exact: the noise at the known positions was computed exactly
      expect(r.statesRecovered).toBe(0);
      expect(rate(r)).toBeLessThanOrEqual(0.05);
    }
  });
});

describe('linkability', () => {
  it('prefix noise links every repeat and every shared system prompt; fresh noise is linkable too, by correlation', async () => {
    const subset = prompts.slice(0, 20);
    const shared = subset.map((p, i): [LabelledPrompt, LabelledPrompt] => {
      const make = (q: LabelledPrompt): LabelledPrompt =>
        labelPrompt(demo, {
          id: `s${i}`,
          secrets: [],
          messages: [
            { role: 'system', content: 'You answer for the Northwind Clinic only.' },
            q.prompt.messages.find((m) => m.role === 'user') ?? { role: 'user', content: 'hi' },
          ],
        });
      return [make(p), make(subset[(i + 1) % subset.length] as LabelledPrompt)];
    });
    const prefix = await linkability(demoProxy, demoServer, subset, shared, 'prefix');
    expect(prefix.samePrompt).toBe(1);
    expect(prefix.sharedPrefix).toBe(1);
    expect(prefix.differentPrompts).toBe(0);
    // One draw of fresh noise scores the share of 20 same-prompt pairs above the largest of 20
    // different-prompt pairs, which moves from draw to draw (0.5 to 1 seen; chance is about 1/21):
    // fresh noise is judged on the mean of five draws.
    let fresh = 0;
    for (let draw = 0; draw < 5; draw++)
      fresh += (await linkability(demoProxy, demoServer, subset, shared, 'fresh')).samePrompt / 5;
    expect(fresh).toBeGreaterThan(0.5);
  });
});
