/**
 * The Responses API in pass-through mode. The proxy cannot read the answer, so the Response it
 * relays holds the sealed text as it came: one message item, one `output_text.delta` per upstream
 * chunk (its ciphertext), the whole sealed text in a non-stream body. Here, with the key, each
 * piece is opened in order, parsed with the proxy's own output plan (reasoning, content, tool
 * calls) and the Response is built again, events and all, as the decrypting proxy would have sent it.
 */
import {
  ChoiceOutput,
  ResponseStream,
  chatCompletionToResponse,
  chatDeltaOf,
  chatMessageOf,
  wholeChoiceOutput,
  type ChatCompletion,
  type ChatCompletionChunk,
  type OutputEvent,
  type OutputPlan,
  type ResponseEcho,
  type ResponseEvent,
  type ResponseObject,
  type ToolOutput,
  type ToolParserName,
  type Usage,
} from '../chat-output/index.js';
import { ApiError } from '../errors/index.js';
import { isObject } from '../internal/is-object.js';
import type { ResponseDecryptor } from './decryptor.js';

/** The tool output the proxy plans for a Responses request (its tools are `{type, name}`, not chat's). */
export function responsesToolOutput(body: Record<string, unknown>, parser: ToolParserName): ToolOutput | undefined {
  const tools = Array.isArray(body.tools)
    ? body.tools.filter((tool) => isObject(tool) && tool.type === 'function')
    : [];
  const choice = body.tool_choice ?? 'auto';
  if (tools.length === 0 || choice === 'none') return undefined;
  if (choice === 'required') return { kind: 'required' };
  if (isObject(choice) && typeof choice.name === 'string') return { kind: 'named', name: choice.name };
  return { kind: 'parse', parser };
}

/** The Response's own fields, which the rebuilt one repeats; the answer's fields are made again. */
function echoOf(response: unknown): ResponseEcho {
  if (!isObject(response)) throw new ApiError(502, 'upstream_error', 'The Response event carries no response.');

  const {
    object: _o,
    status: _s,
    completed_at: _c,
    error: _e,
    incomplete_details: _i,
    output: _out,
    usage: _u,
    ...echo
  } = response;
  // The proxy made these fields from a ResponseEcho (proxy/responses.ts); they are repeated, not read.
  return echo as unknown as ResponseEcho;
}

function chatUsage(usage: unknown): Usage | undefined {
  if (!isObject(usage)) return undefined;
  const { input_tokens: prompt, output_tokens: completion, total_tokens: total } = usage;
  if (typeof prompt !== 'number' || typeof completion !== 'number' || typeof total !== 'number') return undefined;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: total };
}

function chatChunk(delta: ChatCompletionChunk['choices'][number]['delta'], finish: string | null): ChatCompletionChunk {
  return {
    id: '',
    object: 'chat.completion.chunk',
    created: 0,
    model: '',
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
  };
}

const finishOf = (response: unknown): string =>
  isObject(response) && response.status === 'incomplete' ? 'length' : 'stop';

/**
 * A rebuilder of one streamed pass-through Response: each of the proxy's events in, the events
 * the SDK gets out. Only the sealed deltas, the first event (the echo) and the last (status and
 * usage) are read; the proxy's item events describe ciphertext and are replaced by those of the
 * opened answer. Throws DecryptionError on a delta that does not open.
 */
export interface ResponseEventRebuilder {
  /** One of the proxy's events → the events the SDK gets for it. */
  event(event: Record<string, unknown>): ResponseEvent[];
  /** The error event that ends a rebuilt stream which failed here (numbered after what was sent). */
  fail(error: ApiError): ResponseEvent;
}

export function responseEventRebuilder(plan: OutputPlan, decryptor: ResponseDecryptor): ResponseEventRebuilder {
  // Fed the opened text directly, one chat chunk per event, as the proxy's chat mapper does: a
  // delta that yields text, then a call, then text again keeps that order in the items.
  const output = new ChoiceOutput(plan);
  let stream: ResponseStream | undefined;
  const started = (): ResponseStream => {
    if (stream === undefined)
      throw new ApiError(502, 'upstream_error', 'The Response stream did not start with response.created.');
    return stream;
  };
  const chunksOf = (events: readonly OutputEvent[], finish: string | null): ChatCompletionChunk[] => {
    if (events.length === 0) return finish === null ? [] : [chatChunk({}, finish)];
    return events.map((event, i) => chatChunk(chatDeltaOf(event), i === events.length - 1 ? finish : null));
  };
  const fail = (error: ApiError): ResponseEvent => (stream ?? new ResponseStream(echoOf({}))).error(error);
  const event = (event: Record<string, unknown>): ResponseEvent[] => {
    switch (event.type) {
      case 'response.created':
        stream = new ResponseStream(echoOf(event.response));
        return stream.present([]);
      case 'response.output_text.delta': {
        const sealed = chatChunk({ content: typeof event.delta === 'string' ? event.delta : '' }, null);
        const text = decryptor.decryptChatChunk(sealed).choices[0]?.delta.content ?? '';
        return started().present(chunksOf(output.feed(text), null));
      }
      case 'response.completed':
      case 'response.incomplete': {
        const end = output.end(finishOf(event.response));
        const usage = chatUsage(isObject(event.response) ? event.response.usage : undefined);
        const chunks = chunksOf(end.events, end.finish);
        if (usage) chunks.push({ ...chatChunk({}, null), choices: [], usage });
        const current = started();
        return [...current.present(chunks), ...current.done()];
      }
      case 'error': {
        // The proxy's failure (possibly its first event), passed on with its message, code and param.
        const error = isObject(event.error) ? event.error : event;
        const message = typeof error.message === 'string' ? error.message : 'The answer failed.';
        const code = typeof error.code === 'string' ? error.code : null;
        const param = typeof error.param === 'string' ? error.param : null;
        return [fail(new ApiError(502, 'upstream_error', message, { code, param }))];
      }
      default:
        return []; // the proxy's own item events: they describe the sealed text
    }
  };
  return { event, fail };
}

/** A non-stream pass-through Response, opened and built again. Throws DecryptionError on text that does not open. */
export function rebuildResponse(body: unknown, plan: OutputPlan, decryptor: ResponseDecryptor): ResponseObject {
  if (!isObject(body) || !Array.isArray(body.output))
    throw new ApiError(502, 'upstream_error', 'The answer is not a Response.');
  const sealed = body.output
    .flatMap((item: unknown) => (isObject(item) && Array.isArray(item.content) ? item.content : []))
    .map((part: unknown) => (isObject(part) && typeof part.text === 'string' ? part.text : ''))
    .join('');
  const sealedBody = { choices: [{ index: 0, message: { content: sealed } }] };
  if (sealed !== '') decryptor.decryptChatCompletion(sealedBody);
  const whole = wholeChoiceOutput(plan, sealedBody.choices[0]!.message.content, finishOf(body));
  const usage = chatUsage(body.usage);
  const completion: ChatCompletion = {
    id: '',
    object: 'chat.completion',
    created: 0,
    model: '',
    choices: [
      {
        index: 0,
        message: chatMessageOf(whole),
        logprobs: null,
        finish_reason: whole.finish,
      },
    ],
    ...(usage ? { usage } : {}),
  };
  return chatCompletionToResponse(completion, echoOf(body));
}
