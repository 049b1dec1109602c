import { join } from 'node:path';
import PQueue from 'p-queue';
import { EMBEDDINGS_FILE, EMBEDDINGS_TENSOR } from './artifact.js';
import { NearestTokenIndex } from './reconstruct.js';
import { readSafetensorsFloatRows, type SafetensorsHeader } from './safetensors.js';
import type { SessionSettings } from './session.js';

/**
 * `Sgt.nearestTokens` behind its index: built from embeddings.safetensors on first use (a second
 * or more of ONNX Runtime work: the proxy's hot path never needs it), shared by concurrent callers,
 * rebuilt after a failed build; searches one at a time, each materialising a bounded score matrix.
 * Runs where the transform runs: the caller's thread, or the transform worker.
 */
export class NearestSearch {
  private index: Promise<NearestTokenIndex> | undefined;
  private readonly queue = new PQueue({ concurrency: 1 });

  constructor(
    private readonly dir: string,
    private readonly header: SafetensorsHeader,
    private readonly table: { vocab: number; hidden: number },
    private readonly settings: SessionSettings,
  ) {}

  async nearest(embeds: Float32Array, tokens: number): Promise<number[]> {
    this.index ??= this.build().catch((error: unknown) => {
      this.index = undefined;
      throw error;
    });
    const index = await this.index;
    return this.queue.add(() => index.nearest(embeds, tokens));
  }

  async close(): Promise<void> {
    await this.queue.onIdle();
    const index = this.index;
    this.index = undefined;
    if (index !== undefined) await (await index.catch(() => undefined))?.close();
  }

  private build(): Promise<NearestTokenIndex> {
    const path = join(this.dir, EMBEDDINGS_FILE);
    const readRows = (first: number, count: number): Promise<Float32Array> =>
      readSafetensorsFloatRows(path, EMBEDDINGS_TENSOR, first, count, this.header);
    return NearestTokenIndex.build(readRows, this.table.vocab, this.table.hidden, this.settings);
  }
}
