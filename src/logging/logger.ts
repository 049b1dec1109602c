import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { pino, type Logger, type LevelWithSilent } from 'pino';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../config/index.js';

export type { Logger } from 'pino';

const level = z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']);

/** The YAML file named by SGP_LOGGING_CONFIG_FILE. */
export const loggingConfigSchema = z
  .object({
    level: level.default('info'),
    modules: z.record(z.string(), level).default({}),
    destination: z.string().min(1).default('stdout'),
    redact: z.array(z.string()).default([]),
  })
  .strict();

export type LoggingConfig = z.infer<typeof loggingConfigSchema>;

// Secrets must not reach a log line even if a future call site logs a header object by mistake.
const DEFAULT_REDACT_PATHS = [
  'headers.authorization',
  'headers.cookie',
  'headers["proxy-authorization"]',
  'req.headers.authorization',
  'authorization',
  'apiKey',
  'password',
  'prompt',
  'messages',
  'prompt_embeds',
];

export function readLoggingConfig(file: string | undefined): LoggingConfig {
  if (file === undefined) return loggingConfigSchema.parse({});
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(
      `invalid configuration: SGP_LOGGING_CONFIG_FILE: cannot read ${file}: ${(err as Error).message}`,
    );
  }
  const result = loggingConfigSchema.safeParse(raw ?? {});
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new ConfigError(
      `invalid configuration: SGP_LOGGING_CONFIG_FILE: ${file}: ${issue?.path.join('.') || '(root)'}: ${issue?.message}`,
    );
  }
  return result.data;
}

export interface RootLogger {
  logger: Logger;
  /** A child logger for one part of the program, with its own level when the config names one. */
  forModule(name: string): Logger;
}

function destinationFor(target: string): pino.DestinationStream {
  if (target === 'stdout') return pino.destination({ fd: 1, sync: false });
  if (target === 'stderr') return pino.destination({ fd: 2, sync: false });
  // The asynchronous destination opens in the background and would drop every line silently on a
  // bad path; opening once here makes that a start-up error instead.
  try {
    mkdirSync(dirname(target), { recursive: true });
    closeSync(openSync(target, 'a'));
  } catch (err) {
    throw new ConfigError(
      `invalid configuration: SGP_LOGGING_CONFIG_FILE: destination ${target} cannot be written: ${(err as Error).message}`,
    );
  }
  return pino.destination({ dest: target, sync: false });
}

export function createLogger(config: LoggingConfig, destination?: pino.DestinationStream): RootLogger {
  const levels = [config.level, ...Object.values(config.modules)] as LevelWithSilent[];
  // The root must be at least as verbose as its most verbose module, or child levels could not go lower.
  const rootLevel = levels.reduce((a, b) =>
    (pino.levels.values[a] ?? Infinity) <= (pino.levels.values[b] ?? Infinity) ? a : b,
  );
  const logger = pino(
    {
      level: rootLevel,
      redact: { paths: [...DEFAULT_REDACT_PATHS, ...config.redact], censor: '[redacted]' },
      base: { pid: process.pid },
    },
    destination ?? destinationFor(config.destination),
  );
  return {
    logger,
    forModule(name) {
      const child = logger.child({ module: name });
      child.level = config.modules[name] ?? config.level;
      return child;
    },
  };
}
