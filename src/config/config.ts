import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { HTTP_TOKEN } from '../internal/http-token.js';

/**
 * Every environment variable the package reads, parsed once at start-up. Nothing else in src/
 * reads process.env: the parsed Config is passed down.
 */

const booleanString = z
  .string()
  .trim()
  .toLowerCase()
  .pipe(z.enum(['true', 'false', '1', '0', 'yes', 'no']))
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const positiveInt = z.coerce.number().int().positive();
const port = z.coerce.number().int().min(0).max(65535);
const nonEmpty = z.string().trim().min(1);

const headerName = z
  .string()
  .trim()
  .regex(HTTP_TOKEN, 'a valid HTTP header name')
  .transform((s) => s.toLowerCase());

const headerList = z.string().transform((raw, ctx) => {
  const headers: [string, string][] = [];
  for (const [index, item] of raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .entries()) {
    const eq = item.indexOf('=');
    const name = eq > 0 ? item.slice(0, eq).trim() : '';
    if (!HTTP_TOKEN.test(name)) {
      // Not echoed: a mistyped item may well be a credential.
      ctx.addIssue({
        code: 'custom',
        message: `expected Name=value pairs separated by commas; item ${index + 1} does not start with a header name and "="`,
      });
      return z.NEVER;
    }
    // Lower-case so a configured header replaces, never joins, the same header sent per request.
    headers.push([name.toLowerCase(), item.slice(eq + 1).trim()]);
  }
  return headers;
});

const upstreamUrl = z
  .string()
  .refine((s) => !s.includes(','), 'one URL (a comma-separated list of upstreams is not supported)')
  .pipe(
    z
      .url({ protocol: /^https?$/, error: 'an http:// or https:// URL' })
      // fetch refuses URLs with credentials, and they would end up in error logs: they go elsewhere.
      // (zod runs refinements after a failed format check too: what new URL() cannot parse is reported already.)
      .refine((s) => {
        if (!URL.canParse(s)) return true;
        const u = new URL(s);
        return u.username === '' && u.password === '';
      }, 'a URL without credentials (use SGP_API_USERNAME and SGP_API_PASSWORD)')
      .transform((s) => s.replace(/\/+$/, '')),
  );

// Node timers overflow (and fire after 1 ms) beyond 2^31-1 ms.
const timerSeconds = z.coerce.number().positive().max(2_147_483, 'at most 2147483 seconds');

export const envSchema = z.object({
  SGP_HOST: nonEmpty.default('0.0.0.0'),
  SGP_PORT: port.default(8600),
  SGP_INFERENCE_SERVICE_HOST: upstreamUrl.optional(),
  SGP_SGT_PATH: nonEmpty.optional(),
  SGP_DEVICE: z.enum(['cpu', 'cuda']).default('cpu'),
  SGP_API_USERNAME: nonEmpty.optional(),
  SGP_API_PASSWORD: nonEmpty.optional(),
  SGP_API_KEY: nonEmpty.optional(),
  SGP_REQUEST_HEADERS_TO_ADD: headerList.default([]),
  SGP_LOGGING_CONFIG_FILE: nonEmpty.optional(),
  SGP_MAX_NEW_TOKENS: positiveInt.default(512),
  SGP_OUTPUT_DECRYPTION: booleanString.optional(),
  SGP_EPHEMERAL_KEY_REFRESH_TIME_SECONDS: positiveInt.default(3600),
  SGP_NOISE_SECRET: z.string().min(16, 'at least 16 characters').optional(),
  SGP_NOISE_MODE: z.enum(['prefix', 'fresh']).default('prefix'),
  SGP_SPECIAL_TOKENS_IN_CONTENT: z.enum(['text', 'control']).default('text'),
  // Chat output parsing (docs/chat-output.md): the names are src/chat-output's parsers.
  SGP_TOOL_PARSER: z.enum(['hermes', 'none']).default('hermes'),
  SGP_REASONING_PARSER: z.enum(['qwen3', 'deepseek_r1', 'none']).default('none'),
  // How the upstream is told about JSON output: vLLM >= 0.10.2 `structured_outputs`, older `guided_json`.
  SGP_STRUCTURED_OUTPUTS: z.enum(['structured_outputs', 'guided']).default('structured_outputs'),
  SGP_EMBEDS_DTYPE: z.enum(['bfloat16', 'float16', 'float32']).default('bfloat16'),
  SG_CLIENT_PUBLIC_KEY_HEADER_NAME: headerName.default('x-client-public-key'),
  SG_SERVER_PUBLIC_KEY_HEADER_NAME: headerName.default('x-server-public-key'),
  // Not in the product documents; operational knobs a gateway needs (README, configuration table).
  SGP_MAX_REQUEST_BYTES: positiveInt.default(1024 * 1024),
  SGP_UPSTREAM_TIMEOUT_SECONDS: timerSeconds.default(300),
  SGP_KEEPALIVE_INTERVAL_SECONDS: timerSeconds.default(15),
  SGP_REQUEST_BODY_TIMEOUT_SECONDS: timerSeconds.default(30),
  SGP_MAX_CONNECTIONS: positiveInt.max(1_000_000).default(4096),
  // One core stays with the relay's event loop; the rest tokenize (docs/configuration.md).
  SGP_TRANSFORM_WORKERS: z.coerce
    .number()
    .int()
    .min(0)
    .max(64)
    .default(Math.max(1, availableParallelism() - 1)),
  SGP_MAX_UPSTREAM_EVENT_BYTES: positiveInt.max(2 ** 30, 'at most 1 GiB').default(1024 * 1024),
  SGP_CACHE_DIR: nonEmpty.optional(),
  // Read only to place the default cache directory.
  XDG_CACHE_HOME: nonEmpty.optional(),
});

export type Env = z.infer<typeof envSchema>;

export class ConfigError extends Error {}

/** One line per bad variable: its name, what is expected, and never its value (it may be a secret). */
function describeIssues(error: z.ZodError): string {
  const first = new Map<string, string>(); // one line per variable: its first problem
  for (const issue of error.issues) {
    const name = String(issue.path[0] ?? '?');
    if (!first.has(name)) first.set(name, issue.message);
  }
  return [...first].map(([name, message]) => `invalid configuration: ${name}: ${message}`).join('\n');
}

export function parseEnv(env: Record<string, string | undefined>): Env {
  // An empty variable means "not set", the way shells and compose files are usually written.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const result = envSchema.safeParse(present);
  if (!result.success) throw new ConfigError(describeIssues(result.error));
  const parsed = result.data;
  if ((parsed.SGP_API_USERNAME === undefined) !== (parsed.SGP_API_PASSWORD === undefined)) {
    throw new ConfigError('invalid configuration: SGP_API_USERNAME and SGP_API_PASSWORD must be set together');
  }
  return parsed;
}
