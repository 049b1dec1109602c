import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEMO_DEFAULTS,
  buildDemoSgt,
  defaultDemoNoiseScale,
  ensureDemoSgt,
  loadSgt,
  readSafetensorsFloat,
  readSafetensorsHeader,
} from '../../src/sgt/index.js';
import { DEMO_SGT_DIR } from '../support/artifacts.js';
import { testNoiseKey } from '../support/noise.js';

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'sgt-demo-build-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

const table = async (dir: string): Promise<Float32Array> =>
  (await readSafetensorsFloat(join(dir, 'embeddings.safetensors'), 'weight')).data;
/** Bytewise equality: expect().toEqual on million-element typed arrays takes seconds. */
const sameBytes = (a: ArrayBufferView, b: ArrayBufferView): boolean =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

describe('buildDemoSgt', () => {
  it('writes sgt.json per the v1 contract', async () => {
    const manifest = JSON.parse(await readFile(join(DEMO_SGT_DIR, 'sgt.json'), 'utf8')) as Record<string, unknown>;
    expect(manifest).toMatchObject({
      format: 'sgt-onnx/1',
      base_model: 'sgt-demo/qwen3-tokenizer-h64',
      hidden_size: DEMO_DEFAULTS.hidden,
      vocab_size: 151669,
      max_sequence_length: 4096,
      noise: 'input',
      inputs: ['input_ids', 'attention_mask', 'noise'],
      outputs: ['transformed_embeds', 'plain_embeds'],
    });
    expect((await readdir(DEMO_SGT_DIR)).sort()).toEqual([
      'embeddings.safetensors',
      'sgt.json',
      'tokenizer.json',
      'tokenizer_config.json',
      'transform.onnx',
      'transform.onnx.data',
    ]);
    // The graph holds no weights itself: the table is shared with embeddings.safetensors, the
    // float16 H×H matrices live in transform.onnx.data.
    expect((await readFile(join(DEMO_SGT_DIR, 'transform.onnx'))).byteLength).toBeLessThan(64 * 1024);
    expect((await readFile(join(DEMO_SGT_DIR, 'transform.onnx.data'))).byteLength).toBeGreaterThanOrEqual(
      3 * 64 * 64 * 2,
    );
    const header = await readSafetensorsHeader(join(DEMO_SGT_DIR, 'embeddings.safetensors'));
    expect(header.tensors.get('weight')).toMatchObject({ dtype: 'F16', shape: [151669, 64] });
  });

  it('is deterministic in the seed: same seed → same table (whatever the noise), other seed → other table', async () => {
    const build = async (name: string, seed: number, noiseScale: number): Promise<string> => {
      const out = join(scratch, name);
      await buildDemoSgt({ out, hidden: 8, seed, noiseScale });
      return out;
    };
    const [a, b, c] = [await build('s1', 1, 3), await build('s1-quiet', 1, 0), await build('s2', 2, 3)];
    expect(sameBytes(await table(a), await table(b))).toBe(true);
    expect(sameBytes(await table(a), await table(c))).toBe(false);
    // The whole build is reproducible, transform.onnx included.
    const again = await build('s1-again', 1, 3);
    expect(sameBytes(await readFile(join(again, 'transform.onnx')), await readFile(join(a, 'transform.onnx')))).toBe(
      true,
    );
  });

  it('reports progress', async () => {
    const lines: string[] = [];
    await buildDemoSgt({ out: join(scratch, 'progress'), hidden: 4, onProgress: (line) => lines.push(line) });
    expect(lines.join('\n')).toMatch(/tokenizer: .*151669 token ids/);
    expect(lines.join('\n')).toMatch(/embeddings: /);
    expect(lines.join('\n')).toMatch(/transform\.onnx: /);
    expect(lines.at(-1)).toMatch(/^wrote .* in \d+\.\d s$/);
  });

  it('accepts a larger vocab (rows no token maps to)', async () => {
    const out = join(scratch, 'wide');
    await buildDemoSgt({ out, hidden: 8, vocab: 151700, noiseScale: 0 });
    const sgt = await loadSgt(out);
    try {
      expect(sgt.metadata.vocabSize).toBe(151700);
      const ids = [...sgt.tokenize('hello'), 151699];
      const { embeds, tokens } = await sgt.transform(ids);
      expect(await sgt.nearestTokens(embeds, tokens)).toEqual(ids);
      expect(sgt.decode(ids)).toBe('hello'); // id 151699 has no token: it decodes to nothing
    } finally {
      await sgt.close();
    }
  });

  it('with a smaller vocab, truncates the tokenizer so that every id it produces has a row', async () => {
    const out = join(scratch, 'narrow');
    await buildDemoSgt({ out, hidden: 8, vocab: 1000, noiseScale: 0 });
    const manifest = JSON.parse(await readFile(join(out, 'sgt.json'), 'utf8')) as Record<string, unknown>;
    expect(manifest).toMatchObject({ base_model: 'sgt-demo/qwen3-tokenizer-v1000-h8', vocab_size: 1000 });
    const sgt = await loadSgt(out);
    try {
      const texts = [
        'Hello, world!',
        '日本の首都はどこですか？',
        'مرحبا بالعالم 🎉🦖',
        'def f(x):\n    return x ** 2\n',
      ];
      for (const content of texts) {
        const templated = sgt.renderPrompt([
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content },
        ]);
        const ids = sgt.tokenize(templated);
        expect(Math.max(...ids)).toBeLessThan(1000);
        expect(sgt.decode(ids)).toBe(templated); // lossless: byte-level BPE falls back to bytes
        // The 26 added tokens moved to the top ids, in order: <|endoftext|> 974, <|im_start|> 975, <|im_end|> 976.
        expect(ids[0]).toBe(975);
        expect(ids).toContain(976);
        const { embeds, tokens } = await sgt.transform(ids);
        expect(await sgt.nearestTokens(embeds, tokens)).toEqual(ids);
      }
      expect(sgt.decode([974, 999])).toBe('<|endoftext|></think>');
      // Fewer merges, more tokens: the first merges are the common ones.
      expect(sgt.tokenize('the').length).toBeLessThanOrEqual(2);
    } finally {
      await sgt.close();
    }
    const refused = join(scratch, 'too-narrow');
    await expect(buildDemoSgt({ out: refused, vocab: 100 })).rejects.toThrow(
      /vocab 100 is too small: a truncated tokenizer needs at least 282 ids/,
    );
    await expect(readdir(refused)).rejects.toThrow(/ENOENT/);
  });

  it('scales the default noise with the table so the attack stays as hard at any size', async () => {
    expect(defaultDemoNoiseScale(DEMO_DEFAULTS.hidden)).toBe(DEMO_DEFAULTS.noiseScale);
    expect(defaultDemoNoiseScale(256)).toBe(8);
    expect(defaultDemoNoiseScale(4096, 32_000)).toBeCloseTo(34.32, 2);
    const out = join(scratch, 'scaled-noise');
    await buildDemoSgt({ out, hidden: 16 });
    const manifest = JSON.parse(await readFile(join(out, 'sgt.json'), 'utf8')) as { demo: { noise_scale: number } };
    expect(manifest.demo.noise_scale).toBe(2);
  });

  it('replaces an existing artifact atomically and leaves no temporary directories', async () => {
    const out = join(scratch, 'replace', 'demo');
    await buildDemoSgt({ out, hidden: 4, seed: 1 });
    await Promise.all([buildDemoSgt({ out, hidden: 4, seed: 2 }), buildDemoSgt({ out, hidden: 4, seed: 2 })]);
    expect(await readdir(join(scratch, 'replace'))).toEqual(['demo']);
    const manifest = JSON.parse(await readFile(join(out, 'sgt.json'), 'utf8')) as { demo: { seed: number } };
    expect(manifest.demo.seed).toBe(2);
    const sgt = await loadSgt(out);
    await sgt.close();
  });

  it('validates its options', async () => {
    const out = join(scratch, 'invalid');
    await expect(buildDemoSgt({ out, hidden: 0 })).rejects.toThrow(/hidden/);
    await expect(buildDemoSgt({ out, hidden: 2.5 })).rejects.toThrow(/hidden/);
    await expect(buildDemoSgt({ out, noiseScale: -1 })).rejects.toThrow(/noiseScale/);
    await expect(buildDemoSgt({ out, noiseScale: Number.NaN })).rejects.toThrow(/noiseScale/);
    await expect(buildDemoSgt({ out, seed: 1.5 })).rejects.toThrow(/seed/);
    await expect(buildDemoSgt({ out, vocab: 0 })).rejects.toThrow(/vocab/);
    await expect(buildDemoSgt({ out: '' })).rejects.toThrow(/out/);
  });
});

