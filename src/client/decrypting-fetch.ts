/**
 * A `fetch` that makes any OpenAI-compatible SDK work in pass-through mode unchanged (the Vercel AI
 * SDK, LangChain, the openai SDK: they all take a `fetch`). It sends your key with each chat,
 * text completion or Responses request, asks for wire format v2, and hands the SDK the answer as a decrypting
 * proxy would have: plaintext chunks or bodies, tool calls parsed with the proxy's own parser,
 * logprobs opened and in OpenAI's order. A field that does not open becomes an OpenAI error (a 502
 * body, or one error event and `[DONE]` in a stream), never text.
 */
import { createParser } from 'eventsource-parser';
import { ApiError } from '../errors/index.js';
import {
  wholeChoiceOutput,
  type OutputPlan,
  type ResponseEvent,
  type ReasoningParserName,
  type ToolOutput,
  type ToolParserName,
} from '../chat-output/index.js';
import { isObject } from '../internal/is-object.js';
import { readAtMost } from '../internal/read-at-most.js';
import type { HpkeBackend } from '../protection/hpke/backend.js';
import type { KeyPair } from '../protection/hpke/kem.js';
import { generateKeyPair as hpkeGenerateKeyPair } from '../protection/hpke/setup.js';
import {
  DEFAULT_CLIENT_PUBLIC_KEY_HEADER,
  DEFAULT_SERVER_PUBLIC_KEY_HEADER,
  OUTPUT_PROTECTION_VERSION_HEADER,
  encodeBase64,
} from '../protection/wire.js';
import { chatChunkShaper, parsePlan, type ChunkLike } from './tool-calls.js';
import { createResponseDecryptor, type ResponseDecryptor } from './decryptor.js';
import { rebuildResponse, responseEventRebuilder, responsesToolOutput } from './responses.js';

export interface DecryptingFetchOptions {
  /** Your key pair. Absent: a fresh one for every request (docs/output-protection.md §7). */
  keyPair?: KeyPair;
  /** The model's tool-call format, as the proxy's SGP_TOOL_PARSER (default `hermes`). */
  toolParser?: ToolParserName;
  /** As the proxy's SGP_REASONING_PARSER: a reasoning block goes to `reasoning_content` (off when absent). */
  reasoningParser?: ReasoningParserName;
  /** The fetch that does the work (default the global one). */
  fetch?: typeof globalThis.fetch;
  /** Header names, when the deployment renamed them. */
  clientKeyHeader?: string;
  serverKeyHeader?: string;
  /** Bound on one SSE event and on a whole JSON body, in characters / bytes (default 16 MiB). */
  maxEventBytes?: number;
  /** Pass an answer without the server key header through as plaintext (default false: a 502 error). */
  allowPlaintext?: boolean;
  backend?: HpkeBackend;
  newToolCallId?: () => string;
}

type Route = 'chat' | 'completion' | 'responses';

/** What the request asked for that shapes the answer. */
interface Asked {
  route: Route;
  plan: OutputPlan;
  /** `top_logprobs` when `logprobs` was asked for (chat). */
  topLogprobs?: number;
}

const DEFAULT_MAX_EVENT_BYTES = 16 * 1024 * 1024;
const encoder = new TextEncoder();

