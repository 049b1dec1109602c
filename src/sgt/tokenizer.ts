/**
 * Tokenizer side of an SGT artifact: Hugging Face `tokenizer.json` + `tokenizer_config.json`
 * (with `chat_template`), run by @huggingface/tokenizers and @huggingface/jinja: both pure JS,
 * a fraction of @huggingface/transformers' start-up time and memory.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Template } from '@huggingface/jinja';
import { Tokenizer } from '@huggingface/tokenizers';
import { PromptTooLongError, SgtArtifactError, SgtInputError } from './errors.js';
import type { ChatMessage, ChatTemplateInput, SpecialTokensInContent } from './types.js';
import { isObject } from '../internal/is-object.js';

export const TOKENIZER_FILE = 'tokenizer.json';
export const TOKENIZER_CONFIG_FILE = 'tokenizer_config.json';

const SPECIAL_TOKEN_KEYS = ['bos_token', 'eos_token', 'pad_token', 'unk_token'] as const;

/** The parsed files, validated enough to build a tokenizer from them. */
export interface TokenizerFiles {
  readonly tokenizerPath: string;
  readonly configPath: string;
  readonly tokenizerJson: Record<string, unknown>;
  readonly config: Record<string, unknown>;
  readonly chatTemplate: string;
  /** Largest token id the tokenizer can produce (vocabulary and added tokens). */
  readonly maxId: number;
  /** Longest token in UTF-16 units of its text: T tokens can cover at most T times this. */
  readonly maxTokenChars: number;
}

export async function readTokenizerFiles(dir: string): Promise<TokenizerFiles> {
  const tokenizerPath = join(dir, TOKENIZER_FILE);
  const configPath = join(dir, TOKENIZER_CONFIG_FILE);
  return tokenizerFiles(
    tokenizerPath,
    await readJsonObject(tokenizerPath),
    configPath,
    await readJsonObject(configPath),
  );
}

function tokenizerFiles(
  tokenizerPath: string,
  tokenizerJson: Record<string, unknown>,
  configPath: string,
  config: Record<string, unknown>,
): TokenizerFiles {
  return {
    tokenizerPath,
    configPath,
    tokenizerJson,
    config,
    chatTemplate: chatTemplateOf(configPath, config),
    maxId: maxTokenId(tokenizerPath, tokenizerJson),
    maxTokenChars: longestTokenChars(tokenizerJson),
  };
}

/**
 * An upper bound on the text one token can stand for. A vocabulary piece is at least as long as
 * its text (byte-level BPE: one character per byte, and a byte is at most one UTF-16 unit of the
 * decoded text; SentencePiece: ▁ for a space, <0xNN> for a byte); added tokens are their content.
 */
function longestTokenChars(json: Record<string, unknown>): number {
  const model = json['model'];
  const vocab = isObject(model) ? model['vocab'] : undefined;
  let max = 1;
  const pieces = Array.isArray(vocab)
    ? vocab.map((entry: unknown) => (Array.isArray(entry) ? entry[0] : undefined))
    : isObject(vocab)
      ? Object.keys(vocab)
      : [];
  for (const piece of pieces) if (typeof piece === 'string' && piece.length > max) max = piece.length;
  const added = json['added_tokens'];
  if (Array.isArray(added))
    for (const t of added)
      if (isObject(t) && typeof t['content'] === 'string' && t['content'].length > max) max = t['content'].length;
  return max;
}

/** Reads a file that must hold a JSON object; every failure names the file. */
export async function readJsonObject(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new SgtArtifactError(path, 'missing or unreadable', { cause: error });
  }
  return parseJsonObject(path, text);
}

function readJsonObjectSync(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new SgtArtifactError(path, 'missing or unreadable', { cause: error });
  }
  return parseJsonObject(path, text);
}

