import { z } from '@hono/zod-openapi';
import type { ChatMessage } from '../sgt/index.js';
import {
  CHAT_COMPLETION_CHUNK_EXAMPLE,
  CHAT_COMPLETION_EXAMPLE,
  CHAT_REQUEST_EXAMPLE,
  COMPLETION_EXAMPLE,
  COMPLETION_REQUEST_EXAMPLE,
  ERROR_EXAMPLE,
  MODEL_LIST_EXAMPLE,
  STAINED_GLASS_REQUEST_EXAMPLE,
  STAINED_GLASS_RESPONSE_EXAMPLE,
} from './examples.js';
import { refused } from './request-validation.js';
import {
  checkToolChoice,
  checkToolNames,
  responseFormatSchema,
  templateArguments,
  toolCallSchema,
  toolChoiceSchema,
  toolSchema,
} from './tool-schemas.js';

/** Request and response schemas of the proxy: the routes validate with them and /openapi.json is made of them. */

const textPart = z.object({ type: z.literal('text'), text: z.string() });

export const chatMessageSchema = z
  .object({
    role: z.enum(['system', 'developer', 'user', 'assistant', 'tool']),
    content: z.union([z.string(), z.array(textPart)]).nullish(),
    name: z.string().optional(),
    tool_calls: z.array(toolCallSchema).nullish().openapi({ description: "An assistant turn's calls." }),
    tool_call_id: z.string().nullish().openapi({ description: 'A `tool` turn: the id of the call it answers.' }),
  })
  .superRefine((message, ctx) => {
    if (message.role === 'tool' && !message.tool_call_id) {
      ctx.addIssue({ code: 'custom', path: ['tool_call_id'], message: "a 'tool' message needs 'tool_call_id'" });
    }
    if (message.tool_calls?.length && message.role !== 'assistant') {
      ctx.addIssue({ code: 'custom', path: ['tool_calls'], message: "only an 'assistant' message has 'tool_calls'" });
    }
  })
  .openapi('ChatMessage', { example: { role: 'user', content: 'Hello!' } });

const nullableNumber = (schema: z.ZodNumber) => schema.nullish();

/**
 * OpenAI parameters this proxy cannot honour. Accepting them silently would give a wrong answer
 * (the deprecated `functions` that never get called, logprobs that aren't), so they are refused by
 * name (400 `unsupported_parameter`, the issue's own code: see request-validation.ts), the first of
 * them being the error reported whatever else is wrong.
 */
const refusedParameters = Object.fromEntries(
  ['functions', 'function_call', 'logit_bias', 'audio', 'modalities', 'prediction'].map((name) => [
    name,
    refused(name),
  ]),
);

export const chatTemplateKwargsSchema = z
  .record(z.string(), z.unknown())
  .nullish()
  .openapi({ description: 'vLLM\'s extension: extra chat-template variables, e.g. `{"enable_thinking": false}`.' });

export const chatCompletionRequestSchema = z
  .object({
    model: z.string().min(1).optional().openapi({ description: "Defaults to the SGT's base model." }),
    messages: z.array(chatMessageSchema).min(1),
    stream: z.boolean().nullish(),
    stream_options: z.object({ include_usage: z.boolean().nullish() }).nullish(),
    max_tokens: nullableNumber(z.number().int().positive()),
    max_completion_tokens: nullableNumber(z.number().int().positive()),
    temperature: nullableNumber(z.number().min(0).max(2)),
    top_p: nullableNumber(z.number().gt(0).max(1)),
    seed: nullableNumber(z.number().int().min(Number.MIN_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER)),
    stop: z.union([z.string(), z.array(z.string()).max(4)]).nullish(),
    n: nullableNumber(z.number().int().min(1).max(16)),
    presence_penalty: nullableNumber(z.number().min(-2).max(2)),
    frequency_penalty: nullableNumber(z.number().min(-2).max(2)),
    user: z.string().nullish(),
    tools: z.array(toolSchema).max(128).nullish(),
    tool_choice: toolChoiceSchema.nullish(),
    parallel_tool_calls: z.boolean().nullish().openapi({ description: '`false`: only the first call is returned.' }),
    response_format: responseFormatSchema.nullish(),
    logprobs: z.boolean().nullish().openapi({
      description: 'Refused (400) when the answer is protected (output protection on): the tokens would be plaintext.',
    }),
    top_logprobs: nullableNumber(z.number().int().min(0).max(20)),
    chat_template_kwargs: chatTemplateKwargsSchema,
    ...refusedParameters,
  })
  .superRefine((request, ctx) => {
    checkToolNames(request.tools, ctx);
    checkToolChoice(request, ctx);
    if (request.top_logprobs != null && request.logprobs !== true) {
      ctx.addIssue({ code: 'custom', path: ['top_logprobs'], message: "needs 'logprobs': true" });
    }
  })
  .openapi('ChatCompletionRequest', { example: CHAT_REQUEST_EXAMPLE });

export type ChatCompletionRequest = z.infer<typeof chatCompletionRequestSchema>;