/** `fetch` for an OpenAI-compatible SDK's options (`fetch`, `configuration.fetch`). */
export function createDecryptingFetch(options: DecryptingFetchOptions = {}): typeof globalThis.fetch {
  const inner = options.fetch ?? globalThis.fetch;
  const clientKeyHeader = options.clientKeyHeader ?? DEFAULT_CLIENT_PUBLIC_KEY_HEADER;
  const serverKeyHeader = options.serverKeyHeader ?? DEFAULT_SERVER_PUBLIC_KEY_HEADER;
  const maxBytes = options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES;

  return async (input, init) => {
    const request = input instanceof Request ? input : undefined;
    const method = (init?.method ?? request?.method ?? 'GET').toUpperCase();
    const route = method === 'POST' ? routeOf(request ? request.url : String(input)) : undefined;
    if (!route) return inner(input, init);
    const asked = askedOf(route, await requestJson(init?.body, request), options);
    const keys = options.keyPair ?? hpkeGenerateKeyPair();
    const headers = new Headers(init?.headers ?? request?.headers);
    headers.set(clientKeyHeader, encodeBase64(keys.publicKey));
    headers.set(OUTPUT_PROTECTION_VERSION_HEADER, '2');
    const response = request
      ? await inner(new Request(request, { ...init, headers }))
      : await inner(input, { ...init, headers });
    // An error body carries no ciphertext (§2): the SDK reads it as it is.
    if (!response.ok || response.body === null) return response;
    if (response.headers.get(serverKeyHeader) === null && options.allowPlaintext === true) return response;
    let decryptor: ResponseDecryptor;
    try {
      decryptor = createResponseDecryptor(response.headers, keys.privateKey, {
        serverKeyHeader,
        ...(options.backend ? { backend: options.backend } : {}),
      });
    } catch (err) {
      void response.body.cancel().catch(() => undefined);
      return errorResponse(err, response.headers);
    }
    const streamed = (response.headers.get('content-type') ?? '').includes('text/event-stream');
    if (asked.route === 'responses') {
      if (streamed)
        return new Response(sseBody(response.body, responsesRewrite(asked, decryptor), maxBytes), plainInit(response));
      return wholeBody(response, (value) => rebuildResponse(value, asked.plan, decryptor), maxBytes);
    }
    const transform = answerTransform(asked, decryptor);
    if (streamed) return new Response(sseBody(response.body, chatRewrite(transform), maxBytes), plainInit(response));
    return wholeBody(response, transform, maxBytes);
  };
}

/** The protected routes: chat and text completions, responses (any base URL, any version prefix). */
function routeOf(url: string): Route | undefined {
  let path: string;
  try {
    path = new URL(url, 'http://relative.invalid').pathname.replace(/\/+$/, '');
  } catch {
    return undefined;
  }
  if (path.endsWith('/chat/completions')) return 'chat';
  if (path.endsWith('/completions')) return 'completion';
  if (path.endsWith('/responses')) return 'responses';
  return undefined;
}

/** The request's JSON body (SDKs send a string), or {} when it is something else. */
async function requestJson(body: unknown, request: Request | undefined): Promise<Record<string, unknown>> {
  let text: string | undefined;
  if (typeof body === 'string') text = body;
  else if (body instanceof Uint8Array || body instanceof ArrayBuffer) text = new TextDecoder().decode(body);
  else if (body == null && request) text = await request.clone().text();
  if (text === undefined) return {};
  try {
    const value: unknown = JSON.parse(text);
    return isObject(value) ? value : {};
  } catch {
    return {};
  }
}

/** The tool output the proxy would have planned for this request (proxy/chat-options.ts, `toolOutputOf`). */
function toolOutputOf(body: Record<string, unknown>, parser: ToolParserName): ToolOutput | undefined {
  const tools = Array.isArray(body.tools) ? body.tools : [];
  const choice = body.tool_choice ?? 'auto';
  if (tools.length === 0 || choice === 'none') return undefined;
  if (choice === 'required') return { kind: 'required' };
  if (isObject(choice) && isObject(choice.function) && typeof choice.function.name === 'string')
    return { kind: 'named', name: choice.function.name };
  return { kind: 'parse', parser };
}

function askedOf(route: Route, body: Record<string, unknown>, options: DecryptingFetchOptions): Asked {
  const parser = options.toolParser ?? 'hermes';
  const tools = route === 'responses' ? responsesToolOutput(body, parser) : toolOutputOf(body, parser);
  const plan = parsePlan(options, tools, body.parallel_tool_calls !== false);
  if (route !== 'chat' || body.logprobs !== true) return { route, plan };
  const top = typeof body.top_logprobs === 'number' ? body.top_logprobs : 0;
  return { route, plan, topLogprobs: top };
}

