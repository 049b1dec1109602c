import { z } from '@hono/zod-openapi';
import { Ajv } from 'ajv';
import { isObject } from '../internal/is-object.js';

/** The tool and structured-output fields of a chat request (docs/http-api.md, "Tools and structured outputs"). */

// One Ajv for the process: checking a schema against the JSON Schema meta-schema is all it does here.
const ajv = new Ajv({ strict: false, validateSchema: true });

/**
 * A JSON schema as vLLM's structured outputs take it: an object that is a valid schema (checked
 * against the meta-schema before the request leaves, so a bad one is the client's 400 naming the
 * field, not the upstream's 400 or a grammar compiled from nonsense).
 */
export const jsonSchemaObject = z
  .record(z.string(), z.unknown())
  .superRefine((schema, ctx) => {
    if (ajv.validateSchema(schema) === true) return;
    const first = ajv.errors?.[0];
    const where = first?.instancePath ? ` at '${first.instancePath}'` : '';
    ctx.addIssue({ code: 'custom', message: `not a valid JSON schema${where}: ${first?.message ?? 'invalid'}` });
  })
  .openapi({ type: 'object', description: 'A JSON Schema (draft 2020-12 or earlier), checked before it is used.' });

export const functionName = z
  .string()
  .regex(/^[a-zA-Z0-9_-]{1,64}$/, 'a function name of 1 to 64 letters, digits, underscores or dashes');

export const toolSchema = z
  .object({
    type: z.literal('function'),
    function: z.object({
      name: functionName,
      description: z.string().nullish(),
      parameters: jsonSchemaObject.nullish(),
      strict: z.boolean().nullish(),
    }),
  })
  .openapi('ChatTool');

export type ChatTool = z.infer<typeof toolSchema>;

const namedToolChoice = z.object({ type: z.literal('function'), function: z.object({ name: functionName }) });

export const toolChoiceSchema = z.union([z.enum(['none', 'auto', 'required']), namedToolChoice]).openapi({
  description: '`auto` (default with `tools`), `none`, `required`, or `{type: "function", function: {name}}`.',
});

export type ToolChoice = z.infer<typeof toolChoiceSchema>;

export const toolCallSchema = z.object({
  id: z.string().min(1),
  type: z.literal('function'),
  function: z.object({ name: z.string().min(1), arguments: z.string() }),
});

export const responseFormatSchema = z
  .discriminatedUnion('type', [
    z.object({ type: z.literal('text') }),
    z.object({ type: z.literal('json_object') }),
    z.object({
      type: z.literal('json_schema'),
      json_schema: z.object({
        name: functionName,
        description: z.string().nullish(),
        schema: jsonSchemaObject.nullish(),
        strict: z.boolean().nullish(),
      }),
    }),
  ])
  .openapi({ description: '`text` (default), `json_object`, or `json_schema` (forwarded as structured outputs).' });

interface ToolFields {
  tools?: ChatTool[] | null | undefined;
  tool_choice?: ToolChoice | null | undefined;
}

/** What a request's tools and tool_choice must agree on; issues name `tool_choice`. */
export function checkToolChoice(request: ToolFields, ctx: z.RefinementCtx): void {
  const choice = request.tool_choice;
  if (choice == null || choice === 'none' || choice === 'auto') return;
  const tools = request.tools ?? [];
  if (tools.length === 0) {
    const what = typeof choice === 'string' ? `"${choice}"` : 'a named function';
    ctx.addIssue({ code: 'custom', path: ['tool_choice'], message: `${what} needs 'tools'` });
    return;
  }
  if (typeof choice === 'object' && !tools.some((tool) => tool.function.name === choice.function.name)) {
    ctx.addIssue({
      code: 'custom',
      path: ['tool_choice'],
      message: `the function '${choice.function.name}' is not among 'tools'`,
    });
  }
}

/** `tools` must not name a function twice: a call could not say which it meant. */
export function checkToolNames(tools: ChatTool[] | null | undefined, ctx: z.RefinementCtx): void {
  const seen = new Set<string>();
  for (const [i, tool] of (tools ?? []).entries()) {
    if (seen.has(tool.function.name)) {
      ctx.addIssue({ code: 'custom', path: ['tools', i, 'function', 'name'], message: 'a function name used twice' });
    }
    seen.add(tool.function.name);
  }
}

/** `arguments` as the chat template gets it: the object when the string parses (vLLM does the same). */
export function templateArguments(text: string): unknown {
  try {
    const value: unknown = JSON.parse(text);
    return isObject(value) ? value : text;
  } catch {
    return text;
  }
}
