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
  .url({ protocol: /^https?$/, error: 'an http:// or https:// URL' })
  // fetch refuses URLs with credentials, and they would end up in error logs: they go elsewhere.
  // (zod runs refinements after a failed format check too: what new URL() cannot parse is reported already.)
  .refine((s) => {
    if (!URL.canParse(s)) return true;
    const u = new URL(s);
    return u.username === '' && u.password === '';
  }, 'a URL without credentials (use SGP_API_USERNAME and SGP_API_PASSWORD)')
  .transform((s) => s.replace(/\/+$/, ''));

/** One upstream URL or several, comma-separated: each checked, a bad one named by its place (never echoed). */
const upstreamUrls = z.string().transform((raw, ctx) => {
  const entries = raw.split(',').map((s) => s.trim());
  const urls: string[] = [];
  const problems: string[] = [];
  const seen = new Map<string, number>();
  for (const [index, entry] of entries.entries()) {
    const place = entries.length === 1 ? '' : `entry ${index + 1}: `;
    const parsed = upstreamUrl.safeParse(entry);
    if (!parsed.success) {
      problems.push(`${place}${entry === '' ? 'empty' : parsed.error.issues[0]?.message}`);
      continue;
    }
    // new URL() spells a host and a default port one way: HTTP://VLLM:80 and http://vllm are one upstream.
    const key = new URL(parsed.data).href.replace(/\/+$/, '');
    const first = seen.get(key);
    if (first !== undefined) problems.push(`${place}the same upstream as entry ${first}`);
    else seen.set(key, index + 1);
    urls.push(parsed.data);
  }
  if (problems.length > 0) {
    ctx.addIssue({ code: 'custom', message: problems.join('; ') });
    return z.NEVER;
  }
  return urls;
});

/** An origin exactly as a browser sends it in `Origin`: the only form a comparison can match. */
function isSerialisedOrigin(item: string): boolean {
  return /^https?:\/\//.test(item) && URL.canParse(item) && new URL(item).origin === item;
}

/** `*`, or a comma-separated list of exact origins (duplicates dropped). */
const corsOrigins = z.string().transform((raw, ctx): '*' | string[] => {
  const items = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const fail = (message: string) => {
    ctx.addIssue({ code: 'custom', message });
    return z.NEVER;
  };
  if (items.length === 0) return fail('a comma-separated list of origins (https://app.example.com), or *');
  if (items.includes('*')) return items.length === 1 ? '*' : fail('* stands alone, not in a list of origins');
  const bad = items.findIndex((item) => !isSerialisedOrigin(item));
  // Not echoed, like every value here: the message says what the item should look like instead.
  if (bad >= 0)
    return fail(
      `item ${bad + 1} is not an origin as browsers send it: http(s)://host[:port] in lower case, without a default port, a path or a trailing slash`,
    );
  return [...new Set(items)];
});

const otlpUrl = z.url({ protocol: /^https?$/, error: 'an http:// or https:// URL' });
// The exporter the package ships speaks OTLP/HTTP with JSON bodies; any other protocol is refused, not ignored.
const otlpProtocol = z.enum(['http/json'], {
  error: 'http/json (OTLP/HTTP with JSON bodies, the only exporter sgt-proxy ships)',
});

// Node timers overflow (and fire after 1 ms) beyond 2^31-1 ms.
const timerSeconds = z.coerce.number().positive().max(2_147_483, 'at most 2147483 seconds');

export const envSchema = z.object({
  SGP_HOST: nonEmpty.default('0.0.0.0'),
  SGP_PORT: port.default(8600),
  SGP_INFERENCE_SERVICE_HOST: upstreamUrls.optional(),
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
  SGP_CORS_ORIGINS: corsOrigins.optional(),
  SGP_MAX_REQUEST_BYTES: positiveInt.default(1024 * 1024),
  SGP_UPSTREAM_TIMEOUT_SECONDS: timerSeconds.default(300),
  SGP_UPSTREAM_RETRIES: z.coerce.number().int().min(0).max(100).default(1),
  SGP_UPSTREAM_HEALTH_INTERVAL_SECONDS: timerSeconds.default(5),
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
  SGP_METRICS_API_KEY: nonEmpty.optional(),
  // OpenTelemetry's own names (https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/).
  OTEL_EXPORTER_OTLP_ENDPOINT: otlpUrl.optional(),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: otlpUrl.optional(),
  OTEL_EXPORTER_OTLP_PROTOCOL: otlpProtocol.optional(),
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: otlpProtocol.optional(),
  OTEL_SERVICE_NAME: nonEmpty.default('sgt-proxy'),
  OTEL_SDK_DISABLED: booleanString.default(false),
  OTEL_BSP_SCHEDULE_DELAY: z.coerce.number().int().min(0).max(2_147_483_647).default(5000),
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
