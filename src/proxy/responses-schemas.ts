import { z } from '@hono/zod-openapi';
import { RESPONSE_EXAMPLE, RESPONSES_REQUEST_EXAMPLE } from './examples.js';
import { refused } from './request-validation.js';
import { chatTemplateKwargsSchema } from './schemas.js';
import { functionName, jsonSchemaObject } from './tool-schemas.js';

/**
 * `POST /v1/responses` (OpenAI's Responses API), as far as a stateless private path can honour it:
 * text input (a string or message, function-call and function-call-output items), function tools,
 * text formats, streaming. What it cannot honour is refused by name, never ignored.
 */

const inputText = z.object({ type: z.literal('input_text'), text: z.string() });
const outputText = z.looseObject({ type: z.literal('output_text'), text: z.string() });
const refusalText = z.looseObject({ type: z.literal('refusal'), refusal: z.string() });

const mediaPart = z
  .object({ type: z.enum(['input_image', 'input_file', 'input_audio']) })
  .loose()
  .refine(() => false, {
    error: 'only text input is supported: the model behind the transform reads text',
    params: { code: 'unsupported_parameter' },
  });

const messageContent = z.union([z.string(), z.array(z.union([inputText, outputText, refusalText, mediaPart]))]);

const messageItem = z
  .object({
    type: z.literal('message').optional(),
    role: z.enum(['user', 'assistant', 'system', 'developer']),
    content: messageContent,
    id: z.string().nullish(),
    status: z.string().nullish(),
    phase: z.string().nullish(),
  })
  .openapi({ description: 'A message; an assistant message from an earlier answer may carry `output_text` parts.' });

const functionCallItem = z.object({
  type: z.literal('function_call'),
  call_id: z.string().min(1),
  name: z.string().min(1),
  arguments: z.string(),
  id: z.string().nullish(),
  status: z.string().nullish(),
});

const functionCallOutputItem = z.object({
  type: z.literal('function_call_output'),
  call_id: z.string().min(1),
  output: z.union([z.string(), z.array(z.union([inputText, mediaPart]))]),
  id: z.string().nullish(),
  status: z.string().nullish(),
});

/**
 * Earlier reasoning, sent back by clients that replay a whole answer. Chat templates (Qwen3's
 * among them) drop the thinking of earlier turns, so it is accepted and not rendered.
 */
const reasoningItem = z.looseObject({ type: z.literal('reasoning') });

const itemReference = z.object({ type: z.literal('item_reference'), id: z.string() }).refine(() => false, {
  error:
    'sgt-proxy stores no responses, so an item cannot be referred to by id: send the item itself (with the Vercel AI SDK, providerOptions.openai.store = false)',
  params: { code: 'unsupported_parameter' },
});

const inputItem = z.union([messageItem, functionCallItem, functionCallOutputItem, reasoningItem, itemReference]);

export type ResponsesInputItem = z.infer<typeof inputItem>;

const functionTool = z
  .object({
    type: z.literal('function'),
    name: functionName,
    description: z.string().nullish(),
    parameters: jsonSchemaObject.nullish(),
    strict: z.boolean().nullish(),
  })
  .openapi('ResponsesFunctionTool');

export type ResponsesFunctionTool = z.infer<typeof functionTool>;

/**
 * A parsed request's tool is a function tool: any other type failed validation (otherTool always
 * does), though the inferred union still lists it.
 */
export function isFunctionTool(tool: { type: string }): tool is ResponsesFunctionTool {
  return tool.type === 'function';
}

/** OpenAI's hosted and custom tools: they run on OpenAI's side, or need a grammar; none exists here. */
const OTHER_TOOL_TYPES = [
  'file_search',
  'web_search',
  'web_search_preview',
  'web_search_2025_08_26',
  'web_search_preview_2025_03_11',
  'computer_use_preview',
  'computer',
  'mcp',
  'code_interpreter',
  'image_generation',
  'local_shell',
  'shell',
  'apply_patch',
  'custom',
  'tool_search',
  'namespace',
] as const;

const otherTool = z
  .looseObject({ type: z.enum(OTHER_TOOL_TYPES) })
  .refine(() => false, { error: 'only function tools are supported', params: { code: 'unsupported_parameter' } });

const toolChoice = z
  .union([z.enum(['none', 'auto', 'required']), z.object({ type: z.literal('function'), name: functionName })])
  .openapi({ description: '`auto` (default with `tools`), `none`, `required`, or `{type: "function", name}`.' });

const textFormat = z.discriminatedUnion('type', [
  z.object({ type: z.literal('text') }),
  z.object({ type: z.literal('json_object') }),
  z.object({
    type: z.literal('json_schema'),
    name: functionName,
    description: z.string().nullish(),
    schema: jsonSchemaObject,
    strict: z.boolean().nullish(),
  }),
]);

const STATELESS = 'it stores no responses or conversations';

