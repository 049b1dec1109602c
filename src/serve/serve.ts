import { join } from 'node:path';
import type { Env } from '../config/index.js';
import type { RootLogger } from '../logging/index.js';
import { PromptEmbedder } from '../prompt/index.js';
import { ProxyOutputProtection } from '../protection/index.js';
import { createProxyApp } from '../proxy/index.js';
import { startReferenceServer } from '../reference-server/index.js';
import { NoiseKeys, loadSgt, type Sgt } from '../sgt/index.js';
import { UpstreamPool } from '../upstream/index.js';
import { cacheDirFor } from './cache-dir.js';
import { prepareDemoSgt } from './demo-sgt.js';
import { listen, type RunningServer } from '../http/index.js';
import { loadOrCreateNoiseSecret } from './noise-secret.js';
import { Telemetry } from '../telemetry/index.js';
import { tracingSettings } from './tracing-settings.js';

export interface ProxyServer extends RunningServer {
  sgt: Sgt;
  /** The upstreams the proxy balances over: SGP_INFERENCE_SERVICE_HOST, or the embedded reference server. */
  upstreamUrls: string[];
}

function upstreamFixedHeaders(env: Env): Record<string, string> {
  const headers: Record<string, string> = Object.fromEntries(env.SGP_REQUEST_HEADERS_TO_ADD);
  if (env.SGP_API_USERNAME !== undefined && env.SGP_API_PASSWORD !== undefined) {
    headers.authorization = `Basic ${Buffer.from(`${env.SGP_API_USERNAME}:${env.SGP_API_PASSWORD}`).toString('base64')}`;
  }
  return headers;
}

/**
 * Prefix noise only defends against repetition if every replica derives the same noise: with a
 * secret generated on this machine, two replicas give one prompt two independent noises, and a
 * server that averages them is back to the fresh-noise attack (docs/privacy.md).
 */
function noiseKeysFor(env: Env, cacheDir: string, log: ReturnType<RootLogger['forModule']>, sgt: Sgt): NoiseKeys {
  const file = join(cacheDir, 'noise-secret');
  const { secret, source } = loadOrCreateNoiseSecret(env.SGP_NOISE_SECRET, file);
  if (source === 'local-file') {
    log.warn(
      { noise_secret_file: file, noise_mode: env.SGP_NOISE_MODE },
      'SGP_NOISE_SECRET is unset: using a secret generated on this machine; replicas behind one upstream must share one SGP_NOISE_SECRET, or repeated prompts get independent noise the server can average',
    );
  }
  log.info(
    { noise_mode: env.SGP_NOISE_MODE, transform_fingerprint: sgt.fingerprint },
    'noise: keyed AES-256-CTR keystream',
  );
  return new NoiseKeys(secret, sgt.fingerprint);
}

