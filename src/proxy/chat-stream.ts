import type { ByteSource } from '../internal/byte-source.js';
import { chunkOpener, type HpkeRecipientContext } from '../protection/index.js';
import {
  chatChunkMapper,
  type ChatPresenter,
  type CompletionChunk,
  parseCompletionEvent,
  relaySse,
  type ChatMappingOptions,
  type StreamEnd,
} from '../stream/index.js';

export interface ChatStreamOptions<P = unknown> extends ChatMappingOptions {
  /** Set when the proxy holds the key (SGP_OUTPUT_DECRYPTION): each event is opened before mapping. */
  recipient?: HpkeRecipientContext;
  keepAliveIntervalMs: number;
  maxUpstreamEventBytes: number;
  /** Each upstream event, opened, before it is mapped (telemetry: token timing, usage). */
  onChunk?: (chunk: CompletionChunk) => void;
  onEnd?: (end: StreamEnd) => void;
  /** Another API's stream made of the chat chunks (the Responses API); absent: the chat chunks themselves. */
  presenter?: ChatPresenter<P>;
}

/**
 * The streamed chat answer: vLLM completion events → [decrypt] → chat chunks → [presenter] → SSE,
 * one synchronous function per event inside the one relay. The only place this chain is assembled.
 */
export function chatStreamBody<P>(
  upstream: ByteSource | ReadableStream<Uint8Array>,
  options: ChatStreamOptions<P>,
): ReadableStream<Uint8Array> {
  const open = options.recipient ? chunkOpener(options.recipient) : undefined;
  const toChat = chatChunkMapper(options);
  const { onChunk, presenter } = options;
  const relayOptions = {
    keepAliveIntervalMs: options.keepAliveIntervalMs,
    maxEventBytes: options.maxUpstreamEventBytes,
    onEnd: options.onEnd,
  };
  const chatChunks = (data: string) => {
    const parsed = parseCompletionEvent(data);
    const chunk = open ? open(parsed) : parsed;
    onChunk?.(chunk);
    return toChat(chunk);
  };
  if (presenter === undefined) return relaySse(upstream, chatChunks, relayOptions);
  return relaySse(upstream, (data) => presenter.present(chatChunks(data)), { ...relayOptions, dialect: presenter });
}
