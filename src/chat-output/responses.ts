import { randomUUID } from 'node:crypto';
import { toErrorEnvelope, type ApiError } from '../errors/index.js';
import type { ChatCompletion, ChatCompletionChunk, ChatTokenLogprob, Usage } from './chunks.js';

/**
 * OpenAI's Responses API shapes (`Response`, its output items and stream events), made from the
 * chat shapes the pipeline already produces: a Responses request is answered by the chat path, and
 * only its presentation differs. One choice: the Responses API has no `n`.
 */

/** What a Response echoes of its request: everything but what the answer decides. */
export interface ResponseEcho {
  id: string;
  created_at: number;
  model: string;
  instructions: string | null;
  tools: unknown[];
  tool_choice: unknown;
  parallel_tool_calls: boolean;
  temperature: number | null;
  top_p: number | null;
  max_output_tokens: number | null;
  top_logprobs: number | null;
  metadata: Record<string, string> | null;
  text: { format: unknown };
  user?: string;
  store: false;
  truncation: 'disabled';
  previous_response_id: null;
}

type ItemStatus = 'in_progress' | 'completed' | 'incomplete';

interface LogProb {
  token: string;
  logprob: number;
  bytes: number[];
  top_logprobs: { token: string; logprob: number; bytes: number[] }[];
}

interface OutputText {
  type: 'output_text';
  text: string;
  annotations: [];
  logprobs: LogProb[];
}

export type OutputItem =
  | { type: 'message'; id: string; status: ItemStatus; role: 'assistant'; content: OutputText[] }
  | {
      type: 'reasoning';
      id: string;
      status: ItemStatus;
      summary: [];
      content: { type: 'reasoning_text'; text: string }[];
    }
  | { type: 'function_call'; id: string; status: ItemStatus; call_id: string; name: string; arguments: string };

export interface ResponseUsage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number; cache_write_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

export interface ResponseObject extends ResponseEcho {
  object: 'response';
  status: 'in_progress' | 'completed' | 'incomplete';
  completed_at: number | null;
  error: null;
  incomplete_details: { reason: 'max_output_tokens' } | null;
  output: OutputItem[];
  usage?: ResponseUsage;
}

/** One stream event: its `type` names it (and the SSE `event:` line), `sequence_number` orders it. */
export interface ResponseEvent {
  type: string;
  sequence_number: number;
  [field: string]: unknown;
}

const itemId = (prefix: string): string => `${prefix}_${randomUUID().replaceAll('-', '')}`;

function responseUsage(usage: Usage | undefined): ResponseUsage | undefined {
  if (usage === undefined) return undefined;
  return {
    input_tokens: usage.prompt_tokens,
    input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 },
    output_tokens: usage.completion_tokens,
    // Thinking is counted in the output tokens; vLLM's completions usage does not tell it apart.
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: usage.total_tokens,
  };
}

const utf8 = new TextEncoder();

/** A Response is only made of answers the proxy reads, so a token's bytes are always its own (null only when sealed). */
const bytesOf = (token: string, bytes: number[] | null): number[] => bytes ?? [...utf8.encode(token)];

function responseLogprobs(content: readonly ChatTokenLogprob[]): LogProb[] {
  return content.map((entry) => ({
    token: entry.token,
    logprob: entry.logprob,
    bytes: bytesOf(entry.token, entry.bytes),
    top_logprobs: entry.top_logprobs.map((top) => ({ ...top, bytes: bytesOf(top.token, top.bytes) })),
  }));
}

/** `length` is OpenAI's `max_output_tokens`; every other finish completes the response. */
function finalStatus(finishReason: string | null): Pick<ResponseObject, 'status' | 'incomplete_details'> {
  return finishReason === 'length'
    ? { status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } }
    : { status: 'completed', incomplete_details: null };
}

function responseObject(echo: ResponseEcho, fields: Partial<ResponseObject>): ResponseObject {
  return {
    ...echo,
    object: 'response',
    status: 'in_progress',
    completed_at: null,
    error: null,
    incomplete_details: null,
    output: [],
    ...fields,
  };
}