/** The request's messages as the chat template takes them: text parts joined. */
export function toChatMessages(messages: ChatCompletionRequest['messages']): ChatMessage[] {
  return messages.map((message) => {
    const out: ChatMessage = {
      role: message.role,
      content:
        typeof message.content === 'string'
          ? message.content
          : (message.content ?? []).map((part) => part.text).join(''),
    };
    if (message.name) out.name = message.name;
    if (message.tool_call_id) out.tool_call_id = message.tool_call_id;
    if (message.tool_calls?.length) {
      out.tool_calls = message.tool_calls.map((call) => ({
        id: call.id,
        type: 'function',
        function: { name: call.function.name, arguments: templateArguments(call.function.arguments) },
      }));
    }
    return out;
  });
}

const chatShape = chatCompletionRequestSchema.shape;

/**
 * The legacy completions request (OpenAI's `CreateCompletionRequest`, vLLM's `/v1/completions`):
 * one text prompt, tokenized as it is, without the chat template.
 */
export const completionRequestSchema = z
  .object({
    model: chatShape.model,
    prompt: z.union([z.string(), z.array(z.string()), z.array(z.int()), z.array(z.array(z.int()))]).openapi({
      description:
        'The text, or an array of one text. Several texts are refused (one prompt per request), and token ids (400 `unsupported_parameter`): they would reach the upstream as plaintext.',
    }),
    stream: chatShape.stream,
    stream_options: chatShape.stream_options,
    max_tokens: chatShape.max_tokens.openapi({ description: 'Default: SGP_MAX_NEW_TOKENS.' }),
    temperature: chatShape.temperature,
    top_p: chatShape.top_p,
    seed: chatShape.seed,
    stop: chatShape.stop,
    n: chatShape.n,
    presence_penalty: chatShape.presence_penalty,
    frequency_penalty: chatShape.frequency_penalty,
    user: chatShape.user,
    logprobs: nullableNumber(z.number().int().min(0).max(20)).openapi({
      description:
        "The log probabilities of this many most likely tokens, as vLLM's. Refused (400) while the proxy relays the client's own output-protection key.",
    }),
    echo: refused('echo', { description: 'Refused unless false: the answer would carry the prompt in plaintext.' }),
    suffix: refused('suffix', { harmless: (value) => value === '', description: 'Refused unless empty or null.' }),
    best_of: refused('best_of', { harmless: (value) => value === 1, description: 'Refused unless 1 or null.' }),
    logit_bias: refused('logit_bias'),
  })
  .superRefine((request, ctx) => {
    const { prompt } = request;
    if (!Array.isArray(prompt)) return;
    if (prompt.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['prompt'], message: 'needs a text' });
    } else if (typeof prompt[0] !== 'string') {
      ctx.addIssue({
        code: 'custom',
        path: ['prompt'],
        message: "'prompt' as token ids is not supported by sgt-proxy: it tokenizes the text itself.",
        params: { code: 'unsupported_parameter' },
      });
    } else if (prompt.length > 1) {
      ctx.addIssue({ code: 'custom', path: ['prompt'], message: 'sgt-proxy takes one prompt per request' });
    }
  })
  .openapi('CompletionRequest', { example: COMPLETION_REQUEST_EXAMPLE });

export type CompletionRequest = z.infer<typeof completionRequestSchema>;

/** The prompt's one text (the schema has refused every other form). */
export function promptText(prompt: CompletionRequest['prompt']): string {
  if (typeof prompt === 'string') return prompt;
  const [text] = prompt;
  if (typeof text !== 'string') throw new TypeError('the request schema admits one text prompt only');
  return text;
}

export const errorEnvelopeSchema = z
  .object({
    error: z.object({
      message: z.string(),
      type: z.string(),
      param: z.string().nullable(),
      code: z.string().nullable(),
    }),
  })
  .openapi('ErrorEnvelope', { example: ERROR_EXAMPLE });

const usageSchema = z
  .object({ prompt_tokens: z.int(), completion_tokens: z.int(), total_tokens: z.int() })
  .openapi('CompletionUsage');

const finishReason = z.string().openapi({
  description: '`stop` or `length` as the upstream reports it, or `tool_calls` when the answer calls tools.',
});

const tokenLogprob = z.object({ token: z.string(), logprob: z.number(), bytes: z.array(z.int()) });
const chatLogprobs = z
  .object({
    content: z.array(tokenLogprob.extend({ top_logprobs: z.array(tokenLogprob) })),
    refusal: z.null(),
  })
  .nullable()
  .openapi({ description: 'With `logprobs: true` (plaintext answers only); otherwise null.' });

const toolCallOut = z.object({
  id: z.string(),
  type: z.literal('function'),
  function: z.object({ name: z.string(), arguments: z.string() }),
});

const toolCallDelta = z.object({
  index: z.int(),
  id: z.string().optional(),
  type: z.literal('function').optional(),
  function: z.object({ name: z.string().optional(), arguments: z.string() }),
});

