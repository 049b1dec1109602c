/** Public types of the SGT feature (see docs/sgt-artifact.md). */
import type { EmbedsDtype } from '../embeds/index.js';
import type { NoiseKey } from './noise/index.js';

export type ChatRole = 'system' | 'user' | 'assistant' | 'tool' | 'developer';

/** A call an earlier assistant turn made, as the chat template renders it. */
export interface ChatToolCall {
  id: string;
  type: 'function';
  /** `arguments`: the parsed JSON object when it parses (what vLLM gives templates), else the string. */
  function: { name: string; arguments: unknown };
}

export interface ChatMessage {
  role: ChatRole;
  content: string;
  name?: string;
  /** An assistant turn's calls. */
  tool_calls?: ChatToolCall[];
  /** A `tool` turn: the call it answers. */
  tool_call_id?: string;
}

/**
 * What the chat template takes beside the messages. Plain JSON data only: it is posted to the
 * tokenizer worker (structured clone).
 */
export interface ChatTemplateInput {
  /** OpenAI `tools` (`[{type: "function", function: {name, description, parameters}}]`). */
  tools?: readonly unknown[];
  /** vLLM's `chat_template_kwargs`: extra template variables (`enable_thinking`). */
  kwargs?: Readonly<Record<string, unknown>>;
}

export interface TokenizeChatOptions {
  specialTokensInContent?: SpecialTokensInContent;
  template?: ChatTemplateInput;
}

export interface SgtMetadata {
  /** Model id the artifact was made for; the reference server serves it under this name. */
  baseModel: string;
  hiddenSize: number;
  /** Rows of the embedding table; every token id must be below it. */
  vocabSize: number;
  maxSequenceLength: number;
}

export interface TransformResult {
  /** Obfuscated embeddings, [T, H] row-major. */
  embeds: Float32Array;
  tokens: number;
  hidden: number;
  /** The untransformed embeddings [T, H], when the artifact's graph outputs them. */
  plainEmbeds?: Float32Array;
  /** How this result was computed: its batch and where the time went. */
  timing?: TransformTiming;
  /**
   * `embeds` as a base64 torch.save file, when TransformOptions.encode asked for it: the base64
   * text as ASCII bytes (`encodePromptEmbedsAscii`), so that megabytes of it never become a string.
   */
  promptEmbeds?: Uint8Array;
}

/** Per-request account of one `transform` call (all durations in milliseconds). */
export interface TransformTiming {
  /** Requests in the ONNX Runtime call that computed this result (1: it ran alone). */
  batchSize: number;
  /** Positions of that call, B × longest T: real tokens plus padding. */
  paddedTokens: number;
  /** From the `transform` call to its batch starting (waiting for a batch to fill or for the previous one). */
  queuedMs: number;
  /** Generating the noise of the whole batch. */
  noiseMs: number;
  /** `session.run` of the whole batch. */
  runMs: number;
}

export interface TransformOptions {
  /**
   * The N(0, 1) noise: a key (noise/keyed.ts: the product's keyed stream, `NoiseKeys.forRequest`)
   * or the values themselves, [T, H] row-major (attacks and tests that probe the transform with
   * chosen noise). A fresh random key when absent. Batching never changes the result.
   */
  noise?: NoiseKey | Float32Array;
  /**
   * Cancels the request (a client that went away). If it aborts before the request's batch has
   * started, the request is dropped from the queue; in every case the promise rejects at once with
   * `signal.reason` and any result computed later is discarded.
   */
  signal?: AbortSignal;
  /**
   * Also encode the result as `prompt_embeds` (a base64 torch.save file) of this dtype, where the
   * transform ran: with workers, the caller's thread never touches the T × H values.
   */
  encode?: EmbedsDtype;
}

export type SgtDevice = 'cpu' | 'cuda';

export type SpecialTokensInContent = 'text' | 'control';