function parseJsonObject(path: string, text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new SgtArtifactError(path, `not valid JSON (${(error as Error).message})`, { cause: error });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SgtArtifactError(path, 'must hold a JSON object');
  }
  return value as Record<string, unknown>;
}

/** `chat_template` is a string, or (newer configs) a list of named templates of which we take "default". */
function chatTemplateOf(configPath: string, config: Record<string, unknown>): string {
  const template = config['chat_template'];
  if (typeof template === 'string' && template.length > 0) return template;
  if (Array.isArray(template)) {
    const named = template.find((t: unknown) => isObject(t) && t['name'] === 'default');
    if (isObject(named) && typeof named['template'] === 'string') return named['template'];
  }
  throw new SgtArtifactError(configPath, 'has no "chat_template" (a string, or a list with a "default" entry)');
}

function maxTokenId(path: string, json: Record<string, unknown>): number {
  const model = json['model'];
  if (!isObject(model)) throw new SgtArtifactError(path, 'has no "model" object');
  let max = -1;
  const vocab = model['vocab'];
  if (Array.isArray(vocab)) {
    max = vocab.length - 1; // Unigram: [[piece, score], ...], the id is the index
  } else if (isObject(vocab)) {
    for (const id of Object.values(vocab)) if (typeof id === 'number' && id > max) max = id;
  } else {
    throw new SgtArtifactError(path, 'has no "model.vocab"');
  }
  const added = json['added_tokens'];
  if (Array.isArray(added)) {
    for (const t of added) if (isObject(t) && typeof t['id'] === 'number' && t['id'] > max) max = t['id'];
  }
  if (max < 0) throw new SgtArtifactError(path, 'has an empty vocabulary');
  return max;
}

/** The artifact's tokenizer, checked against its embedding table: every id it makes needs a row. */
export async function loadSgtTokenizer(dir: string, vocabSize: number): Promise<SgtTokenizer> {
  return checkedTokenizer(await readTokenizerFiles(dir), vocabSize);
}

/**
 * `loadSgtTokenizer`, blocking: for a process whose worker threads hold the tokenizer and that
 * needs one of its own only if a caller asks for an in-thread method (a few hundred ms, once).
 */
export function loadSgtTokenizerSync(dir: string, vocabSize: number): SgtTokenizer {
  const tokenizerPath = join(dir, TOKENIZER_FILE);
  const configPath = join(dir, TOKENIZER_CONFIG_FILE);
  const files = tokenizerFiles(
    tokenizerPath,
    readJsonObjectSync(tokenizerPath),
    configPath,
    readJsonObjectSync(configPath),
  );
  return checkedTokenizer(files, vocabSize);
}

function checkedTokenizer(files: TokenizerFiles, vocabSize: number): SgtTokenizer {
  if (files.maxId >= vocabSize) {
    throw new SgtArtifactError(
      files.tokenizerPath,
      `has token id ${files.maxId}, beyond vocab_size ${vocabSize} of sgt.json`,
    );
  }
  return new SgtTokenizer(files);
}

/** A rendered chat and where to cut it before encoding (SgtTokenizer.renderWithTextContents). */
export interface RenderedChat {
  text: string;
  cuts: number[];
}

/** Segments of ~this many characters: a few ms of tokenizing each, few enough calls to cost nothing. */
const SEGMENT_CHARS = 16 * 1024;

/** Cuts `text` before a line that starts with a non-space character, once a segment holds `size` characters. */
export function* lineSegments(text: string, size: number): Generator<string> {
  let from = 0;
  while (text.length - from > size) {
    const cut = nextLineStart(text, from + size);
    if (cut < 0) break;
    yield text.slice(from, cut);
    from = cut;
  }
  yield text.slice(from);
}

/** The first index ≥ `at` that follows a newline and holds a character that is not whitespace, or -1. */
function nextLineStart(text: string, at: number): number {
  for (let i = Math.max(1, at); i < text.length; i++) {
    const prev = text.charCodeAt(i - 1);
    if ((prev === 0x0a || prev === 0x0d) && !/\s/.test(text[i] as string)) return i;
  }
  return -1;
}

