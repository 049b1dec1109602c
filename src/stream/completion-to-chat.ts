import { ChoiceOutput, chatDeltaOf, chatMessageOf, wholeChoiceOutput, type OutputPlan } from '../chat-output/index.js';
import { chatLogprobs, chatLogprobsOf, sealedChatLogprobs } from './chat-logprobs.js';
import type {
  ChatChunkChoice,
  ChatCompletion,
  ChatCompletionChunk,
  ChatTokenLogprob,
  CompletionChoice,
  CompletionChunk,
  CompletionLogprobs,
} from '../chat-output/chunks.js';

export interface ChatMappingOptions {
  /** The id and model the client sees (the upstream's own id is an implementation detail). */
  id: string;
  model: string;
  includeUsage: boolean;
  /** How the text becomes reasoning, content and tool calls; absent: all content. */
  output?: OutputPlan;
  /** Set when the request asked for `logprobs`: how many `top_logprobs` per token (0 to 20). */
  topLogprobs?: number;
  /**
   * The answer is ciphertext for the client (pass-through): logprobs are relayed sealed, in
   * their sealed order (`sealedChatLogprobs`), on the chat chunk of their own upstream chunk, and
   * a `stop_reason` with them.
   */
  sealed?: boolean;
}

const PLAIN: OutputPlan = { parallelToolCalls: true };

/**
 * Maps vLLM completion chunks, one at a time, to chat completion chunks. The first chunk of each
 * choice carries `delta.role`, as OpenAI's does; each output event (content, reasoning, a call's
 * start or argument text) is one chunk, the last of a choice carrying its finish reason; the usage
 * chunk (`choices: []`) is relayed only when asked for.
 */
export function chatChunkMapper(options: ChatMappingOptions): (chunk: CompletionChunk) => ChatCompletionChunk[] {
  const toChat = logprobsMapping(options);
  const outputs = new Map<number, ChoiceOutput>();
  // A choice's token logprobs not yet sent: they go on its next chunk (text held back by a parser has none yet).
  const pendingLogprobs = new Map<number, ChatTokenLogprob[]>();
  return (chunk) => {
    const out: ChatCompletionChunk[] = [];
    const push = (choice: ChatChunkChoice) => out.push(chatChunk(options, chunk.created, [choice]));
    for (const choice of chunk.choices) {
      if (options.topLogprobs !== undefined && choice.logprobs) {
        const pending = pendingLogprobs.get(choice.index) ?? [];
        pending.push(...toChat(choice.logprobs));
        pendingLogprobs.set(choice.index, pending);
      }
      let output = outputs.get(choice.index);
      if (output === undefined) {
        output = new ChoiceOutput(options.output ?? PLAIN);
        outputs.set(choice.index, output);
        push({ index: choice.index, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null });
      }
      const events = output.feed(choice.text);
      let finish: string | null = null;
      if (choice.finish_reason !== null) {
        const end = output.end(choice.finish_reason);
        events.push(...end.events);
        finish = end.finish;
      }
      // Sealed logprobs cannot wait for a later chunk: that chunk's text, sealed after them, would be opened first.
      const flush = options.sealed === true && pendingLogprobs.has(choice.index);
      if ((finish !== null || flush) && events.length === 0) events.push({ kind: 'content', text: '' });
      for (const [i, event] of events.entries()) {
        const last = i === events.length - 1;
        const pending = pendingLogprobs.get(choice.index);
        pendingLogprobs.delete(choice.index);
        const logprobs = options.topLogprobs === undefined ? null : chatLogprobsOf(pending ?? []);
        push({
          index: choice.index,
          delta: chatDeltaOf(event),
          logprobs,
          finish_reason: last ? finish : null,
          ...(last && finish !== null ? sealedStopReason(options, choice) : {}),
        });
      }
    }
    if (chunk.choices.length === 0 && chunk.usage && options.includeUsage) {
      out.push({ ...chatChunk(options, chunk.created, []), usage: chunk.usage });
    }
    return out;
  };
}

/**
 * A sealed string `stop_reason` (v2) is a field of the client's sequence: dropping it would make
 * the next field of another choice (n > 1) fail to open, so pass-through relays it, last in its
 * choice as it was sealed. When the proxy reads the answer it is left out, as before.
 */
function sealedStopReason(
  options: Pick<ChatMappingOptions, 'sealed'>,
  choice: CompletionChoice,
): { stop_reason?: string | number } {
  if (options.sealed !== true || choice.stop_reason == null) return {};
  return { stop_reason: choice.stop_reason };
}

function logprobsMapping(
  options: Pick<ChatMappingOptions, 'topLogprobs' | 'sealed'>,
): (logprobs: CompletionLogprobs) => ChatTokenLogprob[] {
  if (options.sealed === true) return sealedChatLogprobs;
  const top = options.topLogprobs ?? 0;
  return (logprobs) => chatLogprobs(logprobs, top);
}

function chatChunk(
  options: ChatMappingOptions,
  created: number,
  choices: ChatCompletionChunk['choices'],
): ChatCompletionChunk {
  return {
    id: options.id,
    object: 'chat.completion.chunk',
    created,
    model: options.model,
    choices,
  };
}

export function completionToChatCompletion(
  body: CompletionChunk,
  options: Omit<ChatMappingOptions, 'includeUsage'>,
): ChatCompletion {
  const toChat = logprobsMapping(options);
  const completion: ChatCompletion = {
    id: options.id,
    object: 'chat.completion',
    created: body.created,
    model: options.model,
    choices: body.choices.map((choice) => {
      const whole = wholeChoiceOutput(options.output ?? PLAIN, choice.text, choice.finish_reason);
      return {
        index: choice.index,
        message: chatMessageOf(whole),
        logprobs:
          options.topLogprobs === undefined ? null : chatLogprobsOf(choice.logprobs ? toChat(choice.logprobs) : []),
        finish_reason: whole.finish,
        ...sealedStopReason(options, choice),
      };
    }),
  };
  if (body.usage) completion.usage = body.usage;
  return completion;
}
