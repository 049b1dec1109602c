import { z } from '@hono/zod-openapi';
import type { ChatMessage } from '../sgt/index.js';

/** Request and response schemas of the proxy: they validate requests and generate /openapi.json. */

const textPart = z.object({ type: z.literal('text'), text: z.string() });

export const chatMessageSchema = z
  .object({
    role: z.enum(['system', 'developer', 'user', 'assistant', 'tool']),
    content: z.union([z.string(), z.array(textPart)]).nullable(),
    name: z.string().optional(),
  })
  .openapi('ChatMessage');

const nullableNumber = (schema: z.ZodNumber) => schema.nullish();

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
  })
  .openapi('ChatCompletionRequest');

export type ChatCompletionRequest = z.infer<typeof chatCompletionRequestSchema>;

/** The request's messages as the chat template takes them: text parts joined. */
export function toChatMessages(messages: ChatCompletionRequest['messages']): ChatMessage[] {
  return messages.map((message) => ({
    role: message.role,
    content:
      typeof message.content === 'string' ? message.content : (message.content ?? []).map((part) => part.text).join(''),
  }));
}

/**
 * OpenAI parameters this proxy cannot honour. Accepting them silently would give a wrong answer
 * (a tool call that never comes, JSON mode that isn't), so they are refused by name.
 */
export const UNSUPPORTED_PARAMETERS = [
  'tools',
  'tool_choice',
  'functions',
  'function_call',
  'response_format',
  'logprobs',
  'top_logprobs',
  'logit_bias',
  'audio',
  'modalities',
  'prediction',
] as const;

export const errorEnvelopeSchema = z
  .object({
    error: z.object({
      message: z.string(),
      type: z.string(),
      param: z.string().nullable(),
      code: z.string().nullable(),
    }),
  })
  .openapi('ErrorEnvelope');

const usageSchema = z.object({ prompt_tokens: z.number(), completion_tokens: z.number(), total_tokens: z.number() });

export const chatCompletionSchema = z
  .object({
    id: z.string(),
    object: z.literal('chat.completion'),
    created: z.number(),
    model: z.string(),
    system_fingerprint: z.null(),
    choices: z.array(
      z.object({
        index: z.number(),
        message: z.object({ role: z.literal('assistant'), content: z.string() }),
        logprobs: z.null(),
        finish_reason: z.string().nullable(),
      }),
    ),
    usage: usageSchema.nullable(),
  })
  .openapi('ChatCompletion');

export const chatCompletionChunkSchema = z
  .object({
    id: z.string(),
    object: z.literal('chat.completion.chunk'),
    created: z.number(),
    model: z.string(),
    system_fingerprint: z.null(),
    choices: z.array(
      z.object({
        index: z.number(),
        delta: z.object({ role: z.literal('assistant').optional(), content: z.string().optional() }),
        logprobs: z.null(),
        finish_reason: z.string().nullable(),
      }),
    ),
    usage: usageSchema.nullish(),
  })
  .openapi('ChatCompletionChunk');

export const modelListSchema = z
  .object({
    object: z.literal('list'),
    data: z.array(
      z.object({
        id: z.string(),
        object: z.literal('model'),
        created: z.number().optional(),
        owned_by: z.string().optional(),
      }),
    ),
  })
  .openapi('ModelList');

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
  .openapi('StainedGlassRequest');

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
  .openapi('StainedGlassResponse');
