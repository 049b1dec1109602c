/**
 * A smaller vocabulary for real-size demo artifacts: Mistral-7B-shaped tables have 32 000 rows,
 * the Qwen3 tokenizer 151 669 ids. Rather than map ids ≥ V to a fallback (which would silently hand
 * the transform embeddings that are not the prompt's), the tokenizer itself is cut down to V ids:
 *
 * - a byte-level BPE vocabulary lists the 256 byte symbols first (ids 0-255), then one token per
 *   merge in merge order (id 256 + i for merge i). Keeping the first V − A − 256 merges and the
 *   tokens they create is again a complete byte-level BPE tokenizer: every text still tokenizes
 *   (down to single bytes at worst), just into more pieces than with the full merge list;
 * - the A added/special tokens (`<|im_start|>`, `<|im_end|>`, …, which the chat template emits)
 *   move to the top ids V − A … V − 1, in their original order, so the chat template still works.
 *
 * The result behaves like a real 32k-vocabulary tokenizer: every id it produces has a row.
 * The checks below refuse any tokenizer that does not have this layout instead of guessing.
 */

const BYTE_SYMBOLS = 256;

export interface TruncatedTokenizer {
  readonly tokenizerJson: Record<string, unknown>;
  readonly config: Record<string, unknown>;
  /** Ids of the merge vocabulary kept (the added tokens come after them). */
  readonly baseVocab: number;
}

export function truncateTokenizer(
  tokenizerJson: Record<string, unknown>,
  config: Record<string, unknown>,
  vocab: number,
): TruncatedTokenizer {
  const model = record(tokenizerJson['model'], 'model');
  if (model['type'] !== 'BPE')
    throw new RangeError(`only byte-level BPE tokenizers can be truncated, this one is ${String(model['type'])}`);
  const pieces = record(model['vocab'], 'model.vocab') as Record<string, unknown>;
  const merges = model['merges'];
  if (!Array.isArray(merges)) throw new RangeError('tokenizer has no model.merges list');
  const postProcessor = tokenizerJson['post_processor'];
  if (
    postProcessor !== null &&
    postProcessor !== undefined &&
    record(postProcessor, 'post_processor')['type'] !== 'ByteLevel'
  ) {
    throw new RangeError(
      'only tokenizers with a ByteLevel (or no) post-processor can be truncated: others hold token ids',
    );
  }
  const added = addedTokens(tokenizerJson);
  const minimum = BYTE_SYMBOLS + added.length;
  if (!Number.isSafeInteger(vocab) || vocab < minimum) {
    throw new RangeError(
      `vocab ${vocab} is too small: a truncated tokenizer needs at least ${minimum} ids (${BYTE_SYMBOLS} byte symbols + ${added.length} added tokens)`,
    );
  }
  const baseVocab = vocab - added.length;
  const keptMerges = merges.slice(0, baseVocab - BYTE_SYMBOLS);
  const keptPieces: Record<string, number> = {};
  for (const [piece, id] of Object.entries(pieces)) {
    if (typeof id !== 'number') throw new RangeError(`model.vocab["${piece}"] is not a number`);
    if (id < BYTE_SYMBOLS && [...piece].length !== 1)
      throw new RangeError(`id ${id} ("${piece}") is not a single byte symbol: not a byte-level vocabulary`);
    if (id < baseVocab) keptPieces[piece] = id;
  }
  const keptIds = new Set(Object.values(keptPieces));
  for (let id = 0; id < BYTE_SYMBOLS; id++) {
    if (!keptIds.has(id)) throw new RangeError(`byte symbol id ${id} is missing from model.vocab`);
  }
  keptMerges.forEach((merge, index) => {
    const [left, right] = mergeParts(merge, index);
    const expected = BYTE_SYMBOLS + index;
    if (keptPieces[left + right] !== expected || keptPieces[left] === undefined || keptPieces[right] === undefined) {
      throw new RangeError(
        `merge ${index} ("${left}" + "${right}") does not create id ${expected} from kept tokens: ids do not follow merge order`,
      );
    }
  });
  if (keptIds.size !== baseVocab || Object.keys(keptPieces).length !== baseVocab)
    throw new RangeError(`model.vocab has gaps below id ${baseVocab}`);

  const newId = new Map<number, number>(added.map((token, index) => [token.id, baseVocab + index]));
  const tokenizerOut: Record<string, unknown> = {
    ...tokenizerJson,
    added_tokens: added.map((token) => ({ ...token.raw, id: newId.get(token.id) })),
    model: { ...model, vocab: keptPieces, merges: keptMerges },
  };
  const configOut: Record<string, unknown> = { ...config };
  const decoder = config['added_tokens_decoder'];
  if (decoder !== undefined) {
    const remapped: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(record(decoder, 'added_tokens_decoder'))) {
      const id = newId.get(Number(key));
      if (id === undefined)
        throw new RangeError(`tokenizer_config added_tokens_decoder id ${key} is not an added token of tokenizer.json`);
      remapped[String(id)] = value;
    }
    configOut['added_tokens_decoder'] = remapped;
  }
  return { tokenizerJson: tokenizerOut, config: configOut, baseVocab };
}

interface AddedToken {
  readonly id: number;
  readonly raw: Record<string, unknown>;
}

function addedTokens(tokenizerJson: Record<string, unknown>): AddedToken[] {
  const list = tokenizerJson['added_tokens'] ?? [];
  if (!Array.isArray(list)) throw new RangeError('added_tokens is not a list');
  const tokens = list.map((entry: unknown, index) => {
    const raw = record(entry, `added_tokens[${index}]`);
    if (typeof raw['id'] !== 'number') throw new RangeError(`added_tokens[${index}] has no numeric id`);
    return { id: raw['id'], raw };
  });
  return tokens.sort((a, b) => a.id - b.id);
}

function mergeParts(merge: unknown, index: number): [string, string] {
  if (Array.isArray(merge) && merge.length === 2 && typeof merge[0] === 'string' && typeof merge[1] === 'string')
    return [merge[0], merge[1]];
  if (typeof merge === 'string') {
    const space = merge.indexOf(' ');
    if (space > 0) return [merge.slice(0, space), merge.slice(space + 1)];
  }
  throw new RangeError(`merge ${index} is neither ["a", "b"] nor "a b"`);
}

function record(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new RangeError(`tokenizer ${what} is not an object`);
  return value as Record<string, unknown>;
}