/** The tokens a prompt may still take: spending past it throws PromptTooLongError (a lower bound). */
class TokenBudget {
  private used = 0;

  constructor(private readonly limit: number) {}

  spend(ids: number[]): number[] {
    this.used += ids.length;
    if (this.used > this.limit) throw new PromptTooLongError(this.used, this.limit, { atLeast: true });
    return ids;
  }
}

/** Tokenizer + chat template of one artifact. */
export class SgtTokenizer {
  private readonly tokenizer: Tokenizer;
  private readonly template: Template;
  private readonly templateContext: Record<string, string>;
  private readonly addedIds: ReadonlySet<number>;
  private readonly byteLevel: boolean;
  /** The text of every special added token (`<|im_start|>`, `<|endoftext|>`, …). */
  private readonly controlStrings: readonly string[];
  /** The text of every added token, special or not (also `<tool_call>`, `<think>`, …). */
  private readonly addedStrings: readonly string[];
  /** What `add_special_tokens` puts around a text (a BOS, an EOS): none for most chat tokenizers. */
  private readonly addedAround: { readonly prefix: readonly number[]; readonly suffix: readonly number[] };
  readonly maxTokenChars: number;

  constructor(files: TokenizerFiles) {
    this.maxTokenChars = files.maxTokenChars;
    try {
      this.tokenizer = new Tokenizer(files.tokenizerJson, files.config);
    } catch (error) {
      throw new SgtArtifactError(files.tokenizerPath, `cannot be loaded: ${(error as Error).message}`, {
        cause: error,
      });
    }
    try {
      this.template = new Template(files.chatTemplate);
    } catch (error) {
      throw new SgtArtifactError(files.configPath, `chat_template does not parse: ${(error as Error).message}`, {
        cause: error,
      });
    }
    this.templateContext = specialTokenStrings(files.config);
    const added = this.tokenizer.get_added_tokens_decoder();
    this.addedIds = new Set(added.keys());
    const strings = [...added.values()].filter((t) => t.content.length > 0);
    this.controlStrings = strings.filter((t) => t.special).map((t) => t.content);
    this.addedStrings = strings.map((t) => t.content);
    this.addedAround = specialsAround(
      this.tokenizer.encode('a', { add_special_tokens: true }).ids,
      this.tokenizer.encode('a', { add_special_tokens: false }).ids,
    );
    const decoder = files.tokenizerJson['decoder'];
    this.byteLevel = isObject(decoder) && decoder['type'] === 'ByteLevel';
  }

  /**
   * Template + tokenize a chat. A rendered text longer than `maxTokens` of the longest token could
   * cover is refused before tokenizing: tokenizing 1 MB of one "word" takes ~10 s, to find it too long.
   */
  encodeChat(
    messages: readonly ChatMessage[],
    maxTokens: number,
    special: SpecialTokensInContent = 'text',
    template: ChatTemplateInput = {},
  ): number[] {
    const { text, cuts } =
      special === 'text'
        ? this.renderWithTextContents(messages, template)
        : { text: this.renderPrompt(messages, template), cuts: [] };
    this.checkLength(text, maxTokens);
    const budget = new TokenBudget(maxTokens);
    const ids: number[] = [];
    let from = 0;
    for (const cut of cuts) {
      ids.push(...this.encodeBounded(text.slice(from, cut), budget));
      from = cut;
    }
    ids.push(...this.encodeBounded(text.slice(from), budget));
    return ids;
  }

  /**
   * A raw completions prompt, as vLLM's `/v1/completions` tokenizes one: no template, the tokens
   * the tokenizer adds (a BOS) added, special-token strings read as control tokens (the client
   * writes the whole prompt: there is no turn of ours to forge). Bounded like `encodeChat`.
   */
  encodePrompt(text: string, maxTokens: number): number[] {
    this.checkLength(text, maxTokens);
    const budget = new TokenBudget(maxTokens);
    const { prefix, suffix } = this.addedAround;
    const ids = [...budget.spend([...prefix]), ...this.encodeBounded(text, budget)];
    ids.push(...budget.spend([...suffix]));
    return ids;
  }

