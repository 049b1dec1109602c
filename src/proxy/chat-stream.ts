import { chunkOpener, type HpkeRecipientContext } from '../protection/index.js';
import {
  chatChunkMapper,
  parseCompletionEvent,
  relaySse,
  type ChatMappingOptions,
  type StreamEnd,
} from '../stream/index.js';

export interface ChatStreamOptions extends ChatMappingOptions {
  /** Set when the proxy holds the key (SGP_OUTPUT_DECRYPTION): each event is opened before mapping. */
  recipient?: HpkeRecipientContext;
  keepAliveIntervalMs: number;
  maxUpstreamEventBytes: number;
  onEnd?: (end: StreamEnd) => void;
}

/**
 * The streamed chat answer: vLLM completion events → [decrypt] → chat chunks → SSE, one
 * synchronous function per event inside the one relay. The only place this chain is assembled.
 */
export function chatStreamBody(
  upstream: ReadableStream<Uint8Array>,
  options: ChatStreamOptions,
): ReadableStream<Uint8Array> {
  const open = options.recipient ? chunkOpener(options.recipient) : undefined;
  const toChat = chatChunkMapper(options);
  return relaySse(
    upstream,
    (data) => {
      const chunk = parseCompletionEvent(data);
      return toChat(open ? open(chunk) : chunk);
    },
    {
      keepAliveIntervalMs: options.keepAliveIntervalMs,
      maxEventBytes: options.maxUpstreamEventBytes,
      onEnd: options.onEnd,
    },
  );
}
