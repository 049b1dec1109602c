import { DecryptionError } from '../protection/index.js';
import type { TransformTiming } from '../sgt/index.js';
import { upstreamFailureClass, type UpstreamPhase } from './failures.js';
import type { StreamOutcome } from './metrics.js';
import type { RequestTelemetry } from './request.js';
import { SpanKind, childContext, endSpan, type Attributes, type Span } from './tracing.js';

/** What a chat request asks of the model, as GenAI span attributes take it (never its messages). */
export interface GenAiRequestFacts {
  maxTokens: number;
  temperature?: number | null | undefined;
  topP?: number | null | undefined;
  seed?: number | null | undefined;
  choices?: number | null | undefined;
  presencePenalty?: number | null | undefined;
  frequencyPenalty?: number | null | undefined;
  stream: boolean;
  /** The id the client gets (`chatcmpl-…`). */
  responseId: string;
}

/** The parts of an upstream completion chunk telemetry reads: finish reasons and usage, never the text. */
interface ChunkFacts {
  readonly choices: readonly { readonly text: string; readonly finish_reason: string | null }[];
  readonly usage?: { readonly prompt_tokens: number; readonly completion_tokens: number } | null;
}

export interface StreamObserver {
  /** Per upstream event, on the relay's hot path: a few comparisons, one histogram observation per token. */
  onChunk(chunk: ChunkFacts): void;
  onEnd(end: { outcome: StreamOutcome; error?: unknown }): void;
}

/**
 * The GenAI view of one chat completion: its child spans (transform, upstream call, stream) and
 * the chat metrics. Attributes follow the OpenTelemetry GenAI semantic conventions; no prompt or
 * answer text is ever recorded.
 */
export class ChatTelemetry {
  private readonly finishReasons = new Set<string>();

  constructor(
    private readonly request: RequestTelemetry,
    private readonly operation: string,
    private readonly model: string,
  ) {}

  describe(facts: GenAiRequestFacts): void {
    const attributes: Attributes = {
      'gen_ai.operation.name': this.operation,
      'gen_ai.request.model': this.model,
      'gen_ai.request.max_tokens': facts.maxTokens,
      'gen_ai.response.id': facts.responseId,
      'sgp.stream': facts.stream,
    };
    const optional: [string, number | null | undefined][] = [
      ['gen_ai.request.temperature', facts.temperature],
      ['gen_ai.request.top_p', facts.topP],
      ['gen_ai.request.seed', facts.seed],
      ['gen_ai.request.choice.count', facts.choices],
      ['gen_ai.request.presence_penalty', facts.presencePenalty],
      ['gen_ai.request.frequency_penalty', facts.frequencyPenalty],
    ];
    for (const [name, value] of optional) if (value !== undefined && value !== null) attributes[name] = value;
    this.request.span?.setAttributes(attributes);
  }

  /** The prompt through the SGT, as the `sgt.transform` span and the transform metrics. */
  async transform<T extends { tokens: number; timing?: TransformTiming | undefined }>(
    run: () => Promise<T>,
  ): Promise<T> {
    const span = this.child('sgt.transform', SpanKind.INTERNAL);
    const started = performance.now();
    try {
      const prompt = await run();
      const { metrics } = this.request;
      metrics.transformDuration.observe((performance.now() - started) / 1000);
      metrics.promptTokens.inc(prompt.tokens);
      this.request.span?.setAttribute('gen_ai.usage.input_tokens', prompt.tokens);
      span?.setAttribute('sgp.transform.prompt_tokens', prompt.tokens);
      if (prompt.timing) {
        metrics.transformQueueWait.observe(prompt.timing.queuedMs / 1000);
        metrics.transformBatchSize.observe(prompt.timing.batchSize);
        span?.setAttributes({
          'sgp.transform.batch_size': prompt.timing.batchSize,
          'sgp.transform.queued_ms': prompt.timing.queuedMs,
          'sgp.transform.run_ms': prompt.timing.runMs,
        });
      }
      endSpan(span);
      return prompt;
    } catch (err) {
      endSpan(span, err);
      throw err;
    }
  }

