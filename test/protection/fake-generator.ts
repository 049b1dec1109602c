/**
 * A tiny OpenAI-shaped generator behind the output protection middleware, for the middleware and
 * client tests: `/v1/completions` (vLLM's shape) and `/v1/chat/completions`, stream or not, with
 * encryption done by the handler through `getOutputProtection(c)`, as a real server would.
 */
import { Hono, type Context } from 'hono';
import { toApiError, toErrorEnvelope } from '../../src/errors/index.js';
import {
  encryptBody,
  encryptChunks,
  getOutputProtection,
  userPublicKeyMiddleware,
  type OutputProtectionEnv,
  type UserPublicKeyMiddlewareOptions,
} from '../../src/protection/index.js';
import { SSE_DONE, encodeSseData } from '../../src/stream/sse-encoder.js';
import type { ChatCompletionChunk, CompletionChunk } from '../../src/stream/index.js';

export const PIECES = ['Hé', 'llo', '', ' 👋🏽', ' 世界', '!'];

export interface GenerateRequest {
  stream?: boolean;
  n?: number;
  /** Tokens per choice; past PIECES it cycles. `Infinity`: until the client leaves. */
  max_tokens?: number;
  /** Pause between tokens (ms), so a client can leave mid-stream. */
  interval_ms?: number;
  /** Throw in the handler before answering. */
  fail?: 'handler' | 'mid-stream';
}

export interface GeneratorEvents {
  /** Called with what the handler saw, for assertions about ids and the context. */
  onRequest?: (seen: { requestIdHeader: string | undefined; protectedAs: string | undefined }) => void;
  /** Called when the client's leaving reached the generator (its token stream was cancelled). */
  onCancel?: () => void;
}

const piece = (i: number): string => PIECES[i % PIECES.length]!;

function tokenChunks(
  request: GenerateRequest,
  kind: 'completion' | 'chat',
  events: GeneratorEvents,
): ReadableStream<object> {
  const n = request.n ?? 1;
  const max = request.max_tokens ?? PIECES.length;
  let step = 0;
  let roleSent = kind === 'completion';
  return new ReadableStream<object>(
    {
      async pull(controller) {
        if (!roleSent) {
          roleSent = true;
          for (let index = 0; index < n; index++)
            controller.enqueue(chatChunk(index, { role: 'assistant', content: '' }, null));
          return;
        }
        if (request.fail === 'mid-stream' && step === 2) throw new Error('generator broke');
        if (step >= max) {
          controller.close();
          return;
        }
        if (request.interval_ms) await new Promise((resolve) => setTimeout(resolve, request.interval_ms));
        const finish = step === max - 1 ? 'stop' : null;
        for (let index = 0; index < n; index++) {
          const text = `${piece(step)}${index === 0 || piece(step) === '' ? '' : `#${index}`}`;
          controller.enqueue(
            kind === 'completion' ? completionChunk(index, text, finish) : chatChunk(index, { content: text }, finish),
          );
        }
        step++;
      },
      cancel() {
        events.onCancel?.();
      },
    },
    { highWaterMark: 0 },
  );
}

function completionChunk(index: number, text: string, finish: string | null): CompletionChunk {
  return { id: 'cmpl-test', created: 1, model: 'fake', choices: [{ index, text, finish_reason: finish }] };
}

function chatChunk(
  index: number,
  delta: ChatCompletionChunk['choices'][number]['delta'],
  finish: string | null,
): ChatCompletionChunk {
  return {
    id: 'chatcmpl-test',
    object: 'chat.completion.chunk',
    created: 1,
    model: 'fake',
    choices: [{ index, delta, logprobs: null, finish_reason: finish }],
  };
}

function wholeBody(request: GenerateRequest, kind: 'completion' | 'chat'): object {
  const n = request.n ?? 1;
  const max = request.max_tokens ?? PIECES.length;
  const text = (index: number): string =>
    Array.from({ length: max }, (_, s) => `${piece(s)}${index === 0 || piece(s) === '' ? '' : `#${index}`}`).join('');
  const choices = Array.from({ length: n }, (_, index) =>
    kind === 'completion'
      ? { index, text: text(index), finish_reason: 'stop' }
      : { index, message: { role: 'assistant', content: text(index) }, logprobs: null, finish_reason: 'stop' },
  );
  return {
    id: 'x',
    object: kind === 'completion' ? 'text_completion' : 'chat.completion',
    created: 1,
    model: 'fake',
    choices,
  };
}

export async function generate(
  c: Context,
  kind: 'completion' | 'chat',
  events: GeneratorEvents = {},
): Promise<Response> {
  const request = (await c.req.json()) as GenerateRequest;
  const protection = getOutputProtection(c);
  events.onRequest?.({ requestIdHeader: c.req.header('x-request-id'), protectedAs: protection?.requestId });
  if (request.fail === 'handler') throw new Error('handler broke');
  if (!request.stream) {
    const body = wholeBody(request, kind);
    return c.json(protection ? encryptBody(body, protection.context) : body);
  }
  let chunks = tokenChunks(request, kind, events);
  if (protection) chunks = chunks.pipeThrough(encryptChunks(protection.context));
  return new Response(sseBody(chunks), {
    headers: { 'content-type': 'text/event-stream' },
  });
}

/** The generator routes, without middleware (what `injectMiddleware` wraps). */
export function createGeneratorApp(events: GeneratorEvents = {}): Hono {
  const app = new Hono();
  app.post('/v1/completions', (c) => generate(c, 'completion', events));
  app.post('/v1/chat/completions', (c) => generate(c, 'chat', events));
  app.get('/v1/models', (c) => c.json({ object: 'list', data: [] }));
  app.onError((err, c) => c.json(toErrorEnvelope(toApiError(err)), toApiError(err).status as 500));
  return app;
}

/** The generator with the middleware in front, registered the usual way (`app.use` before routes). */
export function createProtectedGeneratorApp(
  options: UserPublicKeyMiddlewareOptions,
  events: GeneratorEvents = {},
): Hono<OutputProtectionEnv> {
  const app = new Hono<OutputProtectionEnv>();
  app.use('*', userPublicKeyMiddleware(options));
  app.post('/v1/completions', (c) => generate(c, 'completion', events));
  app.post('/v1/chat/completions', (c) => generate(c, 'chat', events));
  app.get('/v1/models', (c) => c.json({ object: 'list', data: [] }));
  app.onError((err, c) => c.json(toErrorEnvelope(toApiError(err)), toApiError(err).status as 500));
  return app;
}

/** A stream written the way vLLM writes one: each chunk an event, a failure one error event, then [DONE]. */
function sseBody(chunks: ReadableStream<object>): ReadableStream<Uint8Array> {
  const reader = chunks.getReader();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const { value, done } = await reader.read();
          if (!done) return controller.enqueue(encodeSseData(value));
          controller.enqueue(SSE_DONE);
        } catch (err) {
          controller.enqueue(encodeSseData(toErrorEnvelope(toApiError(err))));
          controller.enqueue(SSE_DONE);
        }
        controller.close();
      },
      cancel: (reason) => reader.cancel(reason),
    },
    { highWaterMark: 0 },
  );
}