export async function startProxyServer(env: Env, logging: RootLogger): Promise<ProxyServer> {
  const log = logging.forModule('serve');
  const cacheDir = cacheDirFor(env.SGP_CACHE_DIR, env.XDG_CACHE_HOME);

  const sgtDir = env.SGP_SGT_PATH ?? (await prepareDemoSgt(cacheDir, log));
  if (env.SGP_SGT_PATH === undefined)
    log.info(
      { sgt: sgtDir },
      'SGP_SGT_PATH is unset: using the embedded demo SGT (a toy transform, not a trained one)',
    );
  const sgt = await loadSgt(sgtDir, {
    device: env.SGP_DEVICE,
    workers: env.SGP_TRANSFORM_WORKERS,
    onWorkerCrash: (error) =>
      log.error({ err: error }, 'an SGT worker thread died and was replaced; its requests failed'),
  });
  log.info(
    { sgt: sgtDir, base_model: sgt.metadata.baseModel, hidden_size: sgt.metadata.hiddenSize, device: env.SGP_DEVICE },
    'SGT loaded',
  );

  const closers: (() => Promise<void>)[] = [];
  let upstreamUrls: string[];
  if (env.SGP_INFERENCE_SERVICE_HOST !== undefined) {
    upstreamUrls = env.SGP_INFERENCE_SERVICE_HOST;
  } else {
    const reference = await startReferenceServer({
      sgt,
      mode: 'echo',
      tokenIntervalMs: 0,
      outputProtection: 'optional',
      protectionHeaders: { client: env.SG_CLIENT_PUBLIC_KEY_HEADER_NAME, server: env.SG_SERVER_PUBLIC_KEY_HEADER_NAME },
      logger: logging.forModule('reference-server'),
      host: '127.0.0.1',
      port: 0,
    });
    closers.push(() => reference.close());
    upstreamUrls = [reference.url];
    log.info(
      { upstream: reference.url },
      'SGP_INFERENCE_SERVICE_HOST is unset: answers come from the embedded reference server (echo mode, not an LLM)',
    );
  }

  // On the embedded default the upstream is ours and protected, so the proxy decrypts unless told otherwise.
  const outputDecryption = env.SGP_OUTPUT_DECRYPTION ?? env.SGP_INFERENCE_SERVICE_HOST === undefined;
  log.info(
    { output_decryption: outputDecryption },
    outputDecryption
      ? 'output protection: the proxy decrypts'
      : 'output protection: client keys and ciphertext pass through',
  );
  const upstream = new UpstreamPool({
    urls: upstreamUrls,
    timeoutMs: env.SGP_UPSTREAM_TIMEOUT_SECONDS * 1000,
    fixedHeaders: upstreamFixedHeaders(env),
    retries: env.SGP_UPSTREAM_RETRIES,
    healthIntervalMs: env.SGP_UPSTREAM_HEALTH_INTERVAL_SECONDS * 1000,
    logger: logging.forModule('upstream'),
  });
  upstream.start();
  // First in line: no probe may outlive the process's own shutdown.
  closers.unshift(async () => upstream.close());
  const noiseKeys = noiseKeysFor(env, cacheDir, log, sgt);
  const tracing = tracingSettings(env);
  const telemetry = new Telemetry({
    // After the pool's retries the failing upstream is not one of them: with several, the label is the pool.
    upstream: upstreamUrls.length === 1 ? new URL(upstreamUrls[0] as string).origin : 'pool',
    processMetrics: true,
    transformQueueDepth: () => sgt.queuedTransforms,
    upstreamStates: () => upstream.upstreamStates(),
    tracing,
  });
  closers.push(() => telemetry.close());
  log.info(
    { traces_endpoint: tracing?.tracesUrl ?? null },
    tracing ? 'tracing: OTLP/HTTP (JSON)' : 'tracing: off (OTEL_EXPORTER_OTLP_ENDPOINT is unset)',
  );
  const app = createProxyApp({
    settings: {
      apiKey: env.SGP_API_KEY,
      ...(env.SGP_METRICS_API_KEY === undefined ? {} : { metricsApiKey: env.SGP_METRICS_API_KEY }),
      upstreamBasicAuth: env.SGP_API_USERNAME !== undefined,
      maxNewTokens: env.SGP_MAX_NEW_TOKENS,
      maxRequestBytes: env.SGP_MAX_REQUEST_BYTES,
      keepAliveIntervalMs: env.SGP_KEEPALIVE_INTERVAL_SECONDS * 1000,
      maxUpstreamEventBytes: env.SGP_MAX_UPSTREAM_EVENT_BYTES,
      defaultModel: sgt.metadata.baseModel,
      corsOrigins: env.SGP_CORS_ORIGINS,
      chat: {
        toolParser: env.SGP_TOOL_PARSER === 'none' ? undefined : env.SGP_TOOL_PARSER,
        reasoningParser: env.SGP_REASONING_PARSER === 'none' ? undefined : env.SGP_REASONING_PARSER,
        structuredOutputs: env.SGP_STRUCTURED_OUTPUTS,
      },
    },
    sgt,
    protection: new ProxyOutputProtection({
      decrypt: outputDecryption,
      clientKeyHeader: env.SG_CLIENT_PUBLIC_KEY_HEADER_NAME,
      serverKeyHeader: env.SG_SERVER_PUBLIC_KEY_HEADER_NAME,
      keyRefreshMs: env.SGP_EPHEMERAL_KEY_REFRESH_TIME_SECONDS * 1000,
      onKeyRotation: telemetry.keyRotated,
    }),
    embedder: new PromptEmbedder(
      sgt,
      env.SGP_EMBEDS_DTYPE,
      noiseKeys,
      env.SGP_NOISE_MODE,
      env.SGP_SPECIAL_TOKENS_IN_CONTENT,
    ),
    upstream,
    logger: logging.forModule('proxy'),
    telemetry,
  });

  const server = await listen(app.fetch, env.SGP_HOST, env.SGP_PORT, {
    requestTimeoutMs: env.SGP_REQUEST_BODY_TIMEOUT_SECONDS * 1000,
    maxConnections: env.SGP_MAX_CONNECTIONS,
  });
  log.info({ url: server.url, upstreams: upstreamUrls }, 'sgt-proxy listening');
  return {
    ...server,
    sgt,
    upstreamUrls,
    async close(graceMs?: number) {
      await server.close(graceMs);
      for (const close of closers) await close();
      await sgt.close();
    },
  };
}
