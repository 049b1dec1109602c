import type { Env } from '../config/index.js';
import type { TracingSettings } from '../telemetry/index.js';

/**
 * Tracing from the standard OpenTelemetry variables: on when an OTLP endpoint is set (and the SDK
 * is not disabled). The signal-specific endpoint is used as given; the general one gets
 * `v1/traces` appended, as the OTLP exporter specification says.
 */
export function tracingSettings(env: Env): TracingSettings | undefined {
  if (env.OTEL_SDK_DISABLED) return undefined;
  const tracesUrl = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? withTracesPath(env.OTEL_EXPORTER_OTLP_ENDPOINT);
  if (tracesUrl === undefined) return undefined;
  return { tracesUrl, serviceName: env.OTEL_SERVICE_NAME, scheduleDelayMs: env.OTEL_BSP_SCHEDULE_DELAY };
}

function withTracesPath(endpoint: string | undefined): string | undefined {
  if (endpoint === undefined) return undefined;
  return `${endpoint.endsWith('/') ? endpoint : `${endpoint}/`}v1/traces`;
}
