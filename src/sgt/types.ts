/** Public types of the SGT feature (see DESIGN.md §6). */

export type ChatRole = 'system' | 'user' | 'assistant' | 'tool' | 'developer';

export interface ChatMessage {
  role: ChatRole;
  content: string;
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
}

export interface TransformOptions {
  /** 64-bit seed of the N(0, 1) noise; a fresh CSPRNG seed when absent. */
  noiseSeed?: bigint;
}

export type SgtDevice = 'cpu' | 'cuda';

export interface LoadSgtOptions {
  device?: SgtDevice;
  /** ONNX Runtime intra-op threads; default: the available cores, at most 4. */
  intraOpThreads?: number;
}

export interface Sgt {
  readonly dir: string;
  readonly metadata: SgtMetadata;
  /** Chat template with add_generation_prompt=true. */
  renderPrompt(messages: readonly ChatMessage[]): string;
  /** Ids of an already-templated text (no extra special tokens). */
  tokenize(text: string): number[];
  /** Skips nothing; byte-level BPE pieces are joined as bytes before UTF-8 decoding. */
  decode(ids: readonly number[]): string;
  /** Incremental decode for streaming: takes one id, returns the new text (buffers incomplete UTF-8). */
  createStreamingDecoder(): (id: number) => string;
  transform(inputIds: readonly number[], options?: TransformOptions): Promise<TransformResult>;
  /** Cosine-nearest row of embeddings.safetensors for each of `tokens` rows of `embeds`, run in ONNX Runtime. */
  nearestTokens(embeds: Float32Array, tokens: number): Promise<number[]>;
  close(): Promise<void>;
}
