import { SSE_DONE, encodeSseData } from '../stream/sse-encoder.js';
import type { CompletionLogprobs, Logprobs } from './logprobs.js';
import { pause } from './pacing.js';
import { pythonLen } from './python-strings.js';
import type { FinishReason, TokenPlan } from './token-plan.js';
import { internalError } from './vllm-errors.js';

/** One prompt of a run: its size and the tokens each of its `n` choices emits. */
export interface PromptRun {
  promptTokens: number;
  plan: TokenPlan;
}

/** One completion being generated: what every chunk and the final response repeat. */
export interface CompletionRun {
  /** `cmpl-<request id>`, as vLLM names it. */
  id: string;
  created: number;
  model: string;
  /** In vLLM's order; prompt `p`'s choices have indexes `p * n` to `p * n + n - 1`. */
  prompts: readonly PromptRun[];
  /** `n`: choices generated side by side for each prompt. */
  n: number;
  tokenIntervalMs: number;
}

/** `logprobs` of a completions request: how many top entries, and the table that answers it. */
export interface LogprobsRequest {
  requested: number;
  table: Logprobs;
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

/** The generation a stream replays: its prompts' tokens, how many choices each, and the pause before each step. */
export type PacedRun = Pick<CompletionRun, 'prompts' | 'n' | 'tokenIntervalMs'>;

/** Steps of generation: the longest prompt's tokens (the prompts of a request generate side by side). */
function stepCount(run: PacedRun): number {
  return Math.max(0, ...run.prompts.map((p) => p.plan.count));
}

/** Tokens sent in the first `steps` steps, all choices together. */
function tokensIn(run: PacedRun, steps: number): number {
  return run.prompts.reduce((sum, p) => sum + Math.min(steps, p.plan.count), 0) * run.n;
}

/** `usage.prompt_tokens` of a run: each prompt once, whatever `n` (as vLLM counts). */
export function runUsage(run: Pick<CompletionRun, 'prompts'>, completionTokens: number): UsageInfo {
  return usage(
    run.prompts.reduce((sum, p) => sum + p.promptTokens, 0),
    completionTokens,
  );
}

/** The finish reason rides on the chunk of the last token, as in vLLM's completion stream. */
export function finishAt(plan: TokenPlan, step: number): FinishReason | null {
  return step === plan.count - 1 ? plan.finishReason : null;
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

/** What one API's stream (completions, chat) writes: the chunks of a step, and the usage chunk. */
export interface ChunkFormat {
  /** Every choice's chunks for generation step `step` (0-based, called in order), in the order they go out. */
  stepChunks(step: number): object[];
  usageChunk(completionTokens: number): object;
}

/** Calls `each(prompt, choice index)` for every choice of the prompts that have a token at `step`. */
function forChoicesAt(run: PacedRun, step: number, each: (prompt: PromptRun, index: number, p: number) => void): void {
  run.prompts.forEach((prompt, p) => {
    if (step >= prompt.plan.count) return;
    for (let c = 0; c < run.n; c += 1) each(prompt, p * run.n + c, p);
  });
}

/**
 * vLLM's completions chunks: one per token and choice, its `logprobs` when asked (the token's,
 * at the offset of the text sent before it), the finish reason and `stop_reason` on each choice's
 * last token; usage per chunk with `continuous_usage_stats`.
 */
function completionChunkFormat(
  run: CompletionRun,
  continuousUsage: boolean,
  logprobs: LogprobsRequest | undefined,
): ChunkFormat {
  const sentChars = run.prompts.map(() => 0);
  const chunk = (choices: object[], extra: object = {}): object => ({
    id: run.id,
    object: 'text_completion',
    created: run.created,
    model: run.model,
    choices,
    ...extra,
  });
  return {
    stepChunks(step) {
      const chunks: object[] = [];
      forChoicesAt(run, step, ({ plan, promptTokens }, index, p) => {
        const choice = {
          index,
          text: plan.text(step),
          logprobs: logprobs ? logprobs.table.of(plan, logprobs.requested, step, step + 1, sentChars[p] ?? 0) : null,
          finish_reason: finishAt(plan, step),
          stop_reason: finishAt(plan, step) === null ? null : plan.stopReason,
        };
        chunks.push(chunk([choice], continuousUsage ? { usage: usage(promptTokens, step + 1) } : {}));
      });
      run.prompts.forEach(({ plan }, p) => {
        if (step < plan.count) sentChars[p] = (sentChars[p] ?? 0) + pythonLen(plan.text(step));
      });
      return chunks;
    },
    usageChunk: (completionTokens) => chunk([], { usage: runUsage(run, completionTokens) }),
  };
}

/**
 * The SSE body of a streamed completion, exactly as vLLM writes it: one chunk per token and choice,
 * the finish reason on each choice's last token, the usage chunk when asked, then `[DONE]`.
 */
export function completionEventStream(
  run: CompletionRun,
  options: StreamOptions,
  logprobs?: LogprobsRequest,
): ReadableStream<Uint8Array> {
  return pacedEventStream(run, completionChunkFormat(run, options.continuousUsage, logprobs), options);
}

/**
 * A paced token stream in any chunk format. Pull-based with no read-ahead: a step is produced only
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
  const steps = stepCount(run);
  let step = 0;
  let ended = false;
  const end = (outcome: GenerationOutcome): void => {
    if (ended) return;
    ended = true;
    options.signal.removeEventListener('abort', onRequestAbort);
    stop.abort();
    options.onEnd({ outcome, completionTokens: tokensIn(run, step) });
  };
  // Reported even when no pull is in flight (a client that stopped reading, then left).
  const onRequestAbort = (): void => end('aborted');
  options.signal.addEventListener('abort', onRequestAbort, { once: true });
  if (options.signal.aborted) end('aborted');

  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          if (step < steps) {
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
          if (options.includeUsage) controller.enqueue(encodeSseData(format.usageChunk(tokensIn(run, step))));
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
    logprobs: CompletionLogprobs | null;
    finish_reason: FinishReason;
    stop_reason: string | null;
    prompt_logprobs: null;
  }>;
  usage: UsageInfo;
}

/**
 * A non-streamed answer is generated at the same pace and returned at once at the end. False when
 * the client went away first.
 */
export async function paceThrough(run: PacedRun, signal: AbortSignal): Promise<boolean> {
  for (let step = 0; step < stepCount(run); step += 1) {
    if (!(await pause(run.tokenIntervalMs, signal))) return false;
  }
  return true;
}

/** Everything `plan` sends, joined. */
export function planText(plan: TokenPlan): string {
  let text = '';
  for (let index = 0; index < plan.count; index += 1) text += plan.text(index);
  return text;
}

/** The total tokens of a whole run (`usage.completion_tokens`). */
export function runTokens(run: PacedRun): number {
  return tokensIn(run, stepCount(run));
}

/** A non-streamed completion; `undefined` when the client went away first. */
export async function collectCompletion(
  run: CompletionRun,
  signal: AbortSignal,
  logprobs?: LogprobsRequest,
): Promise<CompletionResponse | undefined> {
  if (!(await paceThrough(run, signal))) return undefined;
  const choices = run.prompts.flatMap(({ plan }, p) => {
    const text = planText(plan);
    // Offsets count the tokens' own text from 0, as vLLM's non-streamed logprobs do.
    const choiceLogprobs = logprobs ? logprobs.table.of(plan, logprobs.requested, 0, plan.count, 0) : null;
    return Array.from({ length: run.n }, (_, c) => ({
      index: p * run.n + c,
      text,
      logprobs: choiceLogprobs,
      finish_reason: plan.finishReason,
      stop_reason: plan.stopReason,
      prompt_logprobs: null,
    }));
  });
  return {
    id: run.id,
    object: 'text_completion',
    created: run.created,
    model: run.model,
    choices,
    usage: runUsage(run, runTokens(run)),
  };
}
