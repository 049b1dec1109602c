/**
 * Validating answers against OpenAPI documents with a real JSON Schema validator (Ajv, draft
 * 2020-12: what OpenAPI 3.1 schemas are): OpenAI's own schemas (vendored in test/fixtures/openai/)
 * and the proxy's /openapi.json.
 */
import { readFileSync } from 'node:fs';
import { Ajv2020, type AnySchemaObject, type ValidateFunction } from 'ajv/dist/2020.js';
import { parse } from 'yaml';
import { isObject } from '../../src/internal/is-object.js';

/** Each component schema addressable as `#/components/schemas/Name`, the way the documents refer to them. */
function componentsValidator(schemas: Record<string, AnySchemaObject>, configure: (ajv: Ajv2020) => void): Ajv2020 {
  // strictTypes off: OpenAPI documents put `discriminator` and the like beside `oneOf` without a `type`.
  const ajv = new Ajv2020({ strict: true, strictTypes: false, allErrors: true, discriminator: true });
  configure(ajv);
  for (const [name, schema] of Object.entries(schemas)) ajv.addSchema(schema, `#/components/schemas/${name}`);
  return ajv;
}

/** What a validation found wrong, one line per error ('' when valid). */
function problems(validate: ValidateFunction, value: unknown, ajv: Ajv2020): string {
  return validate(value) ? '' : ajv.errorsText(validate.errors, { separator: '\n' });
}

/**
 * OpenAPI 3.0's `nullable: true`, which OpenAI's 3.1 document still uses in places (stream
 * `finish_reason`, `usage`), in its 3.1 form: the schema, or null. OpenAI's API sends those nulls.
 */
function nullableAsAnyOf(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(nullableAsAnyOf);
  if (!isObject(node)) return node;
  const { nullable, ...rest } = node;
  const converted = Object.fromEntries(Object.entries(rest).map(([key, value]) => [key, nullableAsAnyOf(value)]));
  return nullable === true ? { anyOf: [converted, { type: 'null' }] } : converted;
}

export type OpenAiSchemaName =
  'CreateChatCompletionResponse' | 'CreateChatCompletionStreamResponse' | 'CreateCompletionResponse' | 'ErrorResponse';

/** The vendored files (each header says what it holds); a schema in two of them is the same block. */
const OPENAI_SCHEMA_FILES = ['chat-completion-schemas.yaml', 'completion-schemas.yaml'];

/** Checks a value against one of OpenAI's schemas: '' when it conforms, else what is wrong. */
export function openAiSchemas(): (name: OpenAiSchemaName, value: unknown) => string {
  const all: Record<string, unknown> = {};
  for (const name of OPENAI_SCHEMA_FILES) {
    const file = new URL(`../fixtures/openai/${name}`, import.meta.url);
    // The vendored file's own shape (its header says what it holds).
    const document = parse(readFileSync(file, 'utf8')) as { components: { schemas: Record<string, unknown> } };
    Object.assign(all, document.components.schemas);
  }
  const schemas = nullableAsAnyOf(all) as Record<string, AnySchemaObject>;
  const ajv = componentsValidator(schemas, (a) => {
    // OpenAI's vendor extensions and formats: annotations, nothing to check.
    for (const keyword of ['x-oaiMeta', 'x-oaiTypeLabel', 'x-stainless-const']) a.addKeyword(keyword);
    for (const format of ['unixtime', 'uri']) a.addFormat(format, true);
  });
  return (name, value) => problems(ajv.getSchema(`#/components/schemas/${name}`)!, value, ajv);
}

export interface OpenApiDocument {
  paths: Record<string, Record<string, OpenApiOperation>>;
  components: { schemas: Record<string, AnySchemaObject> };
}

export interface OpenApiOperation {
  requestBody?: { content: Record<string, { examples?: Record<string, { value: unknown }> }> };
  responses: Record<string, { content?: Record<string, { schema: AnySchemaObject }> }>;
}

/**
 * Checks an answer against what a document says a route answers: its status must be documented
 * (or its class, `4XX`), and its body must conform to the schema documented for that status and
 * media type. '' when it does, else what is wrong.
 */
export function documentedAnswers(
  document: OpenApiDocument,
): (method: string, path: string, status: number, mediaType: string, body: unknown) => string {
  const ajv = componentsValidator(document.components.schemas, (a) => a.addKeyword('example'));
  return (method, path, status, mediaType, body) => {
    const operation = document.paths[path]?.[method.toLowerCase()];
    if (!operation) return `${method} ${path} is not documented`;
    const response = operation.responses[String(status)] ?? operation.responses[`${String(status)[0]}XX`];
    if (!response) return `${method} ${path} answered ${status}, which it does not document`;
    const schema = response.content?.[mediaType]?.schema;
    if (!schema) return `${method} ${path} ${status} documents no ${mediaType} body`;
    return problems(ajv.compile(schema), body, ajv);
  };
}
