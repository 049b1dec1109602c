import type { ReasoningParserName, ToolParserName } from '../chat-output/index.js';
import type { ChatTemplateInput } from '../sgt/index.js';
import type { OutputPlan, ToolOutput } from '../stream/index.js';
import type { ChatCompletionRequest } from './schemas.js';
import type { ChatTool } from './tool-schemas.js';

/** The chat features' configuration (SGP_TOOL_PARSER, SGP_REASONING_PARSER, SGP_STRUCTURED_OUTPUTS). */
export interface ChatOptions {
  toolParser: ToolParserName | undefined;
  reasoningParser: ReasoningParserName | undefined;
  /** `structured_outputs`: vLLM >= 0.10.2 (the only form from 0.12); `guided`: `guided_json`, older vLLM. */
  structuredOutputs: 'structured_outputs' | 'guided';
}

export const DEFAULT_CHAT_OPTIONS: ChatOptions = {
  toolParser: 'hermes',
  reasoningParser: undefined,
  structuredOutputs: 'structured_outputs',
};

/** What one chat request's tool and format fields become on the way up and on the way back. */
export interface ChatPlan {
  /** Rendered by the chat template, so it goes through the transform with the rest of the prompt. */
  template: ChatTemplateInput;
  /** Added to the upstream completions request: the structured-output constraint, skip_special_tokens. */
  upstreamFields: Record<string, unknown>;
  output: OutputPlan;
}

export function planChat(request: ChatCompletionRequest, options: ChatOptions): ChatPlan {
  const tools = request.tools ?? [];
  const template: ChatTemplateInput = {};
  if (tools.length > 0) template.tools = tools;
  if (request.chat_template_kwargs) template.kwargs = request.chat_template_kwargs;
  const toolOutput = toolOutputOf(request, tools, options.toolParser);
  const upstreamFields = structuredFields(forcedSchema(request, tools), request, options.structuredOutputs);
  // vLLM's hermes parser (adjust_request): its tags may be special tokens, which must not be skipped.
  if (toolOutput?.kind === 'parse') upstreamFields.skip_special_tokens = false;
  const output: OutputPlan = { parallelToolCalls: request.parallel_tool_calls !== false };
  if (options.reasoningParser) output.reasoning = options.reasoningParser;
  if (toolOutput) output.tools = toolOutput;
  return { template, upstreamFields, output };
}

function toolOutputOf(
  request: ChatCompletionRequest,
  tools: readonly ChatTool[],
  parser: ToolParserName | undefined,
): ToolOutput | undefined {
  const choice = request.tool_choice ?? 'auto';
  if (tools.length === 0 || choice === 'none') return undefined;
  if (choice === 'required') return { kind: 'required' };
  if (typeof choice === 'object') return { kind: 'named', name: choice.function.name };
  return parser ? { kind: 'parse', parser } : undefined;
}

/**
 * The JSON schema a forced tool choice puts on the output, as vLLM builds it
 * (`_get_json_schema_from_tool`): a named function's parameters; for `required`, an array of
 * `{name, parameters}` items, one alternative per tool.
 */
function forcedSchema(request: ChatCompletionRequest, tools: readonly ChatTool[]): Record<string, unknown> | undefined {
  const choice = request.tool_choice;
  if (typeof choice === 'object' && choice !== null) {
    const tool = tools.find((t) => t.function.name === choice.function.name);
    return tool?.function.parameters ?? { type: 'object' };
  }
  if (choice !== 'required' || tools.length === 0) return undefined;
  const items = tools.map((tool) => ({
    properties: {
      name: { type: 'string', enum: [tool.function.name] },
      parameters: tool.function.parameters ?? { type: 'object' },
    },
    required: ['name', 'parameters'],
  }));
  return {
    type: 'array',
    minItems: 1,
    ...(request.parallel_tool_calls === false ? { maxItems: 1 } : {}),
    items: { type: 'object', anyOf: items },
  };
}

/** The structured-output fields in the configured dialect; a forced tool choice wins over response_format, as in vLLM. */
function structuredFields(
  toolSchema: Record<string, unknown> | undefined,
  request: ChatCompletionRequest,
  dialect: ChatOptions['structuredOutputs'],
): Record<string, unknown> {
  const format = request.response_format;
  let json: Record<string, unknown> | undefined = toolSchema;
  if (json === undefined && format?.type === 'json_schema') json = format.json_schema.schema ?? { type: 'object' };
  if (json !== undefined) return dialect === 'guided' ? { guided_json: json } : { structured_outputs: { json } };
  if (format?.type !== 'json_object') return {};
  // Older vLLM reads `response_format` json_object on /v1/completions itself.
  return dialect === 'guided'
    ? { response_format: { type: 'json_object' } }
    : { structured_outputs: { json_object: true } };
}
