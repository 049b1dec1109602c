import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  PromptTooLongError,
  SgtDeviceUnavailableError,
  SgtInputError,
  gaussianNoise,
  loadSgt,
  obfuscationScore,
  readSafetensorsFloat,
  type Sgt,
} from '../../src/sgt/index.js';
import { DEMO_SGT_DIR, IDENTITY_SGT_DIR } from '../support/artifacts.js';
import { SAMPLE_CONVERSATIONS } from '../support/sample-prompts.js';
import { testNoiseKey } from '../support/noise.js';

let identity: Sgt;
let demo: Sgt;
let table: Float32Array;
const H = 64;

beforeAll(async () => {
  [identity, demo] = await Promise.all([loadSgt(IDENTITY_SGT_DIR), loadSgt(DEMO_SGT_DIR)]);
  table = (await readSafetensorsFloat(join(IDENTITY_SGT_DIR, 'embeddings.safetensors'), 'weight')).data;
});
afterAll(async () => {
  await Promise.all([identity.close(), demo.close()]);
});

function promptIds(sgt: Sgt, index = 1): number[] {
  return sgt.tokenize(sgt.renderPrompt(SAMPLE_CONVERSATIONS[index] ?? []));
}

function rows(ids: readonly number[]): Float32Array {
  const out = new Float32Array(ids.length * H);
  ids.forEach((id, t) => out.set(table.subarray(id * H, (id + 1) * H), t * H));
  return out;
}

describe('metadata', () => {
  it('describes the demo artifact', () => {
    expect(demo.metadata).toEqual({
      baseModel: 'sgt-demo/qwen3-tokenizer-h64',
      hiddenSize: 64,
      vocabSize: 151669,
      maxSequenceLength: 4096,
    });
    expect(demo.dir).toBe(DEMO_SGT_DIR);
  });
});

describe('identity artifact (noise scale 0)', () => {
  it('transform returns exactly the embedding rows, whatever the noise', async () => {
    const ids = promptIds(identity);
    for (const seed of [1n, 2n, undefined]) {
      const result = await identity.transform(ids, seed === undefined ? {} : { noise: testNoiseKey(seed) });
      expect(result.tokens).toBe(ids.length);
      expect(result.hidden).toBe(H);
      expect(result.embeds).toEqual(rows(ids)); // bit-for-bit
      expect(result.plainEmbeds).toEqual(rows(ids));
    }
  });

  it('nearestTokens recovers every id, and decoding them gives back the templated prompt', async () => {
    for (const conversation of SAMPLE_CONVERSATIONS) {
      const text = identity.renderPrompt(conversation);
      const ids = identity.tokenize(text);
      const { embeds, tokens } = await identity.transform(ids);
      const guessed = await identity.nearestTokens(embeds, tokens);
      expect(guessed).toEqual(ids);
      expect(identity.decode(guessed)).toBe(text);
      expect(obfuscationScore(ids, guessed)).toBe(0);
    }
  });

  it('nearestTokens survives bfloat16 rounding of the embeddings (what goes on the wire)', async () => {
    const ids = promptIds(identity, 4);
    const { embeds, tokens } = await identity.transform(ids);
    const bf16 = new Float32Array(embeds);
    const bits = new Uint32Array(bf16.buffer);
    for (let i = 0; i < bits.length; i++) bits[i] = (bits[i] as number) & 0xffff0000;
    expect(await identity.nearestTokens(bf16, tokens)).toEqual(ids);
  });
});

