import type { DirectBody } from '../http/index.js';
import type { ByteSource } from '../internal/byte-source.js';
import { chunkOpener, type HpkeRecipientContext } from '../protection/index.js';
import {
  type CompletionChunk,
  type EndReport,
  parseCompletionEvent,
  relaySse,
  type SseDialect,
} from '../stream/index.js';

export type AnswerStreamOptions<P = unknown> = AnswerSettings<P> & EndReport;

interface AnswerSettings<P> {
  /** Set when the proxy holds the key (SGP_OUTPUT_DECRYPTION): each event is opened before mapping. */
  recipient?: HpkeRecipientContext;
  keepAliveIntervalMs: number;
  maxUpstreamEventBytes: number;
  /** Each upstream event, opened, before it is mapped (telemetry: token timing, usage). */
  onChunk?: (chunk: CompletionChunk) => void;
  /** How the client's SSE is written; absent: chat and completions' (`data:` lines, `[DONE]`). */
  dialect?: SseDialect<P>;
}

/**
 * A streamed answer: vLLM completion events → [decrypt] → `toClient` (chat chunks, completion
 * chunks, Responses events) → SSE, one synchronous function per event inside the one relay. The
 * only place this chain is assembled.
 */
export function answerStreamBody<P>(
  upstream: ByteSource | ReadableStream<Uint8Array>,
  toClient: (chunk: CompletionChunk) => readonly P[],
  options: AnswerStreamOptions<P>,
): DirectBody {
  const open = options.recipient ? chunkOpener(options.recipient) : undefined;
  const { onChunk } = options;
  return relaySse(
    upstream,
    (data) => {
      const parsed = parseCompletionEvent(data);
      const chunk = open ? open(parsed) : parsed;
      onChunk?.(chunk);
      return toClient(chunk);
    },
    {
      keepAliveIntervalMs: options.keepAliveIntervalMs,
      maxEventBytes: options.maxUpstreamEventBytes,
      ...endReport(options),
      ...(options.dialect ? { dialect: options.dialect } : {}),
    },
  );
}

/** The caller's end report, without the other options (so the union's two shapes stay apart). */
function endReport(report: EndReport): EndReport {
  return report.onEnd ? { onEnd: report.onEnd, logger: report.logger } : {};
}
