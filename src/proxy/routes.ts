import { createRoute, z } from '@hono/zod-openapi';
import {
  ApiError,
  AuthenticationError,
  ClientClosedError,
  InternalError,
  InvalidRequestError,
  OverloadedError,
  PayloadTooLargeError,
  UnsupportedMediaTypeError,
  UpstreamHttpError,
  UpstreamTimeoutError,
  UpstreamUnavailableError,
  toErrorEnvelope,
} from '../errors/index.js';
import { readinessSchema } from './readiness.js';
import {
  CHAT_REQUEST_EXAMPLE,
  CHAT_STREAM_REQUEST_EXAMPLE,
  COMPLETION_REQUEST_EXAMPLE,
  COMPLETION_STREAM_REQUEST_EXAMPLE,
  RESPONSES_REQUEST_EXAMPLE,
  RESPONSES_STREAM_REQUEST_EXAMPLE,
  STAINED_GLASS_REQUEST_EXAMPLE,
} from './examples.js';
import { responseSchema, responseStreamEventSchema, responsesRequestSchema } from './responses-schemas.js';
import {
  chatCompletionChunkSchema,
  chatCompletionRequestSchema,
  chatCompletionSchema,
  completionRequestSchema,
  completionSchema,
  errorEnvelopeSchema,
  livenessSchema,
  modelListSchema,
  stainedGlassRequestSchema,
  stainedGlassResponseSchema,
} from './schemas.js';

/**
 * The proxy's routes, each with every status it can answer: `app.openapi` registers the handler,
 * its validation and its /openapi.json entry from one definition, so the docs cannot drift from it.
 */

function errorResponse(description: string, example: ApiError) {
  return {
    description,
    content: { 'application/json': { schema: errorEnvelopeSchema, example: toErrorEnvelope(example) } },
  };
}

const MALFORMED_HTTP = new InvalidRequestError('The request is not valid HTTP/1.1.', {
  code: 'malformed_http_request',
});

/** What the HTTP server itself answers, before any route sees the request (src/http/server.ts). */
const serverResponses = (badRequest: string) => ({
  400: errorResponse(
    `${badRequest}A request Node's HTTP parser rejects (duplicate Content-Length, bad chunk size…) is a 400 \`malformed_http_request\`, and the connection is closed.`,
    MALFORMED_HTTP,
  ),
  408: errorResponse(
    'The request did not arrive within SGP_REQUEST_BODY_TIMEOUT_SECONDS (`request_timeout`).',
    new ApiError(408, 'invalid_request_error', 'The request was not received in time.', { code: 'request_timeout' }),
  ),
  431: errorResponse(
    'Request headers over 16 KiB (`request_header_fields_too_large`).',
    new ApiError(431, 'invalid_request_error', 'The request headers are too large.', {
      code: 'request_header_fields_too_large',
    }),
  ),
  503: errorResponse(
    'Over SGP_MAX_CONNECTIONS open connections (`overloaded_error`, with Retry-After).',
    new OverloadedError('The server has its maximum of 256 open connections; try again shortly.', 1),
  ),
});

const unauthorized = (otherwise = '') =>
  errorResponse(
    `With SGP_API_KEY set: a missing or wrong \`Authorization: Bearer\` key (\`invalid_api_key\`)${otherwise}.`,
    new AuthenticationError(),
  );

const UPSTREAM_401 = "; or the upstream's 401, relayed";

const tooLarge = errorResponse(
  'A body over SGP_MAX_REQUEST_BYTES (`request_too_large`); sent with `Connection: close`.',
  new PayloadTooLargeError(1048576),
);

const wrongMediaType = errorResponse(
  'A body sent with another Content-Type than application/json, or with none (`unsupported_media_type`), refused before it is read; sent with `Connection: close`.',
  new UnsupportedMediaTypeError(
    'This endpoint takes a JSON body sent with "Content-Type: application/json"; the request has Content-Type text/plain.',
  ),
);

const clientClosed = errorResponse(
  'The client closed the connection first: logged as such, never read by anyone.',
  new ClientClosedError(),
);

const internal = errorResponse(
  'A fault of the proxy (the body reveals nothing of it), or an upstream that is not output-protected while SGP_OUTPUT_DECRYPTION=true (`upstream_not_output_protected`).',
  new InternalError(),
);

const transformOverloaded = (otherwise: string) =>
  errorResponse(
    `The transform queue is full (\`overloaded_error\`, Retry-After: its estimate of the backlog)${otherwise}.`,
    new OverloadedError('the transform is overloaded: 256 requests are already waiting (limit 256); retry in 2 s.', 2),
  );