describe('ensureDemoSgt', () => {
  it('builds once, then reuses until the options change', async () => {
    const out = join(scratch, 'ensure');
    expect(await ensureDemoSgt({ out, hidden: 4 })).toEqual({ built: true });
    expect(await ensureDemoSgt({ out, hidden: 4 })).toEqual({ built: false });
    expect(await ensureDemoSgt({ out, hidden: 4, noiseScale: 0 })).toEqual({ built: true });
    expect(await ensureDemoSgt({ out, hidden: 4, noiseScale: 0 })).toEqual({ built: false });
  });
});

/**
 * The Mistral-7B-shaped artifact (H 4096 × V 32 000, 350 MB) takes ~5 s and ~200 MB to build: not
 * in the default run. `SGT_REAL_SIZE=1 npx vitest run test/sgt/demo-build.test.ts` runs it; the
 * benchmark (npm run bench:sgt) measures it every time.
 */
describe.runIf(process.env['SGT_REAL_SIZE'] === '1')('real-size demo artifact', () => {
  it(
    'builds H 4096 × V 32 000 streamed (float16, table shared with the graph) and loads',
    { timeout: 120_000 },
    async () => {
      const out = join(scratch, 'real-size');
      const started = performance.now();
      await buildDemoSgt({ out, hidden: 4096, vocab: 32_000 });
      const buildSeconds = (performance.now() - started) / 1000;
      const header = await readSafetensorsHeader(join(out, 'embeddings.safetensors'));
      expect(header.tensors.get('weight')).toMatchObject({ dtype: 'F16', shape: [32_000, 4096] });
      expect((await readFile(join(out, 'transform.onnx.data'))).byteLength).toBe(3 * 4096 * 4096 * 2);
      const sgt = await loadSgt(out);
      try {
        const ids = sgt.tokenize(
          sgt.renderPrompt([{ role: 'user', content: 'How far is the Moon? 月までの距離は？' }]),
        );
        const result = await sgt.transform(ids, { noise: testNoiseKey(1n) });
        expect(result.embeds).toHaveLength(ids.length * 4096);
        const guessed = await sgt.nearestTokens(result.embeds, result.tokens);
        expect(guessed.filter((id, i) => id === ids[i]).length / ids.length).toBeLessThan(0.2);
      } finally {
        await sgt.close();
      }
      console.log(`real-size demo artifact built in ${buildSeconds.toFixed(1)} s`);
    },
  );
});