export interface LoadSgtOptions {
  device?: SgtDevice;
  /** ONNX Runtime intra-op threads; default: the available cores, at most 4. */
  intraOpThreads?: number;
  /** Most requests in one ONNX Runtime call (micro-batch). Default 16; 1 turns batching off. */
  maxBatchSize?: number;
  /**
   * Most positions (B × longest T, padding included) in one call; a request longer than this still
   * runs, alone. Default: 524 288 / H on CPU (2048 at H 256, 128 at H 4096: past that a CPU call
   * gains no throughput, only latency), 33 554 432 / H on CUDA.
   */
  maxBatchTokens?: number;
  /**
   * How long an idle transform holds the oldest request for others to join its batch, in ms.
   * Default 0: dispatch on the next turn of the event loop (requests submitted together still share
   * a batch). Under load no wait is needed: a batch is whatever queued while the previous one ran.
   */
  maxBatchWaitMs?: number;
  /** Most requests waiting for a batch; beyond it `transform` rejects with SgtOverloadedError. Default 256. */
  maxQueuedRequests?: number;
  /**
   * How requests of different lengths share a batch. `buckets` (default): only requests in the same
   * power-of-two length bucket, padded to the longest of them; `longest`: the oldest requests in
   * arrival order, padded to the longest. See README.md for the measurements behind the default.
   */
  batchPadding?: BatchPadding;
  /**
   * Worker threads for the chat template and the tokenizer (`tokenizeChatOffThread`). When ≥ 1, the
   * transform (noise, ONNX Runtime, encoding) runs in one more worker thread, holding the artifact's
   * one ONNX Runtime session, so that the caller's event loop never waits on a transform.
   * 0 (default): everything runs on the caller's thread.
   */
  workers?: number;
  /** Told when a worker thread died and was replaced (its calls failed). */
  onWorkerCrash?: (error: Error) => void;
}

export type BatchPadding = 'buckets' | 'longest';

export interface Sgt {
  readonly dir: string;
  readonly metadata: SgtMetadata;
  /** SHA-256 (hex) of the files that define the transform: what the noise keys are bound to. */
  readonly fingerprint: string;
  /** Transforms waiting for a batch (not counting the batch running): the queue depth metric. */
  readonly queuedTransforms: number;
  /** Chat template with add_generation_prompt=true. */
  renderPrompt(messages: readonly ChatMessage[], template?: ChatTemplateInput): string;
  /** Ids of an already-templated text (no extra special tokens). */
  tokenize(text: string): number[];
  /**
   * Template + tokenize a chat. `specialTokensInContent`: `text` (default) reads special-token
   * strings inside message contents as plain text; `control` lets them become control tokens, as
   * vLLM's own chat endpoint does.
   */
  tokenizeChat(messages: readonly ChatMessage[], options?: TokenizeChatOptions): number[];
  /** `tokenizeChat` on a worker thread when the SGT has them (LoadSgtOptions.workers), else here. */
  tokenizeChatOffThread(messages: readonly ChatMessage[], options?: TokenizeChatOptions): Promise<number[]>;
  /**
   * A raw completions prompt, as vLLM's `/v1/completions` reads one: no chat template, the tokens
   * the tokenizer adds (a BOS) included, special-token strings read as control tokens. On a worker
   * thread when the SGT has them; too long: PromptTooLongError.
   */
  tokenizePromptOffThread(text: string): Promise<number[]>;
  /** Skips nothing; byte-level BPE pieces are joined as bytes before UTF-8 decoding. */
  decode(ids: readonly number[]): string;
  /** `decode` of each id sequence, in one call to a worker thread when the SGT has them, else here. */
  decodeOffThread(sequences: readonly (readonly number[])[]): Promise<string[]>;
  /** Incremental decode for streaming: takes one id, returns the new text (buffers incomplete UTF-8). */
  createStreamingDecoder(): (id: number) => string;
  transform(inputIds: readonly number[], options?: TransformOptions): Promise<TransformResult>;
  /** Cosine-nearest row of embeddings.safetensors for each of `tokens` rows of `embeds`, run in ONNX Runtime. */
  nearestTokens(embeds: Float32Array, tokens: number): Promise<number[]>;
  close(): Promise<void>;
}