  /**
   * `encode`, stopping once the budget is spent: a long text is encoded a segment at a time, each
   * segment a run of whole lines cut where a line starts with a non-space character. There the
   * pre-tokenizer always splits (a newline run ends a pre-token; none starts with a newline), so the
   * ids are those of the whole text, and a prompt far over the limit costs ~limit tokens of work,
   * not all of it. (One line longer than a segment is still encoded whole.) Byte-level BPE only:
   * a SentencePiece tokenizer would prepend its ▁ to every segment.
   */
  private encodeBounded(text: string, budget: TokenBudget | undefined): number[] {
    if (budget === undefined || !this.byteLevel || text.length <= SEGMENT_CHARS)
      return budget ? budget.spend(this.encode(text)) : this.encode(text);
    const ids: number[] = [];
    for (const segment of lineSegments(text, SEGMENT_CHARS)) ids.push(...budget.spend(this.encode(segment)));
    return ids;
  }

  /** Refuses a text that cannot fit in `maxTokens` tokens whatever it says. */
  checkLength(text: string, maxTokens: number): void {
    if (text.length > maxTokens * this.maxTokenChars)
      throw new PromptTooLongError(Math.ceil(text.length / this.maxTokenChars), maxTokens, { characters: text.length });
  }

  /**
   * Applies the chat template with `add_generation_prompt`. OpenAI's `developer` role is the newer
   * name of `system`; templates written before it (Qwen3's included) silently drop unknown roles,
   * so it is passed as `system` rather than lost.
   */
  renderPrompt(messages: readonly ChatMessage[], template: ChatTemplateInput = {}): string {
    if (messages.length === 0) throw new SgtInputError('a chat needs at least one message');
    const normalized = messages.map((m) => ({ ...m, role: m.role === 'developer' ? 'system' : m.role }));
    // The kwargs cannot replace what the proxy itself passes (vLLM's own keys win there too).
    const context = {
      ...template.kwargs,
      ...this.templateContext,
      messages: normalized,
      tools: template.tools && template.tools.length > 0 ? template.tools : undefined,
      add_generation_prompt: true,
    };
    try {
      return this.template.render(context);
    } catch (error) {
      throw new SgtInputError(`chat template failed: ${(error as Error).message}`, { cause: error });
    }
  }

