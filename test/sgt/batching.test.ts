/**
 * Micro-batched `transform` against the demo artifact: batching must be invisible in the results
 * (bit for bit), aborted requests leave their batch, a full queue refuses at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SgtOverloadedError, loadSgt, type Sgt, type TransformResult } from '../../src/sgt/index.js';
import { DEMO_SGT_DIR } from '../support/artifacts.js';
import { SAMPLE_CONVERSATIONS } from '../support/sample-prompts.js';
import { testNoiseKey } from '../support/noise.js';

let single: Sgt;
let batched: Sgt;

beforeAll(async () => {
  [single, batched] = await Promise.all([
    loadSgt(DEMO_SGT_DIR, { maxBatchSize: 1 }),
    loadSgt(DEMO_SGT_DIR, { maxBatchSize: 16, maxBatchTokens: 1 << 16, batchPadding: 'longest' }),
  ]);
});
afterAll(async () => {
  await Promise.all([single.close(), batched.close()]);
});

/** Prompts of very different lengths, 1 token included. */
function prompts(sgt: Sgt): number[][] {
  const ids = SAMPLE_CONVERSATIONS.map((c) => sgt.tokenize(sgt.renderPrompt(c)));
  const long = ids.flat().slice(0, 300);
  return [ids[0] ?? [], [9707], ids[3] ?? [], long, ids[5] ?? [], (ids[9] ?? []).slice(0, 7)];
}

const bytes = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

function expectSame(actual: TransformResult, expected: TransformResult): void {
  expect(actual.tokens).toBe(expected.tokens);
  expect(actual.embeds).toHaveLength(expected.tokens * expected.hidden);
  expect(bytes(actual.embeds).equals(bytes(expected.embeds))).toBe(true);
  expect(bytes(actual.plainEmbeds as Float32Array).equals(bytes(expected.plainEmbeds as Float32Array))).toBe(true);
}

