/**
 * Typed errors of the SGT feature. The HTTP layer maps them to statuses without parsing messages:
 * `PromptTooLongError` and `SgtInputError` are the caller's fault (400), `SgtArtifactError` and
 * `SgtDeviceUnavailableError` are configuration problems that stop start-up, `SgtOverloadedError` is
 * back-pressure (503 with `Retry-After`).
 */

/** An SGT artifact directory is missing a file or holds a file that is malformed or inconsistent. */
export class SgtArtifactError extends Error {
  override readonly name = 'SgtArtifactError';
  /** Path of the offending file (or of the directory when the directory itself is the problem). */
  readonly file: string;

  constructor(file: string, problem: string, options?: { cause?: unknown }) {
    super(`${file}: ${problem}`, options);
    this.file = file;
  }
}

/** The templated prompt has more tokens than the transform accepts (`max_sequence_length`). */
export class PromptTooLongError extends Error {
  override readonly name = 'PromptTooLongError';
  readonly tokens: number;
  readonly limit: number;
  /** Set when the prompt was refused on its length in characters, before tokenizing. */
  readonly characters: number | undefined;

  /**
   * `tokens`: the count; with `characters` a lower bound on it found without tokenizing; with
   * `atLeast` a lower bound found when tokenizing stopped past the limit.
   */
  constructor(tokens: number, limit: number, options: { characters?: number; atLeast?: boolean } = {}) {
    super(
      options.characters !== undefined
        ? `prompt has ${options.characters} characters, at least ${tokens} tokens, more than this model's limit of ${limit}`
        : `prompt has ${options.atLeast ? 'at least ' : ''}${tokens} tokens, more than this model's limit of ${limit}`,
    );
    this.tokens = tokens;
    this.limit = limit;
    this.characters = options.characters;
  }
}

/** A caller passed input the transform cannot take: no tokens, ids out of range, a failing chat template. */
export class SgtInputError extends Error {
  override readonly name = 'SgtInputError';
}

/** The requested ONNX Runtime execution provider (CUDA) is not present in this onnxruntime-node install. */
export class SgtDeviceUnavailableError extends Error {
  override readonly name = 'SgtDeviceUnavailableError';
  readonly device: string;

  constructor(device: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.device = device;
  }
}

/**
 * The transform's queue is full: more requests are waiting for a batch than `maxQueuedRequests`.
 * Raised at once, before any work; the HTTP layer answers 503 with `Retry-After: retryAfterSeconds`.
 */
export class SgtOverloadedError extends Error {
  override readonly name = 'SgtOverloadedError';
  /** Estimated seconds until the queue has drained at the recently measured throughput (1-60). */
  readonly retryAfterSeconds: number;
  readonly queued: number;
  readonly limit: number;

  constructor(queued: number, limit: number, retryAfterSeconds: number) {
    super(
      `the transform is overloaded: ${queued} requests are already waiting (limit ${limit}); retry in ${retryAfterSeconds} s`,
    );
    this.queued = queued;
    this.limit = limit;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}