const upstreamResponses = {
  '4XX': errorResponse(
    'Any other client error the upstream answered (429 with its Retry-After), relayed with its status and message (`upstream_error`).',
    new UpstreamHttpError(429, 'Too many requests.', { code: 'upstream_error', retryAfter: '7' }),
  ),
  502: errorResponse(
    'The upstream could not be reached (`upstream_unavailable`), answered 5xx (`upstream_error`), or sent something unusable (`upstream_protocol_error`, `output_decryption_failed`).',
    new UpstreamUnavailableError(
      'The upstream at http://vllm:8000 could not be reached or broke the connection (ECONNREFUSED).',
    ),
  ),
  504: errorResponse(
    'The upstream did not answer within SGP_UPSTREAM_TIMEOUT_SECONDS (`upstream_timeout`).',
    new UpstreamTimeoutError('The upstream did not send its answer within 60 s.'),
  ),
};

/** With SGP_API_KEY set, `/v1/*` needs the key; without, nothing (the empty requirement). */
const bearer: Record<string, string[]>[] = [{ bearerAuth: [] }, {}];

/** What a route that sends a prompt upstream answers besides its 200 (chat, completions). */
const promptRouteErrors = (badRequest: string) => ({
  ...serverResponses(
    `${badRequest}, a body that is not JSON (\`invalid_json\`) or not an object, a prompt over the artifact's max_sequence_length (\`context_length_exceeded\`), a bad client public key header; or the upstream's 400, relayed. `,
  ),
  401: unauthorized(UPSTREAM_401),
  404: errorResponse(
    'The upstream does not serve `model` (`model_not_found`, its message relayed).',
    new UpstreamHttpError(404, 'The model `gpt-4o` does not exist.', { param: 'model', code: 'model_not_found' }),
  ),
  413: tooLarge,
  415: wrongMediaType,
  ...upstreamResponses,
  499: clientClosed,
  500: internal,
  503: transformOverloaded(
    ', the upstream answered 503 (relayed with its Retry-After), or over SGP_MAX_CONNECTIONS open connections',
  ),
});

/** A prompt route's JSON body, with the two examples Swagger UI's "Try it out" sends: one answer, one stream. */
function promptRequest<Schema extends z.ZodType>(schema: Schema, answer: object, stream: object) {
  return {
    body: {
      required: true,
      content: {
        'application/json': {
          schema,
          examples: {
            answer: { summary: 'One answer (JSON)', value: answer },
            stream: { summary: 'Streamed (server-sent events), with usage', value: stream },
          },
        },
      },
    },
  };
}

export const chatCompletionsRoute = createRoute({
  method: 'post',
  path: '/v1/chat/completions',
  summary: 'Chat completion through the Stained Glass Transform',
  description:
    'The prompt is transformed into obfuscated embeddings; only those reach the inference server. With `stream: true` the answer is server-sent events of ChatCompletionChunk, ending with `data: [DONE]`; a failure once the stream has started is one `data: {"error": …}` event (the ErrorEnvelope) before `[DONE]`.',
  security: bearer,
  request: promptRequest(chatCompletionRequestSchema, CHAT_REQUEST_EXAMPLE, CHAT_STREAM_REQUEST_EXAMPLE),
  responses: {
    200: {
      description: 'The completion (JSON), or its chunks (text/event-stream)',
      content: {
        'application/json': { schema: chatCompletionSchema },
        'text/event-stream': { schema: chatCompletionChunkSchema },
      },
    },
    ...promptRouteErrors(
      'A field with a bad value (named in `param`, `invalid_value`), a refused parameter (`unsupported_parameter`)',
    ),
  },
});

export const completionsRoute = createRoute({
  method: 'post',
  path: '/v1/completions',
  summary: 'Text completion (legacy API) through the Stained Glass Transform',
  description:
    'The prompt is tokenized as it is (no chat template, as vLLM\'s `/v1/completions` reads it) and transformed into obfuscated embeddings; only those reach the inference server. With `stream: true` the answer is server-sent events of Completion chunks, ending with `data: [DONE]`; a failure once the stream has started is one `data: {"error": …}` event (the ErrorEnvelope) before `[DONE]`.',
  security: bearer,
  request: promptRequest(completionRequestSchema, COMPLETION_REQUEST_EXAMPLE, COMPLETION_STREAM_REQUEST_EXAMPLE),
  responses: {
    200: {
      description: 'The completion (JSON), or its chunks (text/event-stream), of the one shape',
      content: {
        'application/json': { schema: completionSchema },
        'text/event-stream': { schema: completionSchema },
      },
    },
    ...promptRouteErrors(
      "A field with a bad value (named in `param`, `invalid_value`), several prompts, a refused parameter (`unsupported_parameter`: token-id prompts, `echo`, `suffix`, `best_of`, `logprobs` with the client's own key)",
    ),
  },
});