/** A non-stream chat completion as a Response: reasoning, then the message, then the calls. */
export function chatCompletionToResponse(completion: ChatCompletion, echo: ResponseEcho): ResponseObject {
  const choice = completion.choices[0];
  const { status, incomplete_details } = finalStatus(choice?.finish_reason ?? null);
  const itemStatus: ItemStatus = status === 'incomplete' ? 'incomplete' : 'completed';
  const output: OutputItem[] = [];
  const message = choice?.message;
  if (message?.reasoning_content) {
    output.push({
      type: 'reasoning',
      id: itemId('rs'),
      status: itemStatus,
      summary: [],
      content: [{ type: 'reasoning_text', text: message.reasoning_content }],
    });
  }
  if (message?.content) {
    const logprobs = responseLogprobs(choice?.logprobs?.content ?? []);
    output.push({
      type: 'message',
      id: itemId('msg'),
      status: itemStatus,
      role: 'assistant',
      content: [{ type: 'output_text', text: message.content, annotations: [], logprobs }],
    });
  }
  for (const call of message?.tool_calls ?? []) {
    output.push({
      type: 'function_call',
      id: itemId('fc'),
      status: 'completed',
      call_id: call.id,
      name: call.function.name,
      arguments: call.function.arguments,
    });
  }
  const usage = responseUsage(completion.usage);
  return responseObject(echo, {
    status,
    incomplete_details,
    completed_at: Math.floor(Date.now() / 1000),
    output,
    ...(usage ? { usage } : {}),
  });
}

/** The item being streamed, with what its closing events repeat in full. */
interface OpenItem {
  index: number;
  item: OutputItem;
  /** message and reasoning: the text so far; function_call: the arguments so far. */
  text: string;
  logprobs: LogProb[];
}

/**
 * A streamed Response from the chat chunks of one answer, one push per upstream event. Text,
 * reasoning and each tool call become output items, opened when their first delta arrives and
 * closed (their `.done` events, in full) when another item starts or the answer ends. The end is
 * `response.completed`, or `response.incomplete` when the answer hit `max_output_tokens`; a
 * failure is one `error` event, the last.
 */
/** Structurally an SseDialect (stream/sse-relay.ts), the relay's way to frame a stream. */
export class ResponseStream {
  private sequence = 0;
  private started = false;
  private readonly items: OutputItem[] = [];
  private open: OpenItem | undefined;
  private finishReason: string | null = null;
  private usage: Usage | undefined;

  constructor(private readonly echo: ResponseEcho) {}

