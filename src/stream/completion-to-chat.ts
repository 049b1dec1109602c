import type { ChatCompletion, ChatCompletionChunk, CompletionChunk } from './chunks.js';

export interface ChatMappingOptions {
  /** The id and model the client sees (the upstream's own id is an implementation detail). */
  id: string;
  model: string;
  includeUsage: boolean;
}

/**
 * Maps vLLM completion chunks, one at a time, to chat completion chunks. The first chunk of each
 * choice carries `delta.role`, as OpenAI's does; the usage chunk (`choices: []`) is relayed only
 * when asked for.
 */
export function chatChunkMapper(options: ChatMappingOptions): (chunk: CompletionChunk) => ChatCompletionChunk[] {
  const started = new Set<number>();
  return (chunk) => {
    const out: ChatCompletionChunk[] = [];
    for (const choice of chunk.choices) {
      if (!started.has(choice.index)) {
        started.add(choice.index);
        out.push(
          chatChunk(options, chunk.created, [
            { index: choice.index, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null },
          ]),
        );
      }
      if (choice.text === '' && choice.finish_reason === null) continue;
      out.push(
        chatChunk(options, chunk.created, [
          {
            index: choice.index,
            delta: { content: choice.text },
            logprobs: null,
            finish_reason: choice.finish_reason ?? null,
          },
        ]),
      );
    }
    if (chunk.choices.length === 0 && chunk.usage && options.includeUsage) {
      out.push({ ...chatChunk(options, chunk.created, []), usage: chunk.usage });
    }
    return out;
  };
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
  const completion: ChatCompletion = {
    id: options.id,
    object: 'chat.completion',
    created: body.created,
    model: options.model,
    choices: body.choices.map((choice) => ({
      index: choice.index,
      message: { role: 'assistant', content: choice.text, refusal: null },
      logprobs: null,
      finish_reason: choice.finish_reason,
    })),
  };
  if (body.usage) completion.usage = body.usage;
  return completion;
}
