import { randomUUID } from 'node:crypto';
import { InvalidRequestError } from '../errors/index.js';
import { ResponseStream, chatCompletionToResponse, type ResponseEcho } from '../chat-output/index.js';
import { chatChunkMapper, completionToChatCompletion } from '../stream/index.js';
import { forwardChat, type ChatCall, type ChatCompletionsDeps } from './chat-completions.js';
import { readAnswer, streamResponse } from './upstream-call.js';
import {
  isFunctionTool,
  type ResponsesFunctionTool,
  type ResponsesInputItem,
  type ResponsesRequest,
} from './responses-schemas.js';
import type { ChatCompletionRequest } from './schemas.js';

/**
 * `POST /v1/responses`: the request is rewritten as the chat request it means and takes the chat
 * path (the transform, output protection, tool and reasoning parsing); only the answer's shape is
 * the Responses API's. Stateless: nothing is stored, so nothing can be referred to later.
 */

export interface ResponsesCall extends Omit<ChatCall, 'request'> {
  request: ResponsesRequest;
}

type ChatMessageIn = ChatCompletionRequest['messages'][number];

export async function responses(deps: ChatCompletionsDeps, call: ResponsesCall): Promise<Response> {
  const { request } = call;
  const chat = toChatRequest(request);
  refusePassThroughLogprobs(deps, call.clientHeaders, chat);
  refuseParsedLogprobs(deps, chat);
  const id = `resp_${randomUUID().replaceAll('-', '')}`;
  const { forwarded, mapping } = await forwardChat(deps, { ...call, request: chat }, id);
  const echo = responseEcho(request, id, mapping.model);
  if (request.stream === true) {
    const toChat = chatChunkMapper({ ...mapping, includeUsage: true });
    const presenter = new ResponseStream(echo);
    return streamResponse(forwarded, (chunk) => presenter.present(toChat(chunk)), {
      keepAliveIntervalMs: deps.keepAliveIntervalMs,
      maxUpstreamEventBytes: deps.maxUpstreamEventBytes,
      context: call.context,
      dialect: presenter,
    });
  }
  const completion = completionToChatCompletion(await readAnswer(forwarded), mapping);
  return Response.json(chatCompletionToResponse(completion, echo), { headers: forwarded.answer.clientHeaders });
}

/**
 * With the client's own key the proxy relays ciphertext it cannot read: the Response it sends
 * holds the sealed text as it came (one message item, one delta per upstream chunk), and the
 * client library's decrypting fetch opens it and builds the items. Logprobs are not relayed that
 * way: their sealed order would have to survive two shapes.
 */
function refusePassThroughLogprobs(deps: ChatCompletionsDeps, headers: Headers, chat: ChatCompletionRequest): void {
  if (chat.logprobs !== true || deps.protection.decrypts) return;
  if (headers.get(deps.protection.headerNames.clientKey) === null) return;
  throw new InvalidRequestError(
    "'include': ['message.output_text.logprobs'] is not available with your own output-protection key on the Responses API: use /v1/chat/completions, which relays them sealed.",
    { param: 'include', code: 'unsupported_parameter' },
  );
}

/**
 * A Response puts logprobs on its `output_text`, and vLLM gives them per token of the whole
 * answer: once the answer is split into reasoning or tool calls, they no longer line up with the
 * text, so they are refused rather than sent misaligned.
 */
function refuseParsedLogprobs(deps: ChatCompletionsDeps, chat: ChatCompletionRequest): void {
  if (chat.logprobs !== true) return;
  const parsed = deps.chat.reasoningParser !== undefined || (chat.tools?.length ?? 0) > 0;
  if (!parsed) return;
  throw new InvalidRequestError(
    "'include': ['message.output_text.logprobs'] cannot be combined with tools or a reasoning parser on the Responses API: the tokens would not line up with the output text.",
    { param: 'include', code: 'unsupported_parameter' },
  );
}