  /** Responses events as OpenAI writes them: an `event:` line naming the type, then the data. */
  encode(event: ResponseEvent): string {
    return `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
  }

  /** The events for one upstream event's chat chunks. */
  present(chunks: readonly ChatCompletionChunk[]): ResponseEvent[] {
    const events: ResponseEvent[] = [];
    if (!this.started) {
      this.started = true;
      const response = responseObject(this.echo, {});
      events.push(this.event('response.created', { response }), this.event('response.in_progress', { response }));
    }
    for (const chunk of chunks) {
      if (chunk.usage) this.usage = chunk.usage;
      const choice = chunk.choices[0];
      if (choice === undefined) continue;
      const { delta } = choice;
      if (delta.reasoning_content) this.addText(events, 'reasoning', delta.reasoning_content, []);
      if (delta.content) this.addText(events, 'message', delta.content, choice.logprobs?.content ?? []);
      for (const call of delta.tool_calls ?? []) {
        if (call.id !== undefined) this.openCall(events, call.id, call.function.name ?? '');
        if (call.function.arguments !== '') this.addArguments(events, call.function.arguments);
      }
      if (choice.finish_reason !== null) this.finishReason = choice.finish_reason;
    }
    return events;
  }

  /** After the upstream's `[DONE]`: the open item closed, and the final response. */
  done(): ResponseEvent[] {
    const events = this.started ? [] : this.present([]);
    const { status, incomplete_details } = finalStatus(this.finishReason);
    this.close(events, status === 'incomplete' ? 'incomplete' : 'completed');
    const usage = responseUsage(this.usage);
    const response = responseObject(this.echo, {
      status,
      incomplete_details,
      completed_at: Math.floor(Date.now() / 1000),
      output: this.items,
      ...(usage ? { usage } : {}),
    });
    events.push(this.event(status === 'incomplete' ? 'response.incomplete' : 'response.completed', { response }));
    return events;
  }

  /**
   * A failure as the last event: OpenAI's `error` event (`code`, `message`, `param`), with the
   * error envelope's `error` object too, which is what the OpenAI SDK raises and the AI SDK reads.
   */
  error(error: ApiError): ResponseEvent {
    const { error: envelope } = toErrorEnvelope(error);
    return this.event('error', {
      code: envelope.code,
      message: envelope.message,
      param: envelope.param,
      error: envelope,
    });
  }

  private event(type: string, fields: Record<string, unknown>): ResponseEvent {
    return { type, sequence_number: this.sequence++, ...fields };
  }

  private addText(
    events: ResponseEvent[],
    kind: 'message' | 'reasoning',
    text: string,
    logprobs: ChatTokenLogprob[],
  ): void {
    if (this.open?.item.type !== kind) this.openText(events, kind);
    const open = this.open!;
    open.text += text;
    const where = { item_id: open.item.id, output_index: open.index, content_index: 0 };
    if (kind === 'reasoning') {
      events.push(this.event('response.reasoning_text.delta', { ...where, delta: text }));
      return;
    }
    const mapped = responseLogprobs(logprobs);
    open.logprobs.push(...mapped);
    events.push(this.event('response.output_text.delta', { ...where, delta: text, logprobs: mapped }));
  }

  private openText(events: ResponseEvent[], kind: 'message' | 'reasoning'): void {
    this.close(events, 'completed');
    const item: OutputItem =
      kind === 'message'
        ? { type: 'message', id: itemId('msg'), status: 'in_progress', role: 'assistant', content: [] }
        : { type: 'reasoning', id: itemId('rs'), status: 'in_progress', summary: [], content: [] };
    const open = this.begin(events, item);
    const part = kind === 'message' ? textPart('', []) : { type: 'reasoning_text', text: '' };
    events.push(
      this.event('response.content_part.added', { item_id: item.id, output_index: open.index, content_index: 0, part }),
    );
  }

  private openCall(events: ResponseEvent[], callId: string, name: string): void {
    this.close(events, 'completed');
    const id = itemId('fc');
    this.begin(events, { type: 'function_call', id, status: 'in_progress', call_id: callId, name, arguments: '' });
  }

  private addArguments(events: ResponseEvent[], fragment: string): void {
    const open = this.open;
    // The chat mapper starts every call before its arguments; a fragment without one is a bug upstream of here.
    if (open?.item.type !== 'function_call') return;
    open.text += fragment;
    events.push(
      this.event('response.function_call_arguments.delta', {
        item_id: open.item.id,
        output_index: open.index,
        delta: fragment,
      }),
    );
  }

  private begin(events: ResponseEvent[], item: OutputItem): OpenItem {
    const open: OpenItem = { index: this.items.length, item, text: '', logprobs: [] };
    this.open = open;
    events.push(this.event('response.output_item.added', { output_index: open.index, item: { ...item } }));
    return open;
  }

  /** The open item's closing events, in full; it joins the response's output. */
  private close(events: ResponseEvent[], status: ItemStatus): void {
    const open = this.open;
    if (open === undefined) return;
    this.open = undefined;
    const where = { item_id: open.item.id, output_index: open.index };
    let item: OutputItem;
    switch (open.item.type) {
      case 'message': {
        const part = textPart(open.text, open.logprobs);
        events.push(
          this.event('response.output_text.done', {
            ...where,
            content_index: 0,
            text: open.text,
            logprobs: open.logprobs,
          }),
        );
        events.push(this.event('response.content_part.done', { ...where, content_index: 0, part }));
        item = { ...open.item, status, content: [part] };
        break;
      }
      case 'reasoning': {
        const part = { type: 'reasoning_text' as const, text: open.text };
        events.push(this.event('response.reasoning_text.done', { ...where, content_index: 0, text: open.text }));
        events.push(this.event('response.content_part.done', { ...where, content_index: 0, part }));
        item = { ...open.item, status, content: [part] };
        break;
      }
      case 'function_call': {
        const { name } = open.item;
        events.push(this.event('response.function_call_arguments.done', { ...where, name, arguments: open.text }));
        item = { ...open.item, status: 'completed', arguments: open.text };
        break;
      }
    }
    this.items.push(item);
    events.push(this.event('response.output_item.done', { output_index: open.index, item }));
  }
}

function textPart(text: string, logprobs: LogProb[]): OutputText {
  return { type: 'output_text', text, annotations: [], logprobs };
}
