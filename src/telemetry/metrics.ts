import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Where a failed upstream call broke: the classes of `sgp_upstream_failures_total`. */
export type UpstreamFailureClass = 'refused' | 'timeout' | '4xx' | '5xx' | 'truncated' | 'invalid';

export type StreamOutcome = 'completed' | 'failed' | 'aborted';

export interface MetricsOptions {
  /** The upstream's label value: its origin, one of a configured few (never a request's value). */
  upstream: string;
  /** process_* and nodejs_* metrics (prom-client's default collectors): on in `serve`, off where many proxies share a process. */
  processMetrics: boolean;
  /** Transforms waiting for a batch, read at scrape time. */
  transformQueueDepth: () => number;
}

// Latencies from a loopback echo (milliseconds) to a long answer behind a slow model (minutes).
const REQUEST_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const FIRST_TOKEN_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const GAP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const TRANSFORM_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const BATCH_SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64];

/**
 * The proxy's Prometheus metrics, in a registry of their own (several proxies can share a process).
 * Every label has a bounded set of values: route patterns, status codes, outcome and failure
 * classes, the configured upstream — never a prompt, a key, a model name or a request id.
 */
export class ProxyMetrics {
  readonly registry = new Registry();
  readonly upstream: string;

  readonly requests = new Counter({
    name: 'sgp_http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status code.',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  readonly requestDuration = new Histogram({
    name: 'sgp_http_request_duration_seconds',
    help: 'From the request arriving to its response ending (for a stream: its last byte).',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: REQUEST_BUCKETS,
    registers: [this.registry],
  });
  readonly streamsInFlight = new Gauge({
    name: 'sgp_chat_streams_in_flight',
    help: 'Streamed chat answers started and not yet ended.',
    registers: [this.registry],
  });
  readonly streams = new Counter({
    name: 'sgp_chat_streams_total',
    help: 'Streamed chat answers ended, by outcome (completed, failed: an error event, aborted: the client left).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly timeToFirstToken = new Histogram({
    name: 'sgp_chat_time_to_first_token_seconds',
    help: 'From a streamed chat request arriving to its first token going out.',
    buckets: FIRST_TOKEN_BUCKETS,
    registers: [this.registry],
  });
  readonly interTokenGap = new Histogram({
    name: 'sgp_chat_inter_token_gap_seconds',
    help: 'Between two successive upstream events carrying text, in streamed chat answers.',
    buckets: GAP_BUCKETS,
    registers: [this.registry],
  });
  readonly promptTokens = new Counter({
    name: 'sgp_chat_prompt_tokens_total',
    help: 'Prompt tokens transformed for chat completions.',
    registers: [this.registry],
  });
  readonly completionTokens = new Counter({
    name: 'sgp_chat_completion_tokens_total',
    help: 'Completion tokens the upstream reported (usage) for chat completions.',
    registers: [this.registry],
  });
  readonly transformDuration = new Histogram({
    name: 'sgp_transform_duration_seconds',
    help: 'One prompt through the SGT: template, tokenize, queue, ONNX Runtime run and encoding.',
    buckets: TRANSFORM_BUCKETS,
    registers: [this.registry],
  });
  readonly transformQueueWait = new Histogram({
    name: 'sgp_transform_queue_wait_seconds',
    help: 'From a prompt being submitted to the micro-batcher to its batch starting.',
    buckets: TRANSFORM_BUCKETS,
    registers: [this.registry],
  });
  readonly transformBatchSize = new Histogram({
    name: 'sgp_transform_batch_size',
    help: 'Requests in the ONNX Runtime batch that computed a prompt (observed once per prompt).',
    buckets: BATCH_SIZE_BUCKETS,
    registers: [this.registry],
  });
  readonly upstreamFailures = new Counter({
    name: 'sgp_upstream_failures_total',
    help: 'Failed upstream calls by class: refused, timeout, 4xx, 5xx, truncated, invalid.',
    labelNames: ['upstream', 'class'] as const,
    registers: [this.registry],
  });
  readonly decryptionFailures = new Counter({
    name: 'sgp_output_decryption_failures_total',
    help: 'Output-protected answers whose ciphertext did not open (tampered, reordered, dropped or for another key).',
    registers: [this.registry],
  });
  readonly keyRotations = new Counter({
    name: 'sgp_output_key_rotations_total',
    help: "Replacements of the proxy's output-protection key pair (SGP_EPHEMERAL_KEY_REFRESH_TIME_SECONDS).",
    registers: [this.registry],
  });

  constructor(options: MetricsOptions) {
    this.upstream = options.upstream;
    new Gauge({
      name: 'sgp_transform_queue_depth',
      help: 'Prompts waiting for a transform batch (not counting the batch running).',
      registers: [this.registry],
      collect() {
        this.set(options.transformQueueDepth());
      },
    });
    // Counters start at 0 so that rate() sees the first failure.
    for (const failure of ['refused', 'timeout', '4xx', '5xx', 'truncated', 'invalid'] as const)
      this.upstreamFailures.inc({ upstream: this.upstream, class: failure }, 0);
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry });
  }

  upstreamFailed(failure: UpstreamFailureClass): void {
    this.upstreamFailures.inc({ upstream: this.upstream, class: failure });
  }
}
