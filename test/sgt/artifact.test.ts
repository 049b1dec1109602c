import { mkdir, mkdtemp, readFile, readdir, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SgtArtifactError, SgtInputError, loadSgt, type LoadSgtOptions } from '../../src/sgt/index.js';
import { ElemType, encodeModel, node, valueInfo } from '../../src/sgt/onnx-builder.js';
import { IDENTITY_SGT_DIR } from '../support/artifacts.js';

let scratch: string;
let counter = 0;

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'sgt-artifact-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** A copy of the identity artifact: big files symlinked, sgt.json copied so it can be edited. */
async function artifactCopy(): Promise<string> {
  const dir = join(scratch, `a${counter++}`);
  await mkdir(dir);
  for (const name of await readdir(IDENTITY_SGT_DIR)) {
    if (name === 'sgt.json') await writeFile(join(dir, name), await readFile(join(IDENTITY_SGT_DIR, name)));
    else await symlink(join(IDENTITY_SGT_DIR, name), join(dir, name));
  }
  return dir;
}

async function editJson(path: string, edit: (json: Record<string, unknown>) => void): Promise<void> {
  const json = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  edit(json);
  await replaceFile(path, JSON.stringify(json));
}

/** Replace a (possibly symlinked) file by a real one with new content. */
async function replaceFile(path: string, content: string | Uint8Array): Promise<void> {
  await unlink(path);
  await writeFile(path, content);
}

async function expectArtifactError(
  dir: string,
  file: string,
  pattern: RegExp,
  options: LoadSgtOptions = {},
): Promise<void> {
  const error = await loadSgt(dir, options).then(
    async (sgt) => {
      await sgt.close();
      return undefined;
    },
    (e: unknown) => e,
  );
  expect(error, `loading ${dir} should fail`).toBeInstanceOf(SgtArtifactError);
  const artifactError = error as SgtArtifactError;
  expect(artifactError.file).toBe(file === '' ? dir : join(dir, file));
  expect(artifactError.message).toContain(artifactError.file);
  expect(artifactError.message).toMatch(pattern);
}

function onnxWith(
  inputs: Parameters<typeof valueInfo>[],
  output: Parameters<typeof valueInfo>,
  source: string,
): Uint8Array {
  return encodeModel({
    name: 'bad',
    inputs: inputs.map((args) => valueInfo(...args)),
    outputs: [valueInfo(...output)],
    initializers: [],
    nodes: [node('Identity', [source], [output[0]])],
  });
}