  /**
   * The upstream request until its answer's status, as a CLIENT span whose context travels
   * upstream in `traceparent`. `run` gets those headers to add.
   */
  async upstreamCall<T extends { status: number }>(
    upstreamOperation: string,
    run: (traceHeaders: Record<string, string>) => Promise<T>,
  ): Promise<T> {
    const span = this.child(`${upstreamOperation} ${this.model}`, SpanKind.CLIENT, {
      'gen_ai.operation.name': upstreamOperation,
      'gen_ai.request.model': this.model,
      ...this.request.upstreamAttributes,
    });
    try {
      const answer = await run(this.request.tracing.headersFor(span, this.request.parent));
      span?.setAttribute('http.response.status_code', answer.status);
      endSpan(span);
      return answer;
    } catch (err) {
      this.failed(err, 'answer');
      endSpan(span, err);
      throw err;
    }
  }

  /** A non-stream answer, read and opened: its usage and finish reasons. */
  answered(body: ChunkFacts): void {
    for (const choice of body.choices) if (choice.finish_reason !== null) this.finishReasons.add(choice.finish_reason);
    this.recordResponse(body);
  }

  /** Counts what the failure says about the upstream or output protection; the error itself is rethrown by the caller. */
  failed(error: unknown, phase: UpstreamPhase): void {
    const { metrics } = this.request;
    if (error instanceof DecryptionError) {
      metrics.decryptionFailures.inc();
      return;
    }
    const failure = upstreamFailureClass(error, phase);
    if (failure !== undefined) metrics.upstreamFailed(failure);
  }

  /** A streamed answer begins: the in-flight gauge, the `chat.stream` span, per-token timing. */
  streamStarted(): StreamObserver {
    const { metrics } = this.request;
    this.request.streamStarted();
    metrics.streamsInFlight.inc();
    const span = this.child('chat.stream', SpanKind.INTERNAL);
    const arrived = this.request.startedAt;
    let last = 0;
    let usage: ChunkFacts['usage'];
    let tokenEvents = 0;
    return {
      onChunk: (chunk) => {
        if (chunk.usage) usage = chunk.usage;
        let text = false;
        for (const choice of chunk.choices) {
          if (choice.text !== '') text = true;
          if (choice.finish_reason !== null) this.finishReasons.add(choice.finish_reason);
        }
        if (!text) return;
        const now = performance.now();
        if (last === 0) {
          metrics.timeToFirstToken.observe((now - arrived) / 1000);
          span?.addEvent('first_token');
        } else {
          metrics.interTokenGap.observe((now - last) / 1000);
        }
        last = now;
        tokenEvents += 1;
      },
      onEnd: (end) => {
        metrics.streamsInFlight.dec();
        metrics.streams.inc({ outcome: end.outcome });
        if (end.error !== undefined) this.failed(end.error, 'body');
        this.recordResponse({ choices: [], usage });
        span?.setAttributes({ 'sgp.stream.outcome': end.outcome, 'sgp.stream.token_events': tokenEvents });
        endSpan(span, end.error);
        this.request.streamEnded(end.error);
      },
    };
  }

  private recordResponse(body: ChunkFacts): void {
    const attributes: Attributes = { 'gen_ai.response.finish_reasons': [...this.finishReasons] };
    if (body.usage) {
      this.request.metrics.completionTokens.inc(body.usage.completion_tokens);
      attributes['gen_ai.usage.output_tokens'] = body.usage.completion_tokens;
    }
    this.request.span?.setAttributes(attributes);
  }

  private child(name: string, kind: SpanKind, attributes?: Attributes): Span | undefined {
    const { tracing, span, parent } = this.request;
    return tracing.start(name, kind, childContext(parent, span), attributes);
  }
}
