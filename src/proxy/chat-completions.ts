import { randomUUID } from 'node:crypto';
import type { Logger } from '../logging/index.js';
import { chatChunkMapper, completionToChatCompletion, type OutputPlan } from '../stream/index.js';
import { planChat, type ChatOptions, type ChatPlan } from './chat-options.js';
import type { ProtectedAnswer } from '../protection/index.js';
import { toChatMessages, type ChatCompletionRequest } from './schemas.js';
import {
  answerReadable,
  forwardPrompt,
  readAnswer,
  streamResponse,
  type ForwardedPrompt,
  type ProxiedCall,
  type UpstreamCallDeps,
} from './upstream-call.js';

export interface ChatCompletionsDeps extends UpstreamCallDeps {
  chat: ChatOptions;
}

export interface ChatCall extends ProxiedCall {
  request: ChatCompletionRequest;
}

function maxTokensOf(request: ChatCompletionRequest, maxNewTokens: number): number {
  return request.max_completion_tokens ?? request.max_tokens ?? maxNewTokens;
}

/** A chat request sent upstream, with how its answer maps to the chat shape. */
export interface ForwardedChat {
  forwarded: ForwardedPrompt;
  mapping: { id: string; model: string; output: OutputPlan; topLogprobs?: number; sealed?: boolean };
}

/**
 * The private path every chat-shaped request takes (chat completions, the Responses API): the
 * chat template and the transform, the upstream call, the answer's protection checked.
 */
export async function forwardChat(deps: ChatCompletionsDeps, call: ChatCall, id: string): Promise<ForwardedChat> {
  const { request } = call;
  const model = request.model ?? deps.defaultModel;
  const plan = planChat(request, deps.chat);
  const upstreamFields = { ...plan.upstreamFields };
  if (request.logprobs === true) upstreamFields.logprobs = request.top_logprobs ?? 0;
  const forwarded = await forwardPrompt(deps, call, {
    operation: 'chat',
    model,
    id,
    request,
    maxTokens: maxTokensOf(request, deps.maxNewTokens),
    logprobs: request.logprobs === true,
    sealedLogprobs: true,
    embed: (signal) => deps.embedder.embed(toChatMessages(request.messages), request.seed, signal, plan.template),
    upstreamFields,
  });
  const output = readableOutput(plan, forwarded.answer, call.context.logger);
  return { forwarded, mapping: { id, model, output, ...mappingOptions(request, forwarded.answer) } };
}

export async function chatCompletions(deps: ChatCompletionsDeps, call: ChatCall): Promise<Response> {
  const { request } = call;
  const { forwarded, mapping } = await forwardChat(deps, call, `chatcmpl-${randomUUID()}`);
  if (request.stream === true) {
    const includeUsage = request.stream_options?.include_usage === true;
    return streamResponse(forwarded, chatChunkMapper({ ...mapping, includeUsage }), {
      keepAliveIntervalMs: deps.keepAliveIntervalMs,
      maxUpstreamEventBytes: deps.maxUpstreamEventBytes,
      context: call.context,
    });
  }
  const opened = await readAnswer(forwarded);
  return Response.json(completionToChatCompletion(opened, mapping), { headers: forwarded.answer.clientHeaders });
}

/** How the answer's fields map: logprobs when asked; ciphertext relayed for the client's key keeps its sealed fields as they are. */
function mappingOptions(
  request: ChatCompletionRequest,
  answer: ProtectedAnswer,
): { topLogprobs?: number; sealed?: boolean } {
  const sealed = answer.version !== undefined && answer.recipient === undefined ? { sealed: true } : {};
  return request.logprobs === true ? { topLogprobs: request.top_logprobs ?? 0, ...sealed } : sealed;
}

/**
 * The output plan when the proxy reads the answer (plaintext, or decrypted here); when it relays
 * ciphertext (the client's own key) the text is opaque to it, and the client parses it itself.
 */
function readableOutput(plan: ChatPlan, answer: ProtectedAnswer, logger: Logger): OutputPlan {
  if (!answerReadable(answer)) return { parallelToolCalls: true };
  return {
    ...plan.output,
    // Without the block's text: it is model output.
    onMalformedToolCall: (problem) =>
      logger.warn(problem, 'a tool-call block is not a valid call: passed on as content'),
  };
}
