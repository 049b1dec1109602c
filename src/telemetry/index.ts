/** Prometheus metrics and OpenTelemetry traces of the proxy (README "Operations", docs/configuration.md). */
export { Telemetry, telemetryOf } from './telemetry.js';
export type { TracingSettings } from './tracing.js';
export type { RequestTelemetry } from './request.js';
export type { ChatTelemetry, GenAiRequestFacts } from './chat.js';
