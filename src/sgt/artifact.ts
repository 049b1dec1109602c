/**
 * The SGT artifact directory, format v1 (docs/sgt-artifact.md): file names, `sgt.json` parsing, and the
 * checks that need no ONNX Runtime. Every problem is an SgtArtifactError naming the file.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { SgtArtifactError } from './errors.js';
import { readSafetensorsHeader, type SafetensorsHeader } from './safetensors.js';
import { readJsonObject } from './tokenizer.js';
import type { SgtMetadata } from './types.js';

export const ARTIFACT_FORMAT = 'sgt-onnx/1';
export const MANIFEST_FILE = 'sgt.json';
export const TRANSFORM_FILE = 'transform.onnx';
export const EMBEDDINGS_FILE = 'embeddings.safetensors';
export const EMBEDDINGS_TENSOR = 'weight';

export const INPUT_IDS = 'input_ids';
export const ATTENTION_MASK = 'attention_mask';
export const NOISE = 'noise';
export const TRANSFORMED_EMBEDS = 'transformed_embeds';
export const PLAIN_EMBEDS = 'plain_embeds';
export const REQUIRED_INPUTS = [INPUT_IDS, ATTENTION_MASK, NOISE] as const;

/** `sgt.json`, validated. */
export interface SgtManifest extends SgtMetadata {
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
}

export async function assertDirectory(dir: string): Promise<void> {
  let isDirectory: boolean;
  try {
    isDirectory = (await stat(dir)).isDirectory();
  } catch (error) {
    throw new SgtArtifactError(dir, 'SGT artifact directory does not exist', { cause: error });
  }
  if (!isDirectory) throw new SgtArtifactError(dir, 'is not a directory (an SGT artifact is a directory)');
}

export async function readManifest(dir: string): Promise<SgtManifest> {
  const path = join(dir, MANIFEST_FILE);
  const raw = await readJsonObject(path);
  if (raw['format'] !== ARTIFACT_FORMAT) {
    throw new SgtArtifactError(
      path,
      `unknown format ${JSON.stringify(raw['format'])}; this version reads "${ARTIFACT_FORMAT}"`,
    );
  }
  if (raw['noise'] !== 'input') {
    throw new SgtArtifactError(
      path,
      `unsupported "noise" ${JSON.stringify(raw['noise'])}; only "input" (noise fed to the graph) is supported`,
    );
  }
  const manifest: SgtManifest = {
    baseModel: nonEmptyString(path, raw, 'base_model'),
    hiddenSize: positiveInt(path, raw, 'hidden_size'),
    vocabSize: positiveInt(path, raw, 'vocab_size'),
    maxSequenceLength: positiveInt(path, raw, 'max_sequence_length'),
    inputs: stringList(path, raw, 'inputs'),
    outputs: stringList(path, raw, 'outputs'),
  };
  for (const name of REQUIRED_INPUTS) {
    if (!manifest.inputs.includes(name)) throw new SgtArtifactError(path, `"inputs" must list "${name}"`);
  }
  if (!manifest.outputs.includes(TRANSFORMED_EMBEDS)) {
    throw new SgtArtifactError(path, `"outputs" must list "${TRANSFORMED_EMBEDS}"`);
  }
  return manifest;
}

/** The JSON the writer emits for a manifest (snake_case, docs/sgt-artifact.md), plus any extra fields. */
export function manifestJson(manifest: SgtManifest, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    format: ARTIFACT_FORMAT,
    base_model: manifest.baseModel,
    hidden_size: manifest.hiddenSize,
    vocab_size: manifest.vocabSize,
    max_sequence_length: manifest.maxSequenceLength,
    noise: 'input',
    inputs: manifest.inputs,
    outputs: manifest.outputs,
    ...extra,
  };
}

/** Checks `embeddings.safetensors` holds a float `weight` of shape [vocab_size, hidden_size], without reading the data. */
export async function checkEmbeddings(dir: string, manifest: SgtManifest): Promise<SafetensorsHeader> {
  const path = join(dir, EMBEDDINGS_FILE);
  const header = await readSafetensorsHeader(path);
  const weight = header.tensors.get(EMBEDDINGS_TENSOR);
  if (weight === undefined) throw new SgtArtifactError(path, `has no tensor "${EMBEDDINGS_TENSOR}"`);
  if (!['F32', 'F16', 'BF16'].includes(weight.dtype)) {
    throw new SgtArtifactError(path, `"${EMBEDDINGS_TENSOR}" has dtype ${weight.dtype}; expected F32 or F16`);
  }
  const [rows, cols] = weight.shape;
  if (weight.shape.length !== 2 || rows !== manifest.vocabSize || cols !== manifest.hiddenSize) {
    throw new SgtArtifactError(
      path,
      `"${EMBEDDINGS_TENSOR}" has shape [${weight.shape.join(', ')}], ${MANIFEST_FILE} says [vocab_size, hidden_size] = [${manifest.vocabSize}, ${manifest.hiddenSize}]`,
    );
  }
  return header;
}

function nonEmptyString(path: string, raw: Record<string, unknown>, key: string): string {
  const value = raw[key];
  if (typeof value !== 'string' || value.length === 0)
    throw new SgtArtifactError(path, `"${key}" must be a non-empty string`);
  return value;
}

function positiveInt(path: string, raw: Record<string, unknown>, key: string): number {
  const value = raw[key];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new SgtArtifactError(path, `"${key}" must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

function stringList(path: string, raw: Record<string, unknown>, key: string): string[] {
  const value = raw[key];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw new SgtArtifactError(path, `"${key}" must be a list of tensor names`);
  }
  return value as string[];
}

/**
 * SHA-256 (hex) over the files that define the transform: sgt.json, transform.onnx and its external
 * data (files named transform.onnx*), each as name, size and its own SHA-256. The noise keys are
 * bound to it (noise/keyed.ts): a server holding the weights of two versions of a transform must
 * not get the same noise under both, or subtracting the two tensors would cancel it.
 */
export async function transformFingerprint(dir: string): Promise<string> {
  const names = (await readdir(dir)).filter((name) => name === MANIFEST_FILE || name.startsWith(TRANSFORM_FILE)).sort();
  const outer = createHash('sha256').update('sgt-transform-fingerprint/v1');
  for (const name of names) {
    const inner = createHash('sha256');
    let size = 0;
    for await (const chunk of createReadStream(join(dir, name))) {
      size += (chunk as Buffer).length;
      inner.update(chunk as Buffer);
    }
    outer.update(`\n${name}\n${size}\n`).update(inner.digest());
  }
  return outer.digest('hex');
}
