import { randomUUID } from 'node:crypto';
import { textCompletionMapper, toTextCompletion } from '../stream/index.js';
import { promptText, type CompletionRequest } from './schemas.js';
import { forwardPrompt, readAnswer, streamResponse, type ProxiedCall, type UpstreamCallDeps } from './upstream-call.js';

export interface CompletionCall extends ProxiedCall {
  request: CompletionRequest;
}

/**
 * The legacy completions API: the prompt's text, tokenized as it is (no chat template), goes
 * through the transform like a chat's, and the upstream's completion is relayed in the same shape
 * under the proxy's id (opened first when the proxy holds the key; the client's ciphertext as it is
 * when the client sent its own).
 */
export async function completions(deps: UpstreamCallDeps, call: CompletionCall): Promise<Response> {
  const { request } = call;
  const model = request.model ?? deps.defaultModel;
  const id = `cmpl-${randomUUID()}`;
  const logprobs = request.logprobs != null;
  const text = promptText(request.prompt);
  const forwarded = await forwardPrompt(deps, call, {
    operation: 'text_completion',
    model,
    id,
    request,
    maxTokens: request.max_tokens ?? deps.maxNewTokens,
    logprobs,
    embed: (signal) => deps.embedder.embedPrompt(text, request.seed, signal),
    upstreamFields: logprobs ? { logprobs: request.logprobs } : {},
  });
  if (request.stream === true) {
    const includeUsage = request.stream_options?.include_usage === true;
    return streamResponse(forwarded, textCompletionMapper({ id, model, logprobs, includeUsage }), {
      keepAliveIntervalMs: deps.keepAliveIntervalMs,
      maxUpstreamEventBytes: deps.maxUpstreamEventBytes,
      context: call.context,
    });
  }
  const opened = await readAnswer(forwarded);
  return Response.json(toTextCompletion(opened, { id, model, logprobs }), {
    headers: forwarded.answer.clientHeaders,
  });
}