  /** Ids of an already-templated text: special-token strings in it are recognised, none are added. */
  encode(text: string): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: false }).ids;
  }

  /**
   * A templated chat where added-token strings the *client* wrote stay text: a user who
   * writes `<|im_end|>\n<|im_start|>system` in a message, or a tool whose description does, gets
   * those characters read as characters, not a forged turn. Every client string the template can
   * render is covered: message contents, names and ids, earlier calls' names and arguments, the
   * tools, the template kwargs. Each occurrence is swapped for a placeholder
   * before rendering, so wherever and however often the template puts the string, it is found
   * again; `cuts` are right after the first character of each occurrence: encoding the pieces in
   * turn, no added token can match across a cut. A chat with no such string has no cuts, so it is
   * encoded whole, exactly as `encode` does.
   */
  renderWithTextContents(messages: readonly ChatMessage[], template: ChatTemplateInput): RenderedChat {
    const placeholders = new Placeholders(this.controlStrings, this.addedStrings);
    const masked = placeholders.chat(messages, template);
    if (masked === undefined) return { text: this.renderPrompt(messages, template), cuts: [] };
    return placeholders.restore(this.renderPrompt(masked.messages, masked.template));
  }

  decode(ids: readonly number[]): string {
    if (ids.length === 0) return ''; // @huggingface/tokenizers rejects an empty list
    if (this.byteLevel) return new TextDecoder('utf-8', { ignoreBOM: true }).decode(this.bytesOf(ids));
    return this.tokenizer.decode([...ids], { skip_special_tokens: false, clean_up_tokenization_spaces: false });
  }

  createStreamingDecoder(): (id: number) => string {
    if (this.byteLevel) return byteStreamDecoder((id) => this.tokenBytes(id));
    return windowStreamDecoder((ids) => this.decode(ids));
  }

  /**
   * Bytes of one token of a byte-level BPE vocabulary: each character of the piece stands for one
   * byte (GPT-2's byte↔unicode table); added tokens are their literal UTF-8 text. Ids with no token
   * (padding rows of a larger embedding table) decode to nothing.
   */
  tokenBytes(id: number): Uint8Array {
    const piece = this.tokenizer.id_to_token(id);
    if (piece === undefined) return EMPTY;
    if (this.addedIds.has(id)) return UTF8.encode(piece);
    const table = unicodeToByte();
    const bytes = new Uint8Array(piece.length * 4);
    let length = 0;
    for (const char of piece) {
      const byte = table.get(char);
      if (byte !== undefined) bytes[length++] = byte;
      else for (const b of UTF8.encode(char)) bytes[length++] = b; // not a byte-level piece: keep its text
    }
    return bytes.subarray(0, length);
  }

  private bytesOf(ids: readonly number[]): Uint8Array {
    const parts = ids.map((id) => this.tokenBytes(id));
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let offset = 0;
    for (const part of parts) {
      out.set(part, offset);
      offset += part.length;
    }
    return out;
  }
}

const EMPTY = new Uint8Array(0);
const UTF8 = new TextEncoder();

/** Byte-level pieces → text: a streaming TextDecoder holds back an incomplete UTF-8 sequence. */
export function byteStreamDecoder(bytesOf: (id: number) => Uint8Array): (id: number) => string {
  const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  return (id) => decoder.decode(bytesOf(id), { stream: true });
}

/**
 * Any other tokenizer: decode a small window of recent ids and emit only what the newest id added,
 * holding back while the window ends in U+FFFD (an incomplete character) — the approach of Hugging
 * Face's text-generation-inference, which also keeps decoders that strip a leading space correct.
 */
export function windowStreamDecoder(decode: (ids: readonly number[]) => string): (id: number) => string {
  let ids: number[] = [];
  let prefixOffset = 0;
  let readOffset = 0;
  return (id) => {
    ids.push(id);
    const prefixText = decode(ids.slice(prefixOffset, readOffset));
    const fullText = decode(ids.slice(prefixOffset));
    if (fullText.length <= prefixText.length || fullText.endsWith('\uFFFD')) return '';
    const added = fullText.slice(prefixText.length);
    ids = ids.slice(readOffset); // keep only the new context window
    prefixOffset = 0;
    readOffset = ids.length;
    return added;
  };
}

let byteTable: Map<string, number> | undefined;

/**
 * Inverse of GPT-2's `bytes_to_unicode`: printable Latin-1 bytes stand for themselves, the other
 * 68 bytes are shifted to U+0100 and up, in byte order, so that every piece is printable text.
 */
function unicodeToByte(): Map<string, number> {
  if (byteTable !== undefined) return byteTable;
  const table = new Map<string, number>();
  let shifted = 0;
  for (let byte = 0; byte < 256; byte++) {
    const printable =
      (byte >= 0x21 && byte <= 0x7e) || (byte >= 0xa1 && byte <= 0xac) || (byte >= 0xae && byte <= 0xff);
    table.set(String.fromCodePoint(printable ? byte : 256 + shifted++), byte);
  }
  byteTable = table;
  return table;
}

