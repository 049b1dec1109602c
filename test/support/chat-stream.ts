import type { DirectBody } from '../../src/http/index.js';
import type { ByteSource } from '../../src/internal/byte-source.js';
import { answerStreamBody, type AnswerStreamOptions } from '../../src/proxy/chat-stream.js';
import { chatChunkMapper, type ChatMappingOptions } from '../../src/stream/index.js';

export interface ChatStreamOptions extends ChatMappingOptions, AnswerStreamOptions {}

/**
 * The streamed chat answer as the chat route assembles it (chat-completions.ts hands
 * `chatChunkMapper` to `streamResponse`, which runs `answerStreamBody`): vLLM completion events →
 * [decrypt] → chat chunks → SSE.
 */
export function chatStreamBody(
  upstream: ByteSource | ReadableStream<Uint8Array>,
  options: ChatStreamOptions,
): DirectBody {
  return answerStreamBody(upstream, chatChunkMapper(options), options);
}
