import type { Context, MiddlewareHandler } from 'hono';
import { matchedRoutes, routePath } from 'hono/route';
import { ProxyMetrics, type MetricsOptions } from './metrics.js';
import { RequestTelemetry } from './request.js';
import { Tracing, type Attributes, type TracingSettings } from './tracing.js';

export interface TelemetryOptions extends MetricsOptions {
  /** Unset: no spans (a client's `traceparent` is still relayed upstream). */
  tracing?: TracingSettings | undefined;
}

// Probes and scrapes come every few seconds: a span each would drown the traces that matter.
const UNTRACED_PATHS = new Set(['/livez', '/readyz', '/metrics']);
// What Node's HTTP parser accepts is a fixed list, but most of it is noise on a label.
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);

const contexts = new WeakMap<Request, RequestTelemetry>();

/** Prometheus metrics and OpenTelemetry traces of one proxy: created in `serve`, passed down. */
export class Telemetry {
  readonly metrics: ProxyMetrics;
  readonly tracing: Tracing;
  private readonly upstreamAttributes: Attributes;

  constructor(options: TelemetryOptions) {
    this.metrics = new ProxyMetrics(options);
    this.tracing = options.tracing ? Tracing.otlp(options.tracing) : Tracing.disabled();
    const upstream = URL.canParse(options.upstream) ? new URL(options.upstream) : undefined;
    this.upstreamAttributes = upstream
      ? { 'server.address': upstream.hostname, 'server.port': Number(upstream.port || defaultPort(upstream)) }
      : {};
  }

  /** Runs after the request context: a span and the request metrics for every request. */
  readonly middleware: MiddlewareHandler = async (c, next) => {
    const method = METHODS.has(c.req.method) ? c.req.method : '_OTHER';
    const request = new RequestTelemetry(
      this.metrics,
      this.tracing,
      this.upstreamAttributes,
      method,
      c.req.path,
      c.req.raw.headers,
      this.tracing.enabled && !UNTRACED_PATHS.has(c.req.path),
    );
    contexts.set(c.req.raw, request);
    await next();
    request.responded(routeOf(c), c.res.status, c.error);
  };

  /** `GET /metrics`: the Prometheus text exposition. */
  async scrape(): Promise<Response> {
    const body = await this.metrics.registry.metrics();
    return new Response(body, { headers: { 'content-type': this.metrics.registry.contentType } });
  }

  /** Told by output protection each time the proxy's key pair is replaced. */
  readonly keyRotated = (): void => {
    this.metrics.keyRotations.inc();
  };

  /** Exports the spans that have ended (tests; shutdown does it too). */
  flush(): Promise<void> {
    return this.tracing.flush();
  }

  async close(): Promise<void> {
    await this.tracing.shutdown();
  }
}

/** The telemetry of a request the middleware has seen. */
export function telemetryOf(c: Context): RequestTelemetry {
  const request = contexts.get(c.req.raw);
  if (!request) throw new Error('request telemetry missing: the telemetry middleware must run first');
  return request;
}

/**
 * The route pattern that answered, a bounded label: the last route matched, or `unmatched` when
 * only middleware matched (a 404). A request refused by middleware (401) keeps its route's pattern.
 */
function routeOf(c: Context): string {
  const last = matchedRoutes(c).at(-1);
  return last === undefined || last.method === 'ALL' ? 'unmatched' : routePath(c, -1);
}

function defaultPort(url: URL): number {
  return url.protocol === 'https:' ? 443 : 80;
}