/** One decrypted chunk or body → what the SDK gets. Throws DecryptionError on a field that does not open. */
function answerTransform(asked: Asked, decryptor: ResponseDecryptor): (value: unknown, whole: boolean) => unknown {
  const shapeChunk = chatChunkShaper(asked.plan);
  return (value, whole) => {
    if (!isObject(value) || !Array.isArray(value.choices)) return value;
    if (asked.route === 'completion') return decryptor.decryptCompletion(value as CompletionValue);
    if (whole) {
      decryptor.decryptChatCompletion(value as ChatValue);
      for (const choice of value.choices as unknown[]) if (isObject(choice)) shapeWholeChoice(choice, asked.plan);
    } else {
      decryptor.decryptChatChunk(value as ChatValue);
      shapeChunk(value as unknown as ChunkLike);
    }
    if (asked.topLogprobs !== undefined)
      for (const choice of value.choices as unknown[])
        if (isObject(choice)) topLogprobsInOrder(choice, asked.topLogprobs);
    return value;
  };
}

// The decryptor reads `choices[].index` and the protected fields itself and checks every one of
// them; these are only the shapes its signatures name.
type ChatValue = { choices: { index: number }[] };
type CompletionValue = { choices: { index: number }[] };

/** A whole answer's message, parsed as the proxy parses it (`wholeChoiceOutput`). */
function shapeWholeChoice(choice: Record<string, unknown>, plan: OutputPlan): void {
  const message = choice.message;
  if (!isObject(message)) return;
  const text = typeof message.content === 'string' ? message.content : '';
  const finish = typeof choice.finish_reason === 'string' ? choice.finish_reason : null;
  const whole = wholeChoiceOutput(plan, text, finish);
  message.content = whole.content;
  if (whole.reasoning !== undefined) message.reasoning_content = whole.reasoning;
  if (whole.toolCalls) message.tool_calls = whole.toolCalls;
  choice.finish_reason = whole.finish;
}

/**
 * Pass-through relays every candidate in the order it was sealed (docs/output-protection.md §4b);
 * once opened, they are put in OpenAI's order (most likely first) and cut to `top_logprobs`, as the
 * decrypting proxy gives them.
 */
function topLogprobsInOrder(choice: Record<string, unknown>, top: number): void {
  const logprobs = choice.logprobs;
  if (!isObject(logprobs) || !Array.isArray(logprobs.content)) return;
  for (const entry of logprobs.content as unknown[]) {
    if (!isObject(entry) || !Array.isArray(entry.top_logprobs)) continue;
    entry.top_logprobs = (entry.top_logprobs as unknown[])
      .filter(isObject)
      .sort((a, b) => logprobOf(b) - logprobOf(a))
      .slice(0, top);
  }
}

function logprobOf(entry: Record<string, unknown>): number {
  return typeof entry.logprob === 'number' ? entry.logprob : -Infinity;
}

/** The response's status and headers for a body that is now plaintext of another length. */
function plainInit(response: Response): ResponseInit {
  const headers = new Headers(response.headers);
  headers.delete('content-length');
  headers.delete('content-encoding'); // fetch has already decoded it
  return { status: response.status, statusText: response.statusText, headers };
}

/** A failure here as the OpenAI error it is reported as: a 502 unless it already is an ApiError. */
function apiErrorOf(err: unknown): ApiError {
  return err instanceof ApiError
    ? err
    : new ApiError(502, 'upstream_error', `The protected answer could not be read: ${String(err)}`, {
        code: 'output_decryption_failed',
      });
}

function envelope(err: unknown): { status: number; body: unknown } {
  const api = apiErrorOf(err);
  return {
    status: api.status,
    body: { error: { message: api.message, type: api.type, param: api.param, code: api.code } },
  };
}

/** An OpenAI error body, which every SDK raises as its own API error. */
function errorResponse(err: unknown, headers: Headers): Response {
  const { status, body } = envelope(err);
  const out = new Headers(headers);
  out.delete('content-length');
  out.delete('content-encoding');
  out.set('content-type', 'application/json');
  return new Response(JSON.stringify(body), { status, headers: out });
}

async function wholeBody(
  response: Response,
  transform: (value: unknown, whole: boolean) => unknown,
  maxBytes: number,
): Promise<Response> {
  try {
    const { bytes, complete } = await readAtMost(response.body, maxBytes);
    if (!complete) throw new ApiError(502, 'upstream_error', `The answer is larger than ${maxBytes} bytes.`);
    const value: unknown = JSON.parse(new TextDecoder().decode(bytes));
    const init = plainInit(response);
    return new Response(JSON.stringify(transform(value, true)), init);
  } catch (err) {
    return errorResponse(err, response.headers);
  }
}

