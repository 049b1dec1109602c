import type { DirectBody } from '../../src/http/index.js';
import type { ByteSource } from '../../src/internal/byte-source.js';
import { answerStreamBody, type AnswerStreamOptions } from '../../src/proxy/chat-stream.js';
import { pino } from 'pino';
import type { Logger } from '../../src/logging/index.js';
import { chatChunkMapper, type ChatMappingOptions, type StreamEnd } from '../../src/stream/index.js';

export type ChatStreamOptions = ChatMappingOptions &
  Omit<AnswerStreamOptions, 'onEnd' | 'logger'> & {
    onEnd?: (end: StreamEnd) => void;
    /** Where a throwing `onEnd` is logged; default: nowhere (a test that cares passes its own). */
    logger?: Pick<Logger, 'error'>;
  };

/**
 * The streamed chat answer as the chat route assembles it (chat-completions.ts hands
 * `chatChunkMapper` to `streamResponse`, which runs `answerStreamBody`): vLLM completion events →
 * [decrypt] → chat chunks → SSE.
 */
export function chatStreamBody(
  upstream: ByteSource | ReadableStream<Uint8Array>,
  options: ChatStreamOptions,
): DirectBody {
  const { onEnd, logger, ...settings } = options;
  const report = onEnd ? { onEnd, logger: logger ?? pino({ level: 'silent' }) } : {};
  return answerStreamBody(upstream, chatChunkMapper(options), { ...settings, ...report });
}
