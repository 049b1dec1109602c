import { SSE_DONE, encodeSseData } from '../stream/sse-encoder.js';
import { pause } from './pacing.js';
import type { FinishReason, TokenPlan } from './token-plan.js';
import { internalError } from './vllm-errors.js';

/** One completion being generated: what every chunk and the final response repeat. */
export interface CompletionRun {
  /** `cmpl-<request id>`, as vLLM names it. */
  id: string;
  created: number;
  model: string;
  promptTokens: number;
  /** `n`: choices generated side by side, each with the plan's tokens. */
  choices: number;
  plan: TokenPlan;
  tokenIntervalMs: number;
}

export type GenerationOutcome = 'completed' | 'aborted' | 'failed';

export interface GenerationEnd {
  outcome: GenerationOutcome;
  /** Tokens sent, all choices together (what `usage.completion_tokens` counts). */
  completionTokens: number;
}

export interface UsageInfo {
  prompt_tokens: number;
  total_tokens: number;
  completion_tokens: number;
}

export function usage(promptTokens: number, completionTokens: number): UsageInfo {
  return {
    prompt_tokens: promptTokens,
    total_tokens: promptTokens + completionTokens,
    completion_tokens: completionTokens,
  };
}

/** The finish reason rides on the chunk of the last token, as in vLLM's completion stream. */
export function finishAt(run: Pick<CompletionRun, 'plan'>, step: number): FinishReason | null {
  return step === run.plan.count - 1 ? run.plan.finishReason : null;
}

function tokenChunk(run: CompletionRun, index: number, step: number, continuousUsage: boolean): object {
  const choice = {
    index,
    text: run.plan.text(step),
    logprobs: null,
    finish_reason: finishAt(run, step),
    stop_reason: null,
  };
  const chunk = { id: run.id, object: 'text_completion', created: run.created, model: run.model, choices: [choice] };
  return continuousUsage ? { ...chunk, usage: usage(run.promptTokens, step + 1) } : chunk;
}

function usageChunk(run: CompletionRun, completionTokens: number): object {
  return {
    id: run.id,
    object: 'text_completion',
    created: run.created,
    model: run.model,
    choices: [],
    usage: usage(run.promptTokens, completionTokens),
  };
}

export interface StreamOptions {
  includeUsage: boolean;
  continuousUsage: boolean;
  /** The client's request: its abort (disconnect) stops generation. */
  signal: AbortSignal;
  onEnd(end: GenerationEnd): void;
  /** Told once, when the first token's chunks are handed to the response (server-side TTFT). */
  onFirstToken?: () => void;
  /** Output protection: encrypts each chunk's texts, in emission order (absent: plaintext). */
  protect?: <T extends object>(chunk: T) => T;
}

/** The paced generation a stream replays: its tokens, how many choices, and the pause before each. */
export type PacedRun = Pick<CompletionRun, 'plan' | 'choices' | 'tokenIntervalMs'>;

/** What one API's stream (completions, chat) writes: the chunks of a step, and the usage chunk. */
export interface ChunkFormat {
  /** Every choice's chunks for generation step `step` (0-based), in the order they go out. */
  stepChunks(step: number): object[];
  usageChunk(completionTokens: number): object;
}

/**
 * The SSE body of a streamed completion, exactly as vLLM writes it: one chunk per token and choice,
 * the finish reason on each choice's last token, the usage chunk when asked, then `[DONE]`.
 */
export function completionEventStream(run: CompletionRun, options: StreamOptions): ReadableStream<Uint8Array> {
  const format: ChunkFormat = {
    stepChunks: (step) =>
      Array.from({ length: run.choices }, (_, index) => tokenChunk(run, index, step, options.continuousUsage)),
    usageChunk: (completionTokens) => usageChunk(run, completionTokens),
  };
  return pacedEventStream(run, format, options);
}

/**
 * A paced token stream in any chunk format. Pull-based with no read-ahead: a token is produced only
 * when the client took the previous one, and a cancel (client gone) or the request's abort clears
 * the pending timer at once.
 */
export function pacedEventStream(
  run: PacedRun,
  format: ChunkFormat,
  options: StreamOptions,
): ReadableStream<Uint8Array> {
  const stop = new AbortController();
  const signal = AbortSignal.any([options.signal, stop.signal]);
  let step = 0;
  let ended = false;
  const end = (outcome: GenerationOutcome): void => {
    if (ended) return;
    ended = true;
    options.signal.removeEventListener('abort', onRequestAbort);
    stop.abort();
    options.onEnd({ outcome, completionTokens: step * run.choices });
  };
  // Reported even when no pull is in flight (a client that stopped reading, then left).
  const onRequestAbort = (): void => end('aborted');
  options.signal.addEventListener('abort', onRequestAbort, { once: true });
  if (options.signal.aborted) end('aborted');

  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          if (step < run.plan.count) {
            if (!(await pause(run.tokenIntervalMs, signal))) {
              end('aborted');
              controller.error(new Error('The client went away.'));
              return;
            }
            for (const chunk of format.stepChunks(step))
              controller.enqueue(encodeSseData(options.protect ? options.protect(chunk) : chunk));
            if (step === 0) options.onFirstToken?.();
            step += 1;
            return;
          }
          if (options.includeUsage) controller.enqueue(encodeSseData(format.usageChunk(step * run.choices)));
          controller.enqueue(SSE_DONE);
          controller.close();
          end('completed');
        } catch (err) {
          failStream(controller, err);
          end('failed');
        }
      },
      cancel() {
        end('aborted');
      },
    },
    { highWaterMark: 0 },
  );
}

/** After the 200 is out, a failure is one error event and `[DONE]`, as vLLM's stream generator does. */
function failStream(controller: ReadableStreamDefaultController<Uint8Array>, err: unknown): void {
  try {
    controller.enqueue(encodeSseData(internalError(err).toEnvelope()));
    controller.enqueue(SSE_DONE);
    controller.close();
  } catch {
    // The stream was already errored or closed (aborted); nothing more can be sent.
  }
}

export interface CompletionResponse {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
  choices: Array<{
    index: number;
    text: string;
    logprobs: null;
    finish_reason: FinishReason;
    stop_reason: null;
    prompt_logprobs: null;
  }>;
  usage: UsageInfo;
}

/**
 * The text every choice of a non-streamed answer gets: the same tokens at the same pace, returned
 * at once at the end. `undefined` when the client went away first.
 */
export async function collectText(run: PacedRun, signal: AbortSignal): Promise<string | undefined> {
  let text = '';
  for (let step = 0; step < run.plan.count; step += 1) {
    if (!(await pause(run.tokenIntervalMs, signal))) return undefined;
    text += run.plan.text(step);
  }
  return text;
}

/** A non-streamed completion; `undefined` when the client went away first. */
export async function collectCompletion(
  run: CompletionRun,
  signal: AbortSignal,
): Promise<CompletionResponse | undefined> {
  const text = await collectText(run, signal);
  if (text === undefined) return undefined;
  const choices = Array.from({ length: run.choices }, (_, index) => ({
    index,
    text,
    logprobs: null,
    finish_reason: run.plan.finishReason,
    stop_reason: null,
    prompt_logprobs: null,
  }));
  return {
    id: run.id,
    object: 'text_completion',
    created: run.created,
    model: run.model,
    choices,
    usage: usage(run.promptTokens, run.plan.count * run.choices),
  };
}
