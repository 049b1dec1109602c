import { describe, expect, it } from 'vitest';
import { ConfigError, parseEnv } from '../../src/config/index.js';
import { tracingSettings } from '../../src/serve/tracing-settings.js';

describe('tracing from the standard OpenTelemetry variables', () => {
  it('is off without an OTLP endpoint', () => {
    expect(tracingSettings(parseEnv({}))).toBeUndefined();
    expect(tracingSettings(parseEnv({ OTEL_SERVICE_NAME: 'x' }))).toBeUndefined();
  });

  it('appends v1/traces to the general endpoint, with or without its trailing slash', () => {
    for (const endpoint of ['http://collector:4318', 'http://collector:4318/']) {
      expect(tracingSettings(parseEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: endpoint }))).toEqual({
        tracesUrl: 'http://collector:4318/v1/traces',
        serviceName: 'sgt-proxy',
        scheduleDelayMs: 5000,
      });
    }
    expect(tracingSettings(parseEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://gw.example/otlp' }))?.tracesUrl).toBe(
      'https://gw.example/otlp/v1/traces',
    );
  });

  it('takes the traces endpoint as given, over the general one, with the service name and delay', () => {
    const env = parseEnv({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://traces:9999/custom',
      OTEL_SERVICE_NAME: 'proxy-eu-1',
      OTEL_BSP_SCHEDULE_DELAY: '250',
    });
    expect(tracingSettings(env)).toEqual({
      tracesUrl: 'http://traces:9999/custom',
      serviceName: 'proxy-eu-1',
      scheduleDelayMs: 250,
    });
  });

  it('is off when OTEL_SDK_DISABLED is true, whatever the endpoint', () => {
    expect(
      tracingSettings(parseEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' })),
    ).toBeUndefined();
  });

  it('refuses a protocol it cannot speak and an endpoint that is not an http(s) URL, naming the variable', () => {
    expect(() => parseEnv({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toThrow(
      new ConfigError(
        'invalid configuration: OTEL_EXPORTER_OTLP_PROTOCOL: http/json (OTLP/HTTP with JSON bodies, the only exporter sgt-proxy ships)',
      ),
    );
    expect(() => parseEnv({ OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf' })).toThrow(
      /OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: http\/json/,
    );
    expect(() => parseEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4317' })).toThrow(
      /OTEL_EXPORTER_OTLP_ENDPOINT: an http:\/\/ or https:\/\/ URL/,
    );
    expect(parseEnv({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }).OTEL_EXPORTER_OTLP_PROTOCOL).toBe('http/json');
  });
});