describe('demo artifact', () => {
  it('shares the embedding table with the identity artifact (same seed, other noise scale)', async () => {
    const digest = async (dir: string): Promise<string> =>
      createHash('sha256')
        .update(await readFile(join(dir, 'embeddings.safetensors')))
        .digest('hex');
    expect(await digest(DEMO_SGT_DIR)).toBe(await digest(IDENTITY_SGT_DIR));
  });

  it('plain_embeds are the embedding rows; transformed ones differ', async () => {
    const ids = promptIds(demo);
    const result = await demo.transform(ids, { noise: testNoiseKey(5n) });
    expect(result.plainEmbeds).toEqual(rows(ids));
    expect(result.embeds).not.toEqual(rows(ids));
  });

  it('is reproducible with a noise seed and random without one', async () => {
    const ids = promptIds(demo);
    const a = await demo.transform(ids, { noise: testNoiseKey(123n) });
    const b = await demo.transform(ids, { noise: testNoiseKey(123n) });
    const c = await demo.transform(ids, { noise: testNoiseKey(124n) });
    expect(a.embeds).toEqual(b.embeds);
    expect(a.embeds).not.toEqual(c.embeds);
    expect((await demo.transform(ids)).embeds).not.toEqual((await demo.transform(ids)).embeds);
  });

  it('is sequence dependent: the same token is transformed differently after different contexts', async () => {
    // Same noise, same last token, different preceding text → different μ/σ at the last position.
    const one = [9707, 1052, 0];
    const two = [15216, 1431, 0];
    const t = one.length - 1;
    const lastRow = async (ids: number[]): Promise<Float32Array> =>
      (await demo.transform(ids, { noise: testNoiseKey(9n) })).embeds.slice(t * H, (t + 1) * H);
    expect(await lastRow(one)).not.toEqual(await lastRow(two));
  });

  it('the nearest-neighbour attack recovers under 5% of the tokens of 20 varied prompts', async () => {
    let recovered = 0;
    let total = 0;
    for (const [index, conversation] of SAMPLE_CONVERSATIONS.entries()) {
      const ids = demo.tokenize(demo.renderPrompt(conversation));
      const { embeds, tokens } = await demo.transform(ids, { noise: testNoiseKey(BigInt(1000 + index)) });
      const guessed = await demo.nearestTokens(embeds, tokens);
      recovered += Math.round((1 - obfuscationScore(ids, guessed)) * tokens);
      total += tokens;
    }
    expect(total).toBeGreaterThan(500);
    expect(recovered / total).toBeLessThan(0.05);
  });

  it('masks padded positions and gives left- and right-padded rows exactly the unpadded result', async () => {
    // Run transform.onnx directly with B=2: row 0 unpadded, row 1 the same prompt left-padded by 3.
    const session = await ort.InferenceSession.create(join(DEMO_SGT_DIR, 'transform.onnx'));
    try {
      const ids = promptIds(demo).slice(0, 12);
      const T = ids.length + 3;
      const noiseOne = gaussianNoise(ids.length * H, 77n);
      const noise = new Float32Array(2 * T * H);
      noise.set(noiseOne, 0);
      noise.set(noiseOne, T * H + 3 * H);
      const inputIds = new BigInt64Array(2 * T);
      const mask = new BigInt64Array(2 * T);
      ids.forEach((id, t) => {
        inputIds[t] = BigInt(id);
        mask[t] = 1n;
        inputIds[T + 3 + t] = BigInt(id);
        mask[T + 3 + t] = 1n;
      });
      const out = await session.run({
        input_ids: new ort.Tensor('int64', inputIds, [2, T]),
        attention_mask: new ort.Tensor('int64', mask, [2, T]),
        noise: new ort.Tensor('float32', noise, [2, T, H]),
      });
      const y = out['transformed_embeds']?.data as Float32Array;
      expect([...y.subarray(ids.length * H, T * H)].every((v) => v === 0)).toBe(true); // row 0 right padding
      expect([...y.subarray(T * H, T * H + 3 * H)].every((v) => v === 0)).toBe(true); // row 1 left padding
      const single = await demo.transform(ids, { noise: noiseOne });
      // Bit for bit: the graph uses only correctly rounded elementwise ops (see src/sgt/demo/transform.ts).
      const row0 = y.subarray(0, ids.length * H);
      const row1 = y.subarray(T * H + 3 * H, 2 * T * H);
      expect(Buffer.from(row0.slice().buffer).equals(Buffer.from(single.embeds.slice().buffer))).toBe(true);
      expect(Buffer.from(row1.slice().buffer).equals(Buffer.from(single.embeds.slice().buffer))).toBe(true);
    } finally {
      await session.release();
    }
  });
});

describe('input validation', () => {
  it('rejects prompts longer than max_sequence_length with PromptTooLongError', async () => {
    const error = await demo.transform(new Array<number>(4097).fill(13048)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PromptTooLongError);
    expect(error).toMatchObject({ tokens: 4097, limit: 4096 });
  });

  it('accepts exactly max_sequence_length tokens', async () => {
    const result = await demo.transform(new Array<number>(4096).fill(13048), { noise: testNoiseKey(1n) });
    expect(result.embeds).toHaveLength(4096 * H);
  });

  it('rejects empty prompts, ids out of range and non-integers with SgtInputError', async () => {
    await expect(demo.transform([])).rejects.toThrow(SgtInputError);
    await expect(demo.transform([151669])).rejects.toThrow(/outside \[0, 151669\)/);
    await expect(demo.transform([-1])).rejects.toThrow(SgtInputError);
    await expect(demo.transform([1.5])).rejects.toThrow(SgtInputError);
  });

  it('nearestTokens checks the embedding length and takes at most max_sequence_length tokens a call', async () => {
    await expect(demo.nearestTokens(new Float32Array(10), 1)).rejects.toThrow(SgtInputError);
    expect(await demo.nearestTokens(new Float32Array(0), 0)).toEqual([]);
    await expect(demo.nearestTokens(new Float32Array(4097 * H), 4097)).rejects.toThrow(/at most 4096 tokens/);
  });

  it('nearestTokens searches long inputs in bounded chunks with the same answer', async () => {
    // 151 669 rows: one run scores at most 110 tokens (64 MB of scores), so 1500 tokens take 14 runs.
    const ids = Array.from({ length: 1500 }, (_, i) => (i * 7919) % 151_669);
    const { embeds, tokens } = await identity.transform(ids);
    expect(await identity.nearestTokens(embeds, tokens)).toEqual(ids);
  });

  it('rejects calls after close', async () => {
    const sgt = await loadSgt(IDENTITY_SGT_DIR);
    await sgt.close();
    await sgt.close(); // idempotent
    await expect(sgt.transform([1])).rejects.toThrow(/closed/);
  });
});

describe('device', () => {
  const require = createRequire(import.meta.url);
  const bindingDir = join(
    require.resolve('onnxruntime-node'),
    '..',
    '..',
    'bin',
    'napi-v6',
    process.platform,
    process.arch,
  );
  const hasCuda = existsSync(join(bindingDir, 'libonnxruntime_providers_cuda.so'));

  it.skipIf(hasCuda)('cuda without the CUDA provider fails with install instructions', async () => {
    const error = await loadSgt(IDENTITY_SGT_DIR, { device: 'cuda' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SgtDeviceUnavailableError);
    expect((error as Error).message).toMatch(/ONNXRUNTIME_NODE_INSTALL=cuda12/);
  });

  it('rejects unknown devices', async () => {
    await expect(loadSgt(IDENTITY_SGT_DIR, { device: 'tpu' as 'cpu' })).rejects.toThrow(RangeError);
  });
});