/** The chat request a Responses request means: instructions first, then the input, in order. */
export function toChatRequest(request: ResponsesRequest): ChatCompletionRequest {
  const messages: ChatMessageIn[] = [];
  if (request.instructions) messages.push({ role: 'system', content: request.instructions });
  if (typeof request.input === 'string') messages.push({ role: 'user', content: request.input });
  else for (const item of request.input) addItem(messages, item);
  const logprobs = request.include?.includes('message.output_text.logprobs') === true;
  if (request.top_logprobs != null && !logprobs) {
    throw new InvalidRequestError(
      "Invalid value for 'top_logprobs': needs 'include': ['message.output_text.logprobs']",
      {
        param: 'top_logprobs',
        code: 'invalid_value',
      },
    );
  }
  const chat: ChatCompletionRequest = { messages, stream: request.stream ?? null };
  if (request.model !== undefined) chat.model = request.model;
  if (request.max_output_tokens != null) chat.max_completion_tokens = request.max_output_tokens;
  if (request.temperature != null) chat.temperature = request.temperature;
  if (request.top_p != null) chat.top_p = request.top_p;
  if (request.user != null) chat.user = request.user;
  if (request.parallel_tool_calls != null) chat.parallel_tool_calls = request.parallel_tool_calls;
  if (request.chat_template_kwargs) chat.chat_template_kwargs = request.chat_template_kwargs;
  if (logprobs) {
    chat.logprobs = true;
    chat.top_logprobs = request.top_logprobs ?? 0;
  }
  const tools = functionTools(request);
  if (tools.length > 0) {
    chat.tools = tools.map((tool) => ({
      type: 'function',
      function: { name: tool.name, description: tool.description, parameters: tool.parameters, strict: tool.strict },
    }));
  }
  const choice = request.tool_choice;
  if (choice != null)
    chat.tool_choice = typeof choice === 'string' ? choice : { type: 'function', function: { name: choice.name } };
  const format = request.text?.format;
  if (format?.type === 'json_schema') {
    const { name, description, schema, strict } = format;
    chat.response_format = { type: 'json_schema', json_schema: { name, description, schema, strict } };
  } else if (format != null) chat.response_format = { type: format.type };
  return chat;
}

function functionTools(request: ResponsesRequest): ResponsesFunctionTool[] {
  return (request.tools ?? []).filter(isFunctionTool);
}

/** One input item onto the conversation; a call joins the assistant turn it follows, as chat has it. */
function addItem(messages: ChatMessageIn[], item: ResponsesInputItem): void {
  switch (item.type) {
    case 'function_call': {
      const call = {
        id: item.call_id,
        type: 'function' as const,
        function: { name: item.name, arguments: item.arguments },
      };
      const last = messages.at(-1);
      if (last?.role === 'assistant') last.tool_calls = [...(last.tool_calls ?? []), call];
      else messages.push({ role: 'assistant', content: null, tool_calls: [call] });
      return;
    }
    case 'function_call_output':
      messages.push({ role: 'tool', tool_call_id: item.call_id, content: textOf(item.output) });
      return;
    case 'reasoning':
      return;
    case 'item_reference':
      return; // Refused by the schema: nothing is stored to refer to.
    case 'message':
    case undefined:
      messages.push({ role: item.role, content: textOf(item.content) });
  }
}

function textOf(content: string | readonly { type: string; text?: string; refusal?: string }[]): string {
  if (typeof content === 'string') return content;
  return content.map((part) => part.text ?? part.refusal ?? '').join('');
}

/** The request's settings as a Response repeats them. */
function responseEcho(request: ResponsesRequest, id: string, model: string): ResponseEcho {
  return {
    id,
    created_at: Math.floor(Date.now() / 1000),
    model,
    instructions: request.instructions ?? null,
    tools: functionTools(request).map((tool) => ({
      type: 'function',
      name: tool.name,
      description: tool.description ?? null,
      parameters: tool.parameters ?? null,
      strict: tool.strict ?? null,
    })),
    tool_choice: request.tool_choice ?? 'auto',
    parallel_tool_calls: request.parallel_tool_calls ?? true,
    temperature: request.temperature ?? null,
    top_p: request.top_p ?? null,
    max_output_tokens: request.max_output_tokens ?? null,
    top_logprobs: request.top_logprobs ?? null,
    metadata: request.metadata ?? null,
    text: { format: request.text?.format ?? { type: 'text' } },
    ...(request.user != null ? { user: request.user } : {}),
    store: false,
    truncation: 'disabled',
    previous_response_id: null,
  };
}