/** The end of the last event in `text` (after its blank line), or -1. */
function lastEventEnd(text: string): number {
  let end = -1;
  for (const blank of ['\n\n', '\r\r', '\r\n\r\n']) {
    const at = text.lastIndexOf(blank);
    if (at !== -1) end = Math.max(end, at + blank.length);
  }
  return end;
}

/** How one SSE answer is rewritten, event by event (chat and completions, or the Responses API). */
interface SseRewrite {
  /** One event's data → the SSE text the SDK gets for it. */
  event(data: string): string;
  /** Whether the answer's last event has been seen (after it, nothing more is read). */
  ended(): boolean;
  /** The SSE text a failure ends the answer with. */
  failure(err: unknown): string;
}

/** Chat and text completions: each data event opened and shaped; `[DONE]` ends it; a failure is one error event and `[DONE]`. */
function chatRewrite(transform: (value: unknown, whole: boolean) => unknown): SseRewrite {
  let done = false;
  return {
    event(data) {
      if (data === '[DONE]') {
        done = true;
        return 'data: [DONE]\n\n';
      }
      return `data: ${JSON.stringify(transform(JSON.parse(data), false))}\n\n`;
    },
    ended: () => done,
    failure: (err) => `data: ${JSON.stringify(envelope(err).body)}\n\ndata: [DONE]\n\n`,
  };
}

/** The Responses API: the proxy's events rebuilt from the opened text; its final or error event ends it. */
function responsesRewrite(asked: Asked, decryptor: ResponseDecryptor): SseRewrite {
  const rebuild = responseEventRebuilder(asked.plan, decryptor);
  let done = false;
  const text = (events: readonly ResponseEvent[]): string =>
    events.map((event) => `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`).join('');
  return {
    event(data) {
      const value: unknown = JSON.parse(data);
      const events = isObject(value) ? rebuild.event(value) : [];
      done ||= events.some((event) => FINAL_EVENTS.has(event.type));
      return text(events);
    },
    ended: () => done,
    failure(err) {
      done = true;
      return text([rebuild.fail(apiErrorOf(err))]);
    },
  };
}

const FINAL_EVENTS = new Set(['response.completed', 'response.incomplete', 'error']);

/**
 * The SSE answer, event by event, rewritten (`SseRewrite`). A failure ends it with the rewrite's
 * failure text (what the proxy sends; SDKs raise it), and the rest of the answer is not read.
 * Cancelling (the SDK's abort) cancels the answer's body.
 */
function sseBody(
  upstream: ReadableStream<Uint8Array>,
  rewrite: SseRewrite,
  maxBytes: number,
): ReadableStream<Uint8Array> {
  const reader = upstream.getReader();
  const decoder = new TextDecoder();
  let out = '';
  let failed = false;
  const done = (): boolean => failed || rewrite.ended();
  // Characters after the last complete event: what the parser may be holding (the bound's measure).
  let pending = 0;
  const parser = createParser({
    onEvent(event) {
      if (!done()) out += rewrite.event(event.data);
    },
  });
  const fail = (err: unknown): void => {
    out += rewrite.failure(err);
    failed = true;
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      while (out === '' && !done()) {
        const { value, done: ended } = await reader.read();
        if (ended) {
          // The proxy always ends with its last event: an answer cut short must not look finished.
          fail(
            new ApiError(502, 'upstream_error', 'The answer ended before its last event.', {
              code: 'upstream_truncated',
            }),
          );
          break;
        }
        const text = decoder.decode(value, { stream: true });
        const end = lastEventEnd(text);
        pending = end === -1 ? pending + text.length : text.length - end;
        try {
          if (pending > maxBytes)
            throw new ApiError(502, 'upstream_error', `The answer has an event larger than ${maxBytes} characters.`, {
              code: 'upstream_event_too_large',
            });
          parser.feed(text);
        } catch (err) {
          fail(err);
        }
      }
      if (out !== '') controller.enqueue(encoder.encode(out));
      out = '';
      if (done()) {
        controller.close();
        void reader.cancel().catch(() => undefined);
      }
    },
    cancel: (reason) => reader.cancel(reason),
  });
}
