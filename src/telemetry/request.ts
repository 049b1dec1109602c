import { SpanKind, endSpan, type Attributes, type Context, type Span, type Tracing } from './tracing.js';
import type { ProxyMetrics } from './metrics.js';
import { ChatTelemetry } from './chat.js';

/**
 * One request's telemetry: its server span (when tracing is on) and its line in the request
 * metrics. The middleware reports when the response is decided; a streamed answer moves the end
 * (duration, span end) to the stream's last byte.
 */
export class RequestTelemetry {
  readonly startedAt = performance.now();
  /** The client's trace context (from `traceparent`), the parent of this request's span. */
  readonly parent: Context;
  readonly span: Span | undefined;
  private labels: { method: string; route: string; status: string } | undefined;
  private streaming = false;
  private named = false;
  private ended = false;
  private stream: { error: unknown } | undefined;

  constructor(
    readonly metrics: ProxyMetrics,
    readonly tracing: Tracing,
    /** `server.address` and `server.port` of the upstream, for the upstream call's span. */
    readonly upstreamAttributes: Attributes,
    private readonly method: string,
    path: string,
    headers: Headers,
    traced: boolean,
  ) {
    this.parent = tracing.parentOf(headers);
    this.span = traced
      ? tracing.start(method, SpanKind.SERVER, this.parent, { 'http.request.method': method, 'url.path': path })
      : undefined;
  }

  /** The GenAI side of a chat completion; its span name replaces the HTTP one. */
  chat(operation: string, model: string): ChatTelemetry {
    this.named = true;
    this.span?.updateName(`${operation} ${model}`);
    return new ChatTelemetry(this, operation, model);
  }

  /** The answer is a stream: the request ends with it (`streamEnded`), not with the handler. */
  streamStarted(): void {
    this.streaming = true;
  }

  /** Called by the middleware once the handler returned: the status is known. */
  responded(route: string, status: number, error: unknown): void {
    this.labels = { method: this.method, route, status: String(status) };
    this.metrics.requests.inc(this.labels);
    if (!this.named) this.span?.updateName(`${this.method} ${route}`);
    this.span?.setAttributes({ 'http.route': route, 'http.response.status_code': status });
    if (!this.streaming || status !== 200 || this.stream) this.end(error ?? this.stream?.error);
  }

  streamEnded(error?: unknown): void {
    this.stream = { error };
    // Before the middleware has the status (not seen, but cheap to allow), `responded` ends it.
    if (this.labels !== undefined) this.end(error);
  }

  private end(error: unknown): void {
    if (this.ended || this.labels === undefined) return;
    this.ended = true;
    this.metrics.requestDuration.observe(this.labels, (performance.now() - this.startedAt) / 1000);
    endSpan(this.span, error ?? undefined);
  }
}