const refusedParameters = {
  previous_response_id: refused('previous_response_id', {
    why: `${STATELESS}; send the earlier turns in 'input' instead`,
  }),
  conversation: refused('conversation', { why: STATELESS }),
  background: refused('background', { why: STATELESS }),
  prompt: refused('prompt', { why: 'it has no stored prompt templates' }),
  reasoning: refused('reasoning', {
    why: "reasoning effort is not a setting of the model behind it (see 'chat_template_kwargs')",
  }),
  max_tool_calls: refused('max_tool_calls', { why: 'it does not run tools' }),
  service_tier: refused('service_tier', { why: 'there are no service tiers' }),
  prompt_cache_key: refused('prompt_cache_key', { why: 'the upstream sees no prompt to cache by key' }),
  safety_identifier: refused('safety_identifier', { why: 'it runs no safety checks' }),
};

export const responsesRequestSchema = z
  .object({
    model: z.string().min(1).optional().openapi({ description: "Defaults to the SGT's base model." }),
    input: z.union([z.string(), z.array(inputItem).min(1)]),
    instructions: z.string().nullish().openapi({ description: 'A system message before the input.' }),
    stream: z.boolean().nullish(),
    stream_options: z
      .object({
        include_obfuscation: z
          .boolean()
          .nullish()
          .refine((value) => value !== true, {
            error: 'stream obfuscation is not implemented: set it false',
            params: { code: 'unsupported_parameter' },
          }),
      })
      .nullish(),
    max_output_tokens: z.number().int().positive().nullish(),
    temperature: z.number().min(0).max(2).nullish(),
    top_p: z.number().gt(0).max(1).nullish(),
    tools: z
      .array(z.discriminatedUnion('type', [functionTool, otherTool]))
      .max(128)
      .nullish(),
    tool_choice: toolChoice.nullish(),
    parallel_tool_calls: z.boolean().nullish(),
    text: z
      .object({
        format: textFormat.nullish(),
        verbosity: z
          .unknown()
          .refine((value) => value === undefined || value === null || value === 'medium', {
            error: "only 'medium' verbosity: the model has no verbosity setting",
            params: { code: 'unsupported_parameter' },
          })
          .optional(),
      })
      .nullish(),
    store: z
      .boolean()
      .nullish()
      .refine((value) => value !== true, {
        error: `'store': true is not supported: sgt-proxy ${STATELESS} (leave it out or set it false)`,
        params: { code: 'unsupported_parameter' },
      }),
    include: z
      .array(
        z.string().refine((value) => value === 'message.output_text.logprobs', {
          error: "only 'message.output_text.logprobs' can be included",
          params: { code: 'unsupported_parameter' },
        }),
      )
      .nullish(),
    top_logprobs: z.number().int().min(0).max(20).nullish(),
    truncation: z.enum(['disabled']).nullish().openapi({ description: "Only 'disabled': a prompt too long is a 400." }),
    metadata: z.record(z.string(), z.string().max(512)).nullish(),
    user: z.string().nullish(),
    chat_template_kwargs: chatTemplateKwargsSchema,
    ...refusedParameters,
  })
  .superRefine((request, ctx) => {
    const names = new Set<string>();
    for (const [i, tool] of (request.tools ?? []).entries()) {
      if (!isFunctionTool(tool)) continue;
      if (names.has(tool.name))
        ctx.addIssue({ code: 'custom', path: ['tools', i, 'name'], message: 'a function name used twice' });
      names.add(tool.name);
    }
    const choice = request.tool_choice;
    if (choice == null || choice === 'none' || choice === 'auto') return;
    if (names.size === 0) {
      const what = typeof choice === 'string' ? `"${choice}"` : 'a named function';
      ctx.addIssue({ code: 'custom', path: ['tool_choice'], message: `${what} needs 'tools'` });
    } else if (typeof choice === 'object' && !names.has(choice.name)) {
      ctx.addIssue({
        code: 'custom',
        path: ['tool_choice'],
        message: `the function '${choice.name}' is not among 'tools'`,
      });
    }
  })
  .openapi('ResponsesRequest', { example: RESPONSES_REQUEST_EXAMPLE });

export type ResponsesRequest = z.infer<typeof responsesRequestSchema>;

const outputItemSchema = z
  .looseObject({ type: z.enum(['message', 'reasoning', 'function_call']), id: z.string(), status: z.string() })
  .openapi('ResponseOutputItem', {
    description:
      'A `message` (`content`: `output_text` parts), a `reasoning` item (with SGP_REASONING_PARSER) or a `function_call` (`call_id`, `name`, `arguments`), as OpenAI defines them.',
  });

export const responseSchema = z
  .looseObject({
    id: z.string(),
    object: z.literal('response'),
    created_at: z.number(),
    status: z.enum(['in_progress', 'completed', 'incomplete']),
    model: z.string(),
    output: z.array(outputItemSchema),
    usage: z.object({ input_tokens: z.int(), output_tokens: z.int(), total_tokens: z.int() }).loose().optional(),
  })
  .openapi('Response', {
    description: "OpenAI's Response object; the request's settings are echoed (`store` is always false).",
    example: RESPONSE_EXAMPLE,
  });

export const responseStreamEventSchema = z
  .looseObject({ type: z.string(), sequence_number: z.int() })
  .openapi('ResponseStreamEvent', {
    description:
      'One of `response.created`, `response.in_progress`, `response.output_item.added`, `response.content_part.added`, `response.output_text.delta`, `response.reasoning_text.delta`, `response.function_call_arguments.delta`, their `.done` events, then `response.completed` or `response.incomplete`; or, on failure, `error` (the last).',
  });