describe('micro-batched transform', () => {
  it('gives each request exactly its own embeddings: batched = alone, element-wise, lengths 1 to 300 in one batch', async () => {
    const inputs = prompts(single);
    const alone: TransformResult[] = [];
    for (const [i, ids] of inputs.entries())
      alone.push(await single.transform(ids, { noise: testNoiseKey(BigInt(100 + i)) }));
    const together = await Promise.all(
      inputs.map((ids, i) => batched.transform(ids, { noise: testNoiseKey(BigInt(100 + i)) })),
    );
    for (const result of together)
      expect(result.timing).toMatchObject({ batchSize: inputs.length, paddedTokens: inputs.length * 300 });
    together.forEach((result, i) => expectSame(result, alone[i] as TransformResult));
    expect(alone.every((r) => r.timing?.batchSize === 1)).toBe(true);
  });

  it('gives the same results with the default settings (length buckets, several batches)', async () => {
    const sgt = await loadSgt(DEMO_SGT_DIR);
    try {
      const inputs = prompts(sgt);
      const together = await Promise.all(
        inputs.map((ids, i) => sgt.transform(ids, { noise: testNoiseKey(BigInt(100 + i)) })),
      );
      for (const [i, ids] of inputs.entries())
        expectSame(
          together[i] as TransformResult,
          await single.transform(ids, { noise: testNoiseKey(BigInt(100 + i)) }),
        );
      expect(Math.max(...together.map((r) => r.timing?.batchSize ?? 0))).toBeGreaterThan(1);
    } finally {
      await sgt.close();
    }
  });

  it('is reproducible with a seed within a batch and across batches with other companions', async () => {
    const [a = [], b = [], c = []] = prompts(batched);
    const first = await Promise.all([
      batched.transform(a, { noise: testNoiseKey(7n) }),
      batched.transform(b, { noise: testNoiseKey(8n) }),
      batched.transform(a, { noise: testNoiseKey(7n) }),
    ]);
    expect(first[0]?.timing?.batchSize).toBe(3);
    expectSame(first[2] as TransformResult, first[0] as TransformResult); // twice in the same batch
    const second = await Promise.all([
      batched.transform(c, { noise: testNoiseKey(9n) }),
      batched.transform(a, { noise: testNoiseKey(7n) }),
    ]);
    expectSame(second[1] as TransformResult, first[0] as TransformResult); // other batch, other padding
    const otherSeed = await batched.transform(a, { noise: testNoiseKey(70n) });
    expect(bytes(otherSeed.embeds).equals(bytes((first[0] as TransformResult).embeds))).toBe(false);
    // Without a seed, every request gets fresh noise, batched or not.
    const [u1, u2] = await Promise.all([batched.transform(a), batched.transform(a)]);
    expect(bytes((u1 as TransformResult).embeds).equals(bytes((u2 as TransformResult).embeds))).toBe(false);
  });

  it('drops a request aborted before its batch runs; it rejects with the reason and the others complete', async () => {
    const [a = [], b = [], c = []] = prompts(batched);
    const controller = new AbortController();
    const keep1 = batched.transform(a, { noise: testNoiseKey(1n) });
    const gone = batched.transform(b, { noise: testNoiseKey(2n), signal: controller.signal });
    const keep2 = batched.transform(c, { noise: testNoiseKey(3n) });
    const reason = new DOMException('the client went away', 'AbortError');
    controller.abort(reason); // before the next turn of the event loop: before the batch is formed
    await expect(gone).rejects.toBe(reason);
    const [r1, r2] = await Promise.all([keep1, keep2]);
    expect(r1.timing?.batchSize).toBe(2);
    expectSame(r1, await single.transform(a, { noise: testNoiseKey(1n) }));
    expectSame(r2, await single.transform(c, { noise: testNoiseKey(3n) }));
    await expect(batched.transform(a, { signal: AbortSignal.abort('already gone') })).rejects.toBe('already gone');
  });

  it('refuses requests beyond maxQueuedRequests at once with SgtOverloadedError', async () => {
    const sgt = await loadSgt(DEMO_SGT_DIR, { maxQueuedRequests: 2 });
    try {
      const [a = []] = prompts(sgt);
      const accepted = [sgt.transform(a), sgt.transform(a)];
      const error = await sgt.transform(a).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SgtOverloadedError);
      expect((error as SgtOverloadedError).retryAfterSeconds).toBeGreaterThanOrEqual(1);
      expect(await Promise.all(accepted)).toHaveLength(2);
      expect((await sgt.transform(a)).tokens).toBe(a.length); // accepted again once drained
    } finally {
      await sgt.close();
    }
  });

  it('close() rejects requests still waiting for a batch', async () => {
    const sgt = await loadSgt(DEMO_SGT_DIR);
    const [a = []] = prompts(sgt);
    const waiting = sgt.transform(a);
    await sgt.close();
    await expect(waiting).rejects.toThrow(/closed/);
  });

  it('reports where the time went', async () => {
    const [a = []] = prompts(batched);
    const { timing } = await batched.transform(a, { noise: testNoiseKey(1n) });
    expect(timing).toEqual({
      batchSize: 1,
      paddedTokens: a.length,
      queuedMs: expect.any(Number),
      noiseMs: expect.any(Number),
      runMs: expect.any(Number),
    });
    expect(timing?.runMs).toBeGreaterThan(0);
  });

  it('validates the batching options', async () => {
    await expect(loadSgt(DEMO_SGT_DIR, { maxBatchSize: 0 })).rejects.toThrow(/maxBatchSize/);
    await expect(loadSgt(DEMO_SGT_DIR, { maxBatchTokens: 1.5 })).rejects.toThrow(/maxBatchTokens/);
    await expect(loadSgt(DEMO_SGT_DIR, { maxBatchWaitMs: -1 })).rejects.toThrow(/maxBatchWaitMs/);
    await expect(loadSgt(DEMO_SGT_DIR, { maxQueuedRequests: 0 })).rejects.toThrow(/maxQueuedRequests/);
    await expect(loadSgt(DEMO_SGT_DIR, { batchPadding: 'sideways' as 'longest' })).rejects.toThrow(/batchPadding/);
  });
});