describe('loadSgt rejects broken artifacts, naming the file', () => {
  it('loads the intact copy (sanity check of the fixture)', async () => {
    const sgt = await loadSgt(await artifactCopy());
    await sgt.close();
  });

  describe('directory', () => {
    it('missing', async () => expectArtifactError(join(scratch, 'does-not-exist'), '', /does not exist/));
    it('a file instead of a directory', async () => {
      const dir = await artifactCopy();
      await expectArtifactError(join(dir, 'sgt.json'), '', /not a directory/);
    });
  });

  describe('sgt.json', () => {
    const cases: [string, (json: Record<string, unknown>) => void, RegExp][] = [
      ['wrong format string', (j) => (j['format'] = 'sgt-onnx/2'), /unknown format "sgt-onnx\/2"/],
      ['no format', (j) => delete j['format'], /unknown format undefined/],
      ['hidden_size of the wrong type', (j) => (j['hidden_size'] = '64'), /"hidden_size" must be a positive integer/],
      ['max_sequence_length missing', (j) => delete j['max_sequence_length'], /"max_sequence_length"/],
      ['base_model empty', (j) => (j['base_model'] = ''), /"base_model"/],
      ['unsupported noise mode', (j) => (j['noise'] = 'internal'), /unsupported "noise"/],
      ['inputs without noise', (j) => (j['inputs'] = ['input_ids', 'attention_mask']), /"inputs" must list "noise"/],
      ['outputs not a list', (j) => (j['outputs'] = 'transformed_embeds'), /"outputs" must be a list/],
    ];
    for (const [name, edit, pattern] of cases) {
      it(name, async () => {
        const dir = await artifactCopy();
        await editJson(join(dir, 'sgt.json'), edit);
        await expectArtifactError(dir, 'sgt.json', pattern);
      });
    }

    it('missing', async () => {
      const dir = await artifactCopy();
      await unlink(join(dir, 'sgt.json'));
      await expectArtifactError(dir, 'sgt.json', /missing/);
    });

    it('bad JSON', async () => {
      const dir = await artifactCopy();
      await replaceFile(join(dir, 'sgt.json'), '{"format": "sgt-onnx/1",');
      await expectArtifactError(dir, 'sgt.json', /not valid JSON/);
    });
  });

  describe('tokenizer files', () => {
    for (const file of ['tokenizer.json', 'tokenizer_config.json']) {
      it(`${file} missing`, async () => {
        const dir = await artifactCopy();
        await unlink(join(dir, file));
        await expectArtifactError(dir, file, /missing/);
      });
      it(`${file} bad JSON`, async () => {
        const dir = await artifactCopy();
        await replaceFile(join(dir, file), (await readFile(join(IDENTITY_SGT_DIR, file), 'utf8')).slice(0, 500));
        await expectArtifactError(dir, file, /not valid JSON/);
      });
    }

    it('no chat_template', async () => {
      const dir = await artifactCopy();
      await editJson(join(dir, 'tokenizer_config.json'), (j) => delete j['chat_template']);
      await expectArtifactError(dir, 'tokenizer_config.json', /no "chat_template"/);
    });

    it('a chat_template that does not parse', async () => {
      const dir = await artifactCopy();
      await editJson(
        join(dir, 'tokenizer_config.json'),
        (j) => (j['chat_template'] = '{% for m in messages %}{{ m.content }}'),
      );
      await expectArtifactError(dir, 'tokenizer_config.json', /chat_template does not parse/);
    });

    it('token ids beyond vocab_size', async () => {
      const dir = await artifactCopy();
      await editJson(join(dir, 'tokenizer.json'), (j) => {
        const extra = {
          id: 151669,
          content: '<|extra|>',
          single_word: false,
          lstrip: false,
          rstrip: false,
          normalized: false,
          special: true,
        };
        (j['added_tokens'] as unknown[]).push(extra);
      });
      await expectArtifactError(dir, 'tokenizer.json', /token id 151669, beyond vocab_size 151669/);
      // With workers the tokenizer is loaded (and checked) only in them: the same error, from there.
      await expectArtifactError(dir, 'tokenizer.json', /token id 151669, beyond vocab_size 151669/, { workers: 1 });
    });

    it('a template that raises gives SgtInputError at render time, not at load', async () => {
      const dir = await artifactCopy();
      await editJson(
        join(dir, 'tokenizer_config.json'),
        (j) => (j['chat_template'] = "{{ raise_exception('roles must alternate') }}"),
      );
      const sgt = await loadSgt(dir);
      try {
        expect(() => sgt.renderPrompt([{ role: 'user', content: 'x' }])).toThrow(SgtInputError);
        expect(() => sgt.renderPrompt([{ role: 'user', content: 'x' }])).toThrow(/roles must alternate/);
      } finally {
        await sgt.close();
      }
    });
  });

  describe('embeddings.safetensors', () => {
    it('missing', async () => {
      const dir = await artifactCopy();
      await unlink(join(dir, 'embeddings.safetensors'));
      await expectArtifactError(dir, 'embeddings.safetensors', /missing/);
    });

    it('truncated', async () => {
      const dir = await artifactCopy();
      const full = await readFile(join(IDENTITY_SGT_DIR, 'embeddings.safetensors'));
      await replaceFile(join(dir, 'embeddings.safetensors'), full.subarray(0, full.length - 1000));
      await expectArtifactError(dir, 'embeddings.safetensors', /truncated/);
    });

    it('truncated inside the header', async () => {
      const dir = await artifactCopy();
      const full = await readFile(join(IDENTITY_SGT_DIR, 'embeddings.safetensors'));
      await replaceFile(join(dir, 'embeddings.safetensors'), full.subarray(0, 20));
      await expectArtifactError(dir, 'embeddings.safetensors', /header length/);
    });

    it('hidden size mismatch with sgt.json', async () => {
      const dir = await artifactCopy();
      await editJson(join(dir, 'sgt.json'), (j) => (j['hidden_size'] = 32));
      await expectArtifactError(
        dir,
        'embeddings.safetensors',
        /shape \[151669, 64\], sgt.json says \[vocab_size, hidden_size\] = \[151669, 32\]/,
      );
    });

    it('vocab size mismatch with sgt.json', async () => {
      const dir = await artifactCopy();
      await editJson(join(dir, 'sgt.json'), (j) => (j['vocab_size'] = 151936));
      await expectArtifactError(dir, 'embeddings.safetensors', /shape \[151669, 64\]/);
    });

    it('no tensor named weight', async () => {
      const dir = await artifactCopy();
      const full = await readFile(join(IDENTITY_SGT_DIR, 'embeddings.safetensors'));
      const renamed = Buffer.from(full);
      const at = renamed.indexOf('"weight"');
      renamed.write('"weighs"', at); // same length, different name
      await replaceFile(join(dir, 'embeddings.safetensors'), renamed);
      await expectArtifactError(dir, 'embeddings.safetensors', /no tensor "weight"/);
    });
  });

  describe('transform.onnx', () => {
    it('missing', async () => {
      const dir = await artifactCopy();
      await unlink(join(dir, 'transform.onnx'));
      await expectArtifactError(dir, 'transform.onnx', /ONNX Runtime cannot load it/);
    });

    it('not an ONNX model', async () => {
      const dir = await artifactCopy();
      await replaceFile(join(dir, 'transform.onnx'), 'this is not protobuf');
      await expectArtifactError(dir, 'transform.onnx', /ONNX Runtime cannot load it/);
    });

    it('without the noise input', async () => {
      const dir = await artifactCopy();
      const model = onnxWith(
        [
          ['input_ids', ElemType.INT64, ['B', 'T']],
          ['attention_mask', ElemType.INT64, ['B', 'T']],
          ['eps', ElemType.FLOAT, ['B', 'T', 64]],
        ],
        ['transformed_embeds', ElemType.FLOAT, ['B', 'T', 64]],
        'eps',
      );
      await replaceFile(join(dir, 'transform.onnx'), model);
      await expectArtifactError(dir, 'transform.onnx', /no input "noise"/);
    });

    it('without plain_embeds that sgt.json lists', async () => {
      const dir = await artifactCopy();
      const model = onnxWith(
        [
          ['input_ids', ElemType.INT64, ['B', 'T']],
          ['attention_mask', ElemType.INT64, ['B', 'T']],
          ['noise', ElemType.FLOAT, ['B', 'T', 64]],
        ],
        ['transformed_embeds', ElemType.FLOAT, ['B', 'T', 64]],
        'noise',
      );
      await replaceFile(join(dir, 'transform.onnx'), model);
      await expectArtifactError(dir, 'transform.onnx', /no output "plain_embeds"/);
    });

    it('with a wrong hidden size or input type', async () => {
      const dir = await artifactCopy();
      await editJson(join(dir, 'sgt.json'), (j) => (j['outputs'] = ['transformed_embeds']));
      const wrongWidth = onnxWith(
        [
          ['input_ids', ElemType.INT64, ['B', 'T']],
          ['attention_mask', ElemType.INT64, ['B', 'T']],
          ['noise', ElemType.FLOAT, ['B', 'T', 32]],
        ],
        ['transformed_embeds', ElemType.FLOAT, ['B', 'T', 32]],
        'noise',
      );
      await replaceFile(join(dir, 'transform.onnx'), wrongWidth);
      await expectArtifactError(dir, 'transform.onnx', /hidden size 32, sgt.json says 64/);
      const wrongType = onnxWith(
        [
          ['input_ids', ElemType.FLOAT, ['B', 'T']],
          ['attention_mask', ElemType.INT64, ['B', 'T']],
          ['noise', ElemType.FLOAT, ['B', 'T', 64]],
        ],
        ['transformed_embeds', ElemType.FLOAT, ['B', 'T', 64]],
        'noise',
      );
      await replaceFile(join(dir, 'transform.onnx'), wrongType);
      await expectArtifactError(dir, 'transform.onnx', /"input_ids" must be int64 of rank 2, is float32 rank 2/);
    });

    it('with an input sgt.json does not list', async () => {
      const dir = await artifactCopy();
      await editJson(join(dir, 'sgt.json'), (j) => (j['outputs'] = ['transformed_embeds']));
      const model = onnxWith(
        [
          ['input_ids', ElemType.INT64, ['B', 'T']],
          ['attention_mask', ElemType.INT64, ['B', 'T']],
          ['noise', ElemType.FLOAT, ['B', 'T', 64]],
          ['temperature', ElemType.FLOAT, [1]],
        ],
        ['transformed_embeds', ElemType.FLOAT, ['B', 'T', 64]],
        'noise',
      );
      await replaceFile(join(dir, 'transform.onnx'), model);
      await expectArtifactError(dir, 'transform.onnx', /input "temperature" that sgt.json does not list/);
    });
  });
});
