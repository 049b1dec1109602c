import {
  finishAt,
  paceThrough,
  planText,
  runTokens,
  runUsage,
  usage,
  type ChunkFormat,
  type CompletionRun,
  type UsageInfo,
} from './completion-output.js';
import type { FinishReason, TokenPlan } from './token-plan.js';

/**
 * vLLM's chat completion shapes for the plain-text route: `chat.completion.chunk` events and the
 * `chat.completion` object. The run is a `CompletionRun` with one prompt (the messages); its id is
 * `chatcmpl-<request id>`.
 */

function onlyPlan(run: CompletionRun): TokenPlan {
  const prompt = run.prompts[0];
  if (!prompt || run.prompts.length !== 1) throw new TypeError('a chat run has exactly one prompt');
  return prompt.plan;
}

/**
 * Step 0 opens every choice with `delta: {role: "assistant", content: ""}` — vLLM sends it with the
 * first output, i.e. together with the first token, not before — then each step is one content chunk
 * per choice, the finish reason (and `stop_reason`) on the last one.
 */
export function chatChunkFormat(run: CompletionRun, continuousUsage: boolean): ChunkFormat {
  const plan = onlyPlan(run);
  const promptTokens = run.prompts[0]?.promptTokens ?? 0;
  const chunk = (choices: object[], completionTokens?: number): object => {
    const body = { id: run.id, object: 'chat.completion.chunk', created: run.created, model: run.model, choices };
    return completionTokens === undefined ? body : { ...body, usage: usage(promptTokens, completionTokens) };
  };
  const runningUsage = (step: number): number | undefined => (continuousUsage ? (step + 1) * run.n : undefined);
  return {
    stepChunks(step) {
      const chunks: object[] = [];
      if (step === 0) {
        for (let index = 0; index < run.n; index += 1) {
          chunks.push(
            chunk(
              [{ index, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }],
              continuousUsage ? 0 : undefined,
            ),
          );
        }
      }
      const finish = finishAt(plan, step);
      for (let index = 0; index < run.n; index += 1) {
        const choice = { index, delta: { content: plan.text(step) }, logprobs: null, finish_reason: finish };
        chunks.push(
          chunk([finish === null ? choice : { ...choice, stop_reason: plan.stopReason }], runningUsage(step)),
        );
      }
      return chunks;
    },
    usageChunk: (completionTokens) => chunk([], completionTokens),
  };
}

export interface ChatCompletionResponse {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: Array<{
    index: number;
    message: { role: 'assistant'; content: string; tool_calls: [] };
    logprobs: null;
    finish_reason: FinishReason;
    stop_reason: string | null;
  }>;
  usage: UsageInfo;
  prompt_logprobs: null;
}

/** A non-streamed chat completion; `undefined` when the client went away first. */
export async function collectChatCompletion(
  run: CompletionRun,
  signal: AbortSignal,
): Promise<ChatCompletionResponse | undefined> {
  const plan = onlyPlan(run);
  if (!(await paceThrough(run, signal))) return undefined;
  const text = planText(plan);
  return {
    id: run.id,
    object: 'chat.completion',
    created: run.created,
    model: run.model,
    choices: Array.from({ length: run.n }, (_, index) => ({
      index,
      message: { role: 'assistant' as const, content: text, tool_calls: [] as [] },
      logprobs: null,
      finish_reason: plan.finishReason,
      stop_reason: plan.stopReason,
    })),
    usage: runUsage(run, runTokens(run)),
    prompt_logprobs: null,
  };
}
