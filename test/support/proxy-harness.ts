import { pino } from 'pino';
import { PromptEmbedder } from '../../src/prompt/index.js';
import { ProxyOutputProtection, type OutputProtectionSettings } from '../../src/protection/index.js';
import { createProxyApp, type ProxySettings } from '../../src/proxy/index.js';
import { listen, type RunningServer } from '../../src/serve/index.js';
import type { ListenOptions } from '../../src/http/index.js';
import { NoiseKeys, type NoiseMode, type Sgt } from '../../src/sgt/index.js';
import { UpstreamClient } from '../../src/upstream/index.js';
import type { Logger } from '../../src/logging/index.js';
import { Telemetry, type TracingSettings } from '../../src/telemetry/index.js';

export interface ProxyUnderTest {
  app: ReturnType<typeof createProxyApp>;
  telemetry: Telemetry;
  server: RunningServer;
  url: string;
  close(): Promise<void>;
}

export interface ProxyTestOptions {
  sgt: Sgt;
  upstreamUrl: string;
  settings?: Partial<ProxySettings>;
  upstreamTimeoutMs?: number;
  fixedHeaders?: Record<string, string>;
  protection?: Partial<OutputProtectionSettings>;
  noiseSecret?: string;
  /** The product's default, `prefix`, unless a test says otherwise. */
  noiseMode?: NoiseMode;
  /** Silent unless a test reads the logs. */
  logger?: Logger;
  listen?: ListenOptions;
  /** The key rotation's clock (ms), for tests that move time instead of waiting for it. */
  clock?: () => number;
  /** Spans to this OTLP receiver; unset: tracing off, as without OTEL_EXPORTER_OTLP_ENDPOINT. */
  tracing?: TracingSettings;
}

/** The proxy app wired as `serve` wires it, listening on an ephemeral loopback port. */
export async function startProxy(options: ProxyTestOptions): Promise<ProxyUnderTest> {
  // Process metrics stay off: many proxies share a test process, and `serve` is where they are tested.
  const telemetry = new Telemetry({
    upstream: new URL(options.upstreamUrl).origin,
    processMetrics: false,
    transformQueueDepth: () => options.sgt.queuedTransforms,
    tracing: options.tracing,
  });
  const app = createProxyApp({
    settings: {
      upstreamBasicAuth: false,
      maxNewTokens: 512,
      maxRequestBytes: 64 * 1024,
      keepAliveIntervalMs: 15_000,
      maxUpstreamEventBytes: 1024 * 1024,
      defaultModel: options.sgt.metadata.baseModel,
      ...options.settings,
    },
    sgt: options.sgt,
    protection: new ProxyOutputProtection(
      {
        decrypt: false,
        clientKeyHeader: 'x-client-public-key',
        serverKeyHeader: 'x-server-public-key',
        keyRefreshMs: 3_600_000,
        onKeyRotation: telemetry.keyRotated,
        ...options.protection,
      },
      options.clock,
    ),
    embedder: new PromptEmbedder(
      options.sgt,
      'bfloat16',
      new NoiseKeys(
        new TextEncoder().encode(options.noiseSecret ?? 'test-noise-secret-0123456789'),
        options.sgt.fingerprint,
      ),
      options.noiseMode ?? 'prefix',
    ),
    upstream: new UpstreamClient({
      baseUrl: options.upstreamUrl,
      timeoutMs: options.upstreamTimeoutMs ?? 10_000,
      fixedHeaders: options.fixedHeaders ?? {},
    }),
    logger: options.logger ?? pino({ level: 'silent' }),
    telemetry,
  });
  const server = await listen(app.fetch, '127.0.0.1', 0, options.listen);
  return {
    app,
    telemetry,
    server,
    url: server.url,
    close: async () => {
      await server.close();
      await telemetry.close();
    },
  };
}

export function chatBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { model: 'up-model', messages: [{ role: 'user', content: 'Hello there' }], ...overrides };
}

export function postJson(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
  signal?: AbortSignal,
): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    signal,
  });
}
