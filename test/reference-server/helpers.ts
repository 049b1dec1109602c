import { expect } from 'vitest';
import { captureLogger } from '../support/capture-logger.js';
import { collectText, sseDataEvents } from '../support/streams.js';
import { encodePromptEmbeds, type EmbedsDtype } from '../../src/embeds/index.js';
import {
  createReferenceServerApp,
  startReferenceServer,
  type GenerationEndEvent,
  type ReferenceServerOptions,
  type ReferenceSgt,
  type RunningServer,
} from '../../src/reference-server/index.js';

/**
 * A stand-in SGT without ONNX: a one-hot embedding table, so the nearest token of a row is its
 * argmax, and a decoder with fixed pieces (one of them multi-byte) for ids 0-3. Its tokenizer
 * makes each code point of a text a token (id = the code point, from 4 up), so text prompts and
 * scripted replies stream one character at a time.
 */
export const FAKE_PIECES = ['Hello', ' there', ' ☃', '!'] as const;
export const FAKE_MODEL = 'test/fake-model';
export const FAKE_HIDDEN = FAKE_PIECES.length;
export const FAKE_MAX_MODEL_LEN = 64;

export interface FakeSgtOptions {
  maxSequenceLength?: number;
  /** Called when a nearest-token search starts: in echo mode, proof that generation has begun. */
  onSearch?: () => void;
}

export const FAKE_VOCAB = 0x110000;

function fakePiece(id: number): string {
  return FAKE_PIECES[id] ?? (id >= FAKE_PIECES.length && id < FAKE_VOCAB ? String.fromCodePoint(id) : '');
}

export function fakeTokenize(text: string): number[] {
  return [...text].map((char) => {
    const id = char.codePointAt(0) ?? 0;
    if (id < FAKE_PIECES.length) throw new Error(`the fake tokenizer has no token for U+000${id}`);
    return id;
  });
}

export function fakeSgt(options: FakeSgtOptions = {}): ReferenceSgt {
  const maxSequenceLength = options.maxSequenceLength ?? FAKE_MAX_MODEL_LEN;
  return {
    metadata: { baseModel: FAKE_MODEL, hiddenSize: FAKE_HIDDEN, vocabSize: FAKE_VOCAB, maxSequenceLength },
    nearestTokens: async (embeds: Float32Array, tokens: number) => {
      options.onSearch?.();
      return Array.from({ length: tokens }, (_, row) =>
        argmax(embeds.subarray(row * FAKE_HIDDEN, (row + 1) * FAKE_HIDDEN)),
      );
    },
    createStreamingDecoder: () => fakePiece,
    tokenize: fakeTokenize,
    decode: (ids: readonly number[]) => ids.map(fakePiece).join(''),
  };
}

function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i += 1) if ((row[i] ?? 0) > (row[best] ?? 0)) best = i;
  return best;
}

/** `prompt_embeds` whose rows are the one-hot embeddings of `ids` in the fake table. */
export function oneHotEmbeds(
  ids: readonly number[],
  dtype: EmbedsDtype = 'float32',
  shape?: readonly number[],
): string {
  const data = new Float32Array(ids.length * FAKE_HIDDEN);
  ids.forEach((id, row) => (data[row * FAKE_HIDDEN + id] = 1));
  return encodePromptEmbeds(data, shape ?? [ids.length, FAKE_HIDDEN], dtype);
}

/** Resolves with the first generation-end event that matches. */
export class GenerationEnds {
  readonly events: GenerationEndEvent[] = [];
  private waiters: Array<{ match: (e: GenerationEndEvent) => boolean; resolve: (e: GenerationEndEvent) => void }> = [];

  readonly listener = (event: GenerationEndEvent): void => {
    this.events.push(event);
    this.waiters = this.waiters.filter((w) => (w.match(event) ? (w.resolve(event), false) : true));
  };

  next(match: (e: GenerationEndEvent) => boolean = () => true): Promise<GenerationEndEvent> {
    const seen = this.events.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.waiters.push({ match, resolve }));
  }
}

/** How a test reaches the server: in-process `app.request`, or HTTP to a real loopback server. */
export interface Target {
  send(path: string, init?: RequestInit): Promise<Response>;
  close(): Promise<void>;
}

export type TargetKind = 'in-process' | 'real server';
export const TARGET_KINDS: readonly TargetKind[] = ['in-process', 'real server'];

export interface Harness {
  target: Target;
  ends: GenerationEnds;
  logs: ReturnType<typeof captureLogger>;
}

export async function startHarness(
  kind: TargetKind,
  overrides: Partial<ReferenceServerOptions> = {},
): Promise<Harness> {
  const ends = new GenerationEnds();
  const logs = captureLogger();
  const options: ReferenceServerOptions = {
    sgt: fakeSgt(),
    mode: 'echo',
    tokenIntervalMs: 0,
    logger: logs.logger,
    onGenerationEnd: ends.listener,
    ...overrides,
  };
  return { target: await makeTarget(kind, options), ends, logs };
}

async function makeTarget(kind: TargetKind, options: ReferenceServerOptions): Promise<Target> {
  if (kind === 'in-process') {
    const app = createReferenceServerApp(options);
    return { send: async (path, init) => app.request(path, init), close: async () => {} };
  }
  const server: RunningServer = await startReferenceServer({ ...options, host: '127.0.0.1', port: 0 });
  return { send: (path, init) => fetch(`${server.url}${path}`, init), close: () => server.close() };
}

export function postJson(body: unknown, headers: Record<string, string> = {}): RequestInit {
  return {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  };
}

/** A completions stream choice, as vLLM sends it. */
export interface StreamChoice {
  index: number;
  text: string;
  logprobs: {
    tokens: string[];
    token_logprobs: number[];
    top_logprobs: Array<Record<string, number>>;
    text_offset: number[];
  } | null;
  finish_reason: string | null;
  stop_reason: string | null;
}

export interface StreamChunk {
  id: string;
  object: string;
  created: number;
  model: string;
  choices: StreamChoice[];
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

/** The chunks of a 200 SSE response, checking that `[DONE]` ends it. */
export async function completionChunks(response: Response): Promise<StreamChunk[]> {
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const events = sseDataEvents(await collectText(response.body!));
  expect(events.at(-1)).toBe('[DONE]');
  return events.slice(0, -1).map((e) => JSON.parse(e) as StreamChunk);
}
