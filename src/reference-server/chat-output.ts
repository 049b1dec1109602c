import {
  collectText,
  finishAt,
  usage,
  type ChunkFormat,
  type CompletionRun,
  type UsageInfo,
} from './completion-output.js';
import type { FinishReason } from './token-plan.js';

/**
 * vLLM's chat completion shapes for the plain-text route (paced mode): `chat.completion.chunk`
 * events and the `chat.completion` object. The run is the same `CompletionRun` the completions route
 * replays; its id is `chatcmpl-<request id>`.
 */

/**
 * Step 0 opens every choice with `delta: {role: "assistant", content: ""}` — vLLM sends it with the
 * first output, i.e. together with the first token, not before — then each step is one content chunk
 * per choice, the finish reason (and `stop_reason`) on the last one.
 */
export function chatChunkFormat(run: CompletionRun, continuousUsage: boolean): ChunkFormat {
  const chunk = (choices: object[], completionTokens?: number): object => {
    const body = { id: run.id, object: 'chat.completion.chunk', created: run.created, model: run.model, choices };
    return completionTokens === undefined ? body : { ...body, usage: usage(run.promptTokens, completionTokens) };
  };
  const runningUsage = (step: number): number | undefined => (continuousUsage ? (step + 1) * run.choices : undefined);
  return {
    stepChunks(step) {
      const chunks: object[] = [];
      if (step === 0) {
        for (let index = 0; index < run.choices; index += 1) {
          chunks.push(
            chunk(
              [{ index, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }],
              continuousUsage ? 0 : undefined,
            ),
          );
        }
      }
      const finish = finishAt(run, step);
      for (let index = 0; index < run.choices; index += 1) {
        const choice = { index, delta: { content: run.plan.text(step) }, logprobs: null, finish_reason: finish };
        chunks.push(chunk([finish === null ? choice : { ...choice, stop_reason: null }], runningUsage(step)));
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
    stop_reason: null;
  }>;
  usage: UsageInfo;
  prompt_logprobs: null;
}

/** A non-streamed chat completion; `undefined` when the client went away first. */
export async function collectChatCompletion(
  run: CompletionRun,
  signal: AbortSignal,
): Promise<ChatCompletionResponse | undefined> {
  const text = await collectText(run, signal);
  if (text === undefined) return undefined;
  return {
    id: run.id,
    object: 'chat.completion',
    created: run.created,
    model: run.model,
    choices: Array.from({ length: run.choices }, (_, index) => ({
      index,
      message: { role: 'assistant' as const, content: text, tool_calls: [] as [] },
      logprobs: null,
      finish_reason: run.plan.finishReason,
      stop_reason: null,
    })),
    usage: usage(run.promptTokens, run.plan.count * run.choices),
    prompt_logprobs: null,
  };
}
