import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  defaultTextMapGetter,
  defaultTextMapSetter,
  trace,
  type Attributes,
  type Context,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';

export { SpanKind, type Attributes, type Context, type Span };

export interface TracingSettings {
  /** Full URL of the OTLP/HTTP traces endpoint (`…/v1/traces`). */
  tracesUrl: string;
  serviceName: string;
  /** Longest a finished span waits before it is exported (OTEL_BSP_SCHEDULE_DELAY). */
  scheduleDelayMs: number;
}

const propagator = new W3CTraceContextPropagator();

/**
 * Spans to an OTLP/HTTP (JSON) collector, or nothing at all. The provider is this object's, not
 * registered globally: several proxies in one process (tests) keep their spans apart, and nothing
 * else in the process starts exporting because the proxy does. Disabled, no span is created; only
 * a client's `traceparent` is relayed unchanged, so the trace still joins up across the proxy.
 */
export class Tracing {
  private constructor(
    private readonly tracer: Tracer | undefined,
    private readonly provider: TracerProvider | undefined,
  ) {}

  static disabled(): Tracing {
    return new Tracing(undefined, undefined);
  }

  static otlp(settings: TracingSettings): Tracing {
    const provider = new TracerProvider({
      resource: defaultResource().merge(resourceFromAttributes({ 'service.name': settings.serviceName })),
      spanProcessors: [
        new BatchSpanProcessor({
          exporter: new OTLPTraceExporter({ url: settings.tracesUrl }),
          scheduledDelayMillis: settings.scheduleDelayMs,
        }),
      ],
    });
    return new Tracing(provider.getTracer('sgt-proxy'), provider);
  }

  get enabled(): boolean {
    return this.tracer !== undefined;
  }

  /** The context a request's span starts in: the client's `traceparent`/`tracestate` when valid, else a new trace. */
  parentOf(headers: Headers): Context {
    if (!headers.has('traceparent')) return ROOT_CONTEXT;
    return propagator.extract(ROOT_CONTEXT, Object.fromEntries(headers), defaultTextMapGetter);
  }

  start(name: string, kind: SpanKind, parent: Context, attributes?: Attributes): Span | undefined {
    return this.tracer?.startSpan(name, { kind, ...(attributes ? { attributes } : {}) }, parent);
  }

  /** The `traceparent` (and `tracestate`) to send upstream: the given span's, else the parent's as it came. */
  headersFor(span: Span | undefined, parent: Context): Record<string, string> {
    const headers: Record<string, string> = {};
    propagator.inject(span ? trace.setSpan(parent, span) : parent, headers, defaultTextMapSetter);
    return headers;
  }

  async flush(): Promise<void> {
    await this.provider?.forceFlush();
  }

  async shutdown(): Promise<void> {
    await this.provider?.shutdown();
  }
}

/** A span's status from how its work ended: the error's class name, never its message (it may quote input). */
export function endSpan(span: Span | undefined, error?: unknown): void {
  if (span === undefined) return;
  if (error !== undefined) {
    const type = error instanceof Error ? error.name : 'Error';
    span.setAttribute('error.type', type);
    span.setStatus({ code: SpanStatusCode.ERROR, message: type });
  }
  span.end();
}

export function childContext(parent: Context, span: Span | undefined): Context {
  return span ? trace.setSpan(parent, span) : parent;
}
