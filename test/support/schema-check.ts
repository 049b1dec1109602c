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
function componentsValidator(
  schemas: Record<string, AnySchemaObject>,
  configure: (ajv: Ajv2020) => void,
  discriminator = true,
): Ajv2020 {
  // strictTypes off: OpenAPI documents put `discriminator` and the like beside `oneOf` without a `type`;
  // strictRequired off: an `allOf` part may require what a sibling part defines (OpenAI's Response does).
  const ajv = new Ajv2020({
    strict: true,
    strictTypes: false,
    strictRequired: false,
    allErrors: true,
    discriminator,
  });
  configure(ajv);
  for (const [name, schema] of Object.entries(schemas)) ajv.addSchema(schema, `#/components/schemas/${name}`);
  return ajv;
}

/** What a validation found wrong, one line per error ('' when valid). */
function problems(validate: ValidateFunction, value: unknown, ajv: Ajv2020): string {
  return validate(value) ? '' : ajv.errorsText(validate.errors, { separator: '\n' });
}

/**
 * OpenAI's schemas in draft 2020-12 terms. OpenAPI 3.0's `nullable: true`, which OpenAI's 3.1
 * document still uses in places (stream `finish_reason`, `usage`), becomes "the schema, or null",
 * as OpenAI's answers have it. Draft 2019-09's `$recursiveAnchor: true` (on CompoundFilter, which
 * refers to itself by name anyway) has no 2020-12 meaning and is dropped.
 */
function asDraft2020(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(asDraft2020);
  if (!isObject(node)) return node;
  const { nullable, $recursiveAnchor: _dropped, ...rest } = node;
  const converted = Object.fromEntries(Object.entries(rest).map(([key, value]) => [key, asDraft2020(value)]));
  return nullable === true ? { anyOf: [converted, { type: 'null' }] } : converted;
}

export type OpenAiSchemaName =
  | 'CreateChatCompletionResponse'
  | 'CreateChatCompletionStreamResponse'
  | 'CreateCompletionResponse'
  | 'ErrorResponse'
  | 'Response'
  | `Response${string}Event`;

const VENDORED = ['chat-completion-schemas.yaml', 'completion-schemas.yaml', 'responses-schemas.yaml'];

/** Checks a value against one of OpenAI's schemas: '' when it conforms, else what is wrong. */
export function openAiSchemas(): (name: OpenAiSchemaName, value: unknown) => string {
  const schemas: Record<string, AnySchemaObject> = {};
  for (const name of VENDORED) {
    const file = new URL(`../fixtures/openai/${name}`, import.meta.url);
    // The vendored files' own shape (their headers say what they hold); a schema in both is the same block.
    const document = parse(readFileSync(file, 'utf8')) as { components: { schemas: Record<string, unknown> } };
    Object.assign(schemas, asDraft2020(document.components.schemas));
  }
  // OpenAI's discriminators name `$ref`s to `allOf` compositions, which Ajv's discriminator support
  // cannot read: they are annotations here, and `oneOf` itself decides (exactly one must match).
  const ajv = componentsValidator(
    schemas,
    (a) => {
      a.addKeyword('discriminator');
      // OpenAI's vendor extensions and formats: annotations, nothing to check.
      for (const keyword of [
        'example',
        'x-oaiMeta',
        'x-oaiTypeLabel',
        'x-oaiExpandable',
        'x-oaiSupportedSDKs',
        'x-stainless-const',
      ])
        a.addKeyword(keyword);
      for (const format of ['unixtime', 'uri', 'float']) a.addFormat(format, true);
    },
    false,
  );
  return (name, value) => {
    const validate = ajv.getSchema(`#/components/schemas/${name}`);
    if (validate === undefined) return `no vendored schema ${name}`;
    return problems(validate, value, ajv);
  };
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
