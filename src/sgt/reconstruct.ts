/**
 * The nearest-neighbour attack of docs/sgt-artifact.md: for each (transformed) embedding, the row of the
 * embedding table with the highest cosine similarity is the attacker's guess.
 *
 * Runs in ONNX Runtime, not in a JS loop: the table, its rows pre-normalised to unit length, is an
 * initializer of a graph built in memory, `Gemm(embeds, table, transB) → ArgMax / ReduceMax`.
 * Normalising the query is unnecessary (it scales a whole row of scores, not their order).
 * Large tables are split into shards of at most ~256 MB (each its own session, keeping every
 * protobuf far below its 2 GB limit), read from the file one shard at a time; the best score across
 * shards wins, ties to the lower id like ArgMax itself. Queries are run in chunks so that one run's
 * [tokens, shard rows] score matrix stays under 64 MB, whatever the number of tokens.
 */
import { createSession, ort, type SessionSettings } from './session.js';
import { ElemType, encodeModel, floatTensor, node, valueInfo } from './onnx-builder.js';

const SHARD_FLOATS = 64 * 1024 * 1024;
/** Bound on the [rows, shard rows] score matrix a single run materialises (64 MB of float32). */
const SCORE_FLOATS = 16 * 1024 * 1024;

/** Rows [first, first + count) of the embedding table as float32, row-major. */
export type RowReader = (first: number, count: number) => Promise<Float32Array>;

interface Shard {
  readonly session: ort.InferenceSession;
  readonly firstId: number;
  readonly rows: number;
}

export class NearestTokenIndex {
  private constructor(
    private readonly shards: readonly Shard[],
    readonly hidden: number,
  ) {}

  /**
   * `table` is the [vocab, hidden] table (row-major) or a reader of its rows [first, first + count):
   * with a reader only one shard is in memory at a time. Rows are normalised and not kept.
   */
  static async build(
    table: Float32Array | RowReader,
    vocab: number,
    hidden: number,
    settings: SessionSettings,
  ): Promise<NearestTokenIndex> {
    if (table instanceof Float32Array && table.length !== vocab * hidden)
      throw new RangeError(`table has ${table.length} values, expected ${vocab}×${hidden}`);
    const readRows: RowReader =
      table instanceof Float32Array
        ? async (first, count) => table.subarray(first * hidden, (first + count) * hidden)
        : table;
    const shardRows = Math.max(1, Math.floor(SHARD_FLOATS / hidden));
    const shards: Shard[] = [];
    try {
      for (let firstId = 0; firstId < vocab; firstId += shardRows) {
        const rows = Math.min(shardRows, vocab - firstId);
        const slice = await readRows(firstId, rows);
        if (slice.length !== rows * hidden)
          throw new RangeError(`row reader returned ${slice.length} values for ${rows}×${hidden}`);
        // A slice read from the file is ours to normalise in place; the caller's table is not.
        const unit = normalizedRows(slice, hidden, !(table instanceof Float32Array));
        shards.push({ session: await createSession(shardModel(unit, rows, hidden), settings), firstId, rows });
      }
    } catch (error) {
      await Promise.all(shards.map((s) => s.session.release()));
      throw error;
    }
    return new NearestTokenIndex(shards, hidden);
  }

  async nearest(embeds: Float32Array, tokens: number): Promise<number[]> {
    if (!Number.isSafeInteger(tokens) || tokens < 0 || embeds.length !== tokens * this.hidden) {
      throw new RangeError(`nearestTokens: expected ${tokens}×${this.hidden} values, got ${embeds.length}`);
    }
    const bestIds = new Array<number>(tokens).fill(0);
    const bestScores = new Float32Array(tokens).fill(-Infinity);
    for (const shard of this.shards) {
      const chunk = Math.max(1, Math.floor(SCORE_FLOATS / shard.rows));
      for (let start = 0; start < tokens; start += chunk) {
        const count = Math.min(chunk, tokens - start);
        const query = embeds.subarray(start * this.hidden, (start + count) * this.hidden);
        const { ids, scores } = await runShard(shard, query, count, this.hidden);
        for (let i = 0; i < count; i++) {
          const score = scores[i] as number;
          // Strict ">" keeps the earlier shard on ties, i.e. the lower id, as ArgMax does within a shard.
          if (score > (bestScores[start + i] as number)) {
            bestScores[start + i] = score;
            bestIds[start + i] = shard.firstId + Number(ids[i] as bigint);
          }
        }
      }
    }
    return bestIds;
  }

  async close(): Promise<void> {
    await Promise.all(this.shards.map((s) => s.session.release()));
  }
}

async function runShard(
  shard: Shard,
  query: Float32Array,
  count: number,
  hidden: number,
): Promise<{ ids: BigInt64Array; scores: Float32Array }> {
  const feeds = { embeds: new ort.Tensor('float32', query, [count, hidden]) };
  const out = await shard.session.run(feeds);
  return { ids: out['best_id']?.data as BigInt64Array, scores: out['best_score']?.data as Float32Array };
}

function normalizedRows(rows: Float32Array, hidden: number, inPlace: boolean): Float32Array {
  const out = inPlace ? rows : new Float32Array(rows.length);
  for (let offset = 0; offset < rows.length; offset += hidden) {
    let sum = 0;
    for (let j = 0; j < hidden; j++) sum += (rows[offset + j] as number) ** 2;
    // An all-zero row has no direction; leave it zero (score 0) rather than NaN.
    const scale = sum > 0 ? 1 / Math.sqrt(sum) : 0;
    for (let j = 0; j < hidden; j++) out[offset + j] = (rows[offset + j] as number) * scale;
  }
  return out;
}

function shardModel(unitTable: Float32Array, rows: number, hidden: number): Uint8Array {
  return encodeModel({
    name: 'sgt_nearest_tokens',
    inputs: [valueInfo('embeds', ElemType.FLOAT, ['N', hidden])],
    outputs: [valueInfo('best_id', ElemType.INT64, ['N']), valueInfo('best_score', ElemType.FLOAT, ['N'])],
    initializers: [floatTensor('table', [rows, hidden], unitTable)],
    nodes: [
      node('Gemm', ['embeds', 'table'], ['scores'], { transB: 1 }),
      node('ArgMax', ['scores'], ['best_id'], { axis: 1, keepdims: 0 }),
      node('ReduceMax', ['scores'], ['best_score'], { axes: [1], keepdims: 0 }),
    ],
  });
}

/** Fraction of positions where the guess is NOT the original token: the product's obfuscation score. */
export function obfuscationScore(original: readonly number[], guessed: readonly number[]): number {
  if (original.length !== guessed.length) throw new RangeError('obfuscationScore: sequences differ in length');
  if (original.length === 0) return 1;
  let recovered = 0;
  for (let i = 0; i < original.length; i++) if (original[i] === guessed[i]) recovered++;
  return 1 - recovered / original.length;
}