export const chatCompletionSchema = z
  .object({
    id: z.string(),
    object: z.literal('chat.completion'),
    created: z.int(),
    model: z.string(),
    choices: z.array(
      z.object({
        index: z.int(),
        message: z.object({
          role: z.literal('assistant'),
          content: z.string().nullable(),
          refusal: z.null(),
          reasoning_content: z.string().optional().openapi({ description: 'With SGP_REASONING_PARSER.' }),
          tool_calls: z.array(toolCallOut).optional(),
        }),
        logprobs: chatLogprobs,
        finish_reason: finishReason,
      }),
    ),
    usage: usageSchema.optional().openapi({ description: 'Present when the upstream reported it.' }),
  })
  .openapi('ChatCompletion', { example: CHAT_COMPLETION_EXAMPLE });

export const chatCompletionChunkSchema = z
  .object({
    id: z.string(),
    object: z.literal('chat.completion.chunk'),
    created: z.int(),
    model: z.string(),
    choices: z.array(
      z.object({
        index: z.int(),
        delta: z.object({
          role: z.literal('assistant').optional(),
          content: z.string().optional(),
          reasoning_content: z.string().optional(),
          tool_calls: z.array(toolCallDelta).optional(),
        }),
        logprobs: chatLogprobs,
        finish_reason: finishReason.nullable(),
      }),
    ),
    usage: usageSchema.optional().openapi({
      description: 'Only on the last chunk (`choices: []`), with `stream_options.include_usage`.',
    }),
  })
  .openapi('ChatCompletionChunk', { example: CHAT_COMPLETION_CHUNK_EXAMPLE });

const completionLogprobs = z
  .object({
    tokens: z.array(z.string()),
    token_logprobs: z.array(z.number().nullable()),
    top_logprobs: z.array(z.record(z.string(), z.number())),
    text_offset: z.array(z.int()),
  })
  .nullable()
  .openapi({ description: 'With `logprobs` set; otherwise null.' });

export const completionSchema = z
  .object({
    id: z.string(),
    object: z.literal('text_completion'),
    created: z.int(),
    model: z.string(),
    choices: z.array(
      z.object({
        index: z.int(),
        text: z.string(),
        logprobs: completionLogprobs,
        finish_reason: z
          .string()
          .nullable()
          .openapi({ description: '`stop` or `length`; null on a stream chunk before the last of its choice.' }),
      }),
    ),
    usage: usageSchema.optional().openapi({
      description:
        "The answer's, when the upstream reported it; streamed, only on the last chunk (`choices: []`), with `stream_options.include_usage`.",
    }),
  })
  .openapi('Completion', { example: COMPLETION_EXAMPLE });

/** The upstream's model list, checked before it is relayed; fields beyond these pass through. */
export const modelListSchema = z
  .looseObject({
    object: z.literal('list'),
    data: z.array(
      z.looseObject({
        id: z.string(),
        object: z.literal('model'),
        created: z.int().optional(),
        owned_by: z.string().optional(),
      }),
    ),
  })
  .openapi('ModelList', { example: MODEL_LIST_EXAMPLE });

export const livenessSchema = z.object({ status: z.literal('ok') }).openapi('Liveness');

export const stainedGlassRequestSchema = z
  .object({
    messages: z.array(chatMessageSchema).min(1),
    seed: chatCompletionRequestSchema.shape.seed.openapi({
      description:
        'SGP_NOISE_MODE=prefix (default): no effect on the noise (the same prompt always gives the same embeddings). fresh: the same seed reproduces the noise.',
    }),
    return_plain_text_embeddings: z.boolean().default(false),
    return_transformed_embeddings: z.boolean().default(false),
    return_reconstructed_prompt: z.boolean().default(false),
    return_obfuscation_score: z.boolean().default(false),
  })
  .openapi('StainedGlassRequest', { example: STAINED_GLASS_REQUEST_EXAMPLE });

export type StainedGlassRequest = z.infer<typeof stainedGlassRequestSchema>;

export const stainedGlassResponseSchema = z
  .object({
    tokenized_plain_text: z.array(z.string()).openapi({ description: 'The templated prompt, one entry per token.' }),
    plain_text_embeddings: z.array(z.array(z.number())).optional(),
    transformed_embeddings: z.array(z.array(z.number())).optional(),
    reconstructed_prompt: z.string().optional().openapi({
      description: 'What a server holding the embedding table reads by nearest-neighbour (cosine) search.',
    }),
    obfuscation_score: z
      .number()
      .optional()
      .openapi({
        description:
          'Fraction of all tokens of this one request (template tokens included) that a single-shot nearest-neighbour (cosine) search over the ' +
          'embedding table did NOT recover. It measures that one attack on that one request only: not repetition averaging, known-plaintext ' +
          'regression, noise-stream recovery or linkability. Run `sgt-proxy sgt audit` for those (docs/privacy.md).',
      }),
  })
  .openapi('StainedGlassResponse', { example: STAINED_GLASS_RESPONSE_EXAMPLE });

export type StainedGlassResponse = z.infer<typeof stainedGlassResponseSchema>;
