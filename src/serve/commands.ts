import { randomBytes } from 'node:crypto';
import type { Env } from '../config/index.js';
import { createProtectGateway } from '../gateway/index.js';
import { listen, type RunningServer } from '../http/index.js';
import { createLogger, readLoggingConfig, type RootLogger } from '../logging/index.js';
import {
  defaultAuditPrompts,
  formatAuditTable,
  readAuditPrompts,
  runAudit,
  type AuditOptions,
} from '../privacy/index.js';
import { startReferenceServer, type StartOptions } from '../reference-server/index.js';
import { loadSgt } from '../sgt/index.js';
import { cacheDirFor } from './cache-dir.js';
import { prepareDemoSgt } from './demo-sgt.js';

/** The artifact a command runs on: the one named, else SGP_SGT_PATH, else the demo built in the cache. */
async function sgtDirFor(env: Env, logging: RootLogger, explicit: string | undefined): Promise<string> {
  return (
    explicit ??
    env.SGP_SGT_PATH ??
    (await prepareDemoSgt(cacheDirFor(env.SGP_CACHE_DIR, env.XDG_CACHE_HOME), logging.logger))
  );
}

export interface ReferenceCommandOptions extends Pick<
  StartOptions,
  'mode' | 'replies' | 'tokenIntervalMs' | 'outputProtection' | 'host' | 'port'
> {
  sgtDir?: string;
}

/** `sgt-proxy reference-server`: the vLLM-compatible server on an artifact. */
export async function startReferenceCommand(
  env: Env,
  logging: RootLogger,
  options: ReferenceCommandOptions,
): Promise<RunningServer> {
  const sgt = await loadSgt(await sgtDirFor(env, logging, options.sgtDir), { device: env.SGP_DEVICE });
  return startReferenceServer({
    sgt,
    mode: options.mode,
    ...(options.replies === undefined ? {} : { replies: options.replies }),
    tokenIntervalMs: options.tokenIntervalMs,
    logger: logging.forModule('reference-server'),
    outputProtection: options.outputProtection,
    protectionHeaders: { client: env.SG_CLIENT_PUBLIC_KEY_HEADER_NAME, server: env.SG_SERVER_PUBLIC_KEY_HEADER_NAME },
    host: options.host,
    port: options.port,
  });
}

export interface GatewayCommandOptions {
  upstream: string;
  mode: 'required' | 'optional';
  host: string;
  port: number;
}

/** `sgt-proxy protect`: the output-protection gateway in front of a vLLM server. */
export async function startGatewayCommand(
  env: Env,
  logging: RootLogger,
  options: GatewayCommandOptions,
): Promise<RunningServer> {
  const gateway = createProtectGateway({
    upstream: options.upstream,
    mode: options.mode,
    clientKeyHeader: env.SG_CLIENT_PUBLIC_KEY_HEADER_NAME,
    serverKeyHeader: env.SG_SERVER_PUBLIC_KEY_HEADER_NAME,
    logger: logging.forModule('protect'),
    maxUpstreamEventBytes: env.SGP_MAX_UPSTREAM_EVENT_BYTES,
    upstreamTimeoutMs: env.SGP_UPSTREAM_TIMEOUT_SECONDS * 1000,
  });
  const server = await listen(gateway.fetch, options.host, options.port);
  logging.logger.info({ url: server.url, upstream: options.upstream, mode: options.mode }, 'protect gateway listening');
  return server;
}

export interface AuditCommandOptions extends Pick<AuditOptions, 'repeats' | 'regressionTokens'> {
  sgtDir?: string;
  promptsFile?: string;
  modes?: AuditOptions['modes'];
  json: boolean;
}

/**
 * `sgt audit`: the attack suite against an artifact, returned as the report's text. The simulated
 * proxy's noise secret is random: the server never holds it, so its value cannot change what an
 * attack recovers.
 */
export async function auditCommandReport(env: Env, options: AuditCommandOptions): Promise<string> {
  const prompts =
    options.promptsFile === undefined ? defaultAuditPrompts() : await readAuditPrompts(options.promptsFile);
  // stdout carries the report (`--json` is piped): building the demo SGT logs to stderr instead.
  const logging = createLogger({ ...readLoggingConfig(env.SGP_LOGGING_CONFIG_FILE), destination: 'stderr' });
  const sgt = await loadSgt(await sgtDirFor(env, logging, options.sgtDir), { device: env.SGP_DEVICE });
  try {
    const report = await runAudit(sgt, {
      prompts,
      secret: randomBytes(32),
      ...(options.modes === undefined ? {} : { modes: options.modes }),
      repeats: options.repeats,
      regressionTokens: options.regressionTokens,
      onProgress: (line) => process.stderr.write(`${line}\n`),
    });
    return options.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatAuditTable(report)}\n`;
  } finally {
    await sgt.close();
  }
}