export const responsesRoute = createRoute({
  method: 'post',
  path: '/v1/responses',
  summary: "OpenAI's Responses API through the Stained Glass Transform",
  description:
    'The same private path as chat completions (the transform, output protection, tool and reasoning parsing), answered as a Response. Stateless: nothing is stored (`store` is false), so `previous_response_id` and item references are refused; send earlier turns as input items. With `stream: true` the answer is named server-sent events (`event: response.created` …), ending with `response.completed` or `response.incomplete`; a failure once the stream has started is one `error` event, the last. With a client-held output-protection key the proxy cannot read the answer: it relays the sealed text in one message item (docs/output-protection.md §4c) for the client library to open and rebuild.',
  security: bearer,
  request: promptRequest(responsesRequestSchema, RESPONSES_REQUEST_EXAMPLE, RESPONSES_STREAM_REQUEST_EXAMPLE),
  responses: {
    200: {
      description: 'The Response (JSON), or its events (text/event-stream)',
      content: {
        'application/json': { schema: responseSchema },
        'text/event-stream': { schema: responseStreamEventSchema },
      },
    },
    ...promptRouteErrors(
      'A field with a bad value (named in `param`, `invalid_value`), a refused parameter or input item (`unsupported_parameter`: `previous_response_id`, `store: true`, item references, non-function tools, non-text input…, logprobs with a client-held output-protection key)',
    ),
  },
});

export const stainedGlassRoute = createRoute({
  method: 'post',
  path: '/v1/stainedglass',
  summary: 'The transform alone, for inspection',
  description:
    'Tokenizes the templated prompt and runs the SGT; optionally returns the plain and transformed embeddings, the prompt a server could reconstruct by nearest-neighbour search, and the obfuscation score (fraction of tokens not recovered). Nothing goes upstream.',
  security: bearer,
  request: {
    body: {
      required: true,
      content: {
        'application/json': {
          schema: stainedGlassRequestSchema,
          examples: { inspect: { summary: 'Reconstruction and score', value: STAINED_GLASS_REQUEST_EXAMPLE } },
        },
      },
    },
  },
  responses: {
    200: { description: 'Inspection result', content: { 'application/json': { schema: stainedGlassResponseSchema } } },
    ...serverResponses(
      'A field with a bad value (`invalid_value`), a body that is not JSON (`invalid_json`) or not an object, a prompt over max_sequence_length (`context_length_exceeded`), embeddings asked of a prompt too large to return (`response_too_large`). ',
    ),
    401: unauthorized(),
    413: tooLarge,
    415: wrongMediaType,
    499: clientClosed,
    500: internal,
    503: transformOverloaded(', or over SGP_MAX_CONNECTIONS open connections'),
  },
});

export const modelsRoute = createRoute({
  method: 'get',
  path: '/v1/models',
  summary: "The upstream's models",
  description: "The upstream's `/v1/models`, checked (a list of models with string ids) and relayed.",
  security: bearer,
  responses: {
    200: { description: 'Model list', content: { 'application/json': { schema: modelListSchema } } },
    ...serverResponses("The upstream's 400, relayed. "),
    401: unauthorized(UPSTREAM_401),
    ...upstreamResponses,
    499: clientClosed,
    500: internal,
    503: errorResponse(
      'The upstream answered 503 (relayed with its Retry-After), or over SGP_MAX_CONNECTIONS open connections.',
      new UpstreamHttpError(503, 'busy', { code: 'upstream_error', retryAfter: '5' }),
    ),
  },
});

export const livezRoute = createRoute({
  method: 'get',
  path: '/livez',
  summary: 'Liveness: the process answers',
  responses: {
    200: { description: 'Alive', content: { 'application/json': { schema: livenessSchema } } },
    ...serverResponses(''),
  },
});

export const readyzRoute = createRoute({
  method: 'get',
  path: '/readyz',
  summary: 'Readiness: the SGT is loaded and the upstream answers /health',
  responses: {
    200: { description: 'Ready', content: { 'application/json': { schema: readinessSchema } } },
    ...serverResponses(''),
    503: {
      description:
        'Not ready: the upstream does not answer `/health` within 2 s (a Readiness body); or over SGP_MAX_CONNECTIONS open connections (an ErrorEnvelope).',
      content: {
        'application/json': {
          schema: z.union([readinessSchema, errorEnvelopeSchema]),
          example: {
            status: 'not ready',
            sgt: 'loaded',
            upstream: 'unreachable',
            upstreams: [{ url: 'http://127.0.0.1:8000', state: 'out', in_flight: 0 }],
          },
        },
      },
    },
  },
});