/** Where the plain ids sit inside the ids with special tokens added: what was added before and after. */
function specialsAround(withSpecial: number[], plain: number[]): { prefix: number[]; suffix: number[] } {
  for (let at = 0; at + plain.length <= withSpecial.length; at++) {
    if (plain.every((id, i) => withSpecial[at + i] === id))
      return { prefix: withSpecial.slice(0, at), suffix: withSpecial.slice(at + plain.length) };
  }
  return { prefix: [], suffix: [] };
}

/**
 * Stand-ins for the added-token strings inside a chat's client data, for the time of rendering.
 * A placeholder is ASCII letters, digits and punctuation that no template escapes (`tojson`
 * included), behind a random nonce the client cannot have written.
 *
 * User, system and assistant contents keep the non-special added tokens (`<think>`,
 * `<tool_response>`): templates read them there (Qwen3 splits an assistant turn's reasoning on
 * `</think>`, and tells tool results from a user turn by `<tool_response>`), and they cannot forge
 * a turn. Everything else the client sends is data the template only prints (tool definitions,
 * call arguments, tool results, kwargs): there no added token is read as one.
 */
class Placeholders {
  private readonly nonce = `sgp${randomBytes(8).toString('hex')}`;
  private readonly originals: string[] = [];
  private readonly control: RegExp | undefined;
  private readonly added: RegExp | undefined;

  constructor(controlStrings: readonly string[], addedStrings: readonly string[]) {
    this.control = alternation(controlStrings);
    this.added = alternation(addedStrings);
  }

  /** The chat with every protected occurrence replaced, or undefined when it has none. */
  chat(
    messages: readonly ChatMessage[],
    template: ChatTemplateInput,
  ): { messages: ChatMessage[]; template: ChatTemplateInput } | undefined {
    const masked = {
      messages: messages.map((message) => {
        const { content, ...rest } = message;
        const contentPattern = message.role === 'tool' ? this.added : this.control;
        return { ...(this.data(rest) as Omit<ChatMessage, 'content'>), content: this.text(content, contentPattern) };
      }),
      template: this.data(template) as ChatTemplateInput,
    };
    return this.originals.length === 0 ? undefined : masked;
  }

  /** The rendered text with the originals back in place, and the cut after the first character of each. */
  restore(rendered: string): { text: string; cuts: number[] } {
    const cuts: number[] = [];
    let text = '';
    let last = 0;
    for (const match of rendered.matchAll(new RegExp(`${this.nonce}_(\\d+)_`, 'g'))) {
      text += rendered.slice(last, match.index);
      cuts.push(text.length + 1);
      text += this.originals[Number(match[1])] ?? '';
      last = match.index + match[0].length;
    }
    text += rendered.slice(last);
    if (text.includes(this.nonce))
      throw new SgtInputError('the chat template altered a text that holds special-token strings');
    return { text, cuts };
  }

  private text(value: string, pattern: RegExp | undefined): string {
    if (pattern === undefined) return value;
    return value.replace(pattern, (original) => `${this.nonce}_${this.originals.push(original) - 1}_`);
  }

  /** Every string of plain JSON data, object keys included (a schema's property names are rendered too). */
  private data(value: unknown): unknown {
    if (typeof value === 'string') return this.text(value, this.added);
    if (Array.isArray(value)) return value.map((item: unknown) => this.data(item));
    if (!isObject(value)) return value;
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [this.text(key, this.added), this.data(item)]),
    );
  }
}

/** One pattern matching any of the strings, the longest first where one starts another. */
function alternation(strings: readonly string[]): RegExp | undefined {
  if (strings.length === 0) return undefined;
  const escaped = [...strings].sort((a, b) => b.length - a.length).map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(escaped.join('|'), 'g');
}

function specialTokenStrings(config: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of SPECIAL_TOKEN_KEYS) {
    const value = config[key];
    if (typeof value === 'string') out[key] = value;
    else if (isObject(value) && typeof value['content'] === 'string') out[key] = value['content'];
  }
  return out;
}
