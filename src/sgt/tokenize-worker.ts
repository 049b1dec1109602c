/** Worker entry: the artifact's chat template and tokenizer (off-thread.ts). */
import { workerData } from 'node:worker_threads';
import { serveWorkerCalls } from '../internal/worker-pool.js';
import { PromptTooLongError } from './errors.js';
import type { SgtWorkerData } from './off-thread.js';
import { loadSgtTokenizer } from './tokenizer.js';
import type { ChatMessage, ChatTemplateInput, SpecialTokensInContent } from './types.js';

const { dir, manifest } = workerData as SgtWorkerData; // posted by startWorkers, typed there

/** A too-long prompt keeps the fields the caller rebuilds the error from (off-thread.ts). */
function withLengthData(encode: () => number[]): number[] {
  try {
    return encode();
  } catch (error) {
    if (error instanceof PromptTooLongError)
      Object.assign(error, { data: { tokens: error.tokens, limit: error.limit, characters: error.characters } });
    throw error;
  }
}

await serveWorkerCalls(async () => {
  const tokenizer = await loadSgtTokenizer(dir, manifest.vocabSize);
  return {
    encodeChat: ({
      messages,
      special,
      template,
    }: {
      messages: ChatMessage[];
      special: SpecialTokensInContent;
      template: ChatTemplateInput;
    }) => withLengthData(() => tokenizer.encodeChat(messages, manifest.maxSequenceLength, special, template)),
    encodePrompt: ({ text }: { text: string }) =>
      withLengthData(() => tokenizer.encodePrompt(text, manifest.maxSequenceLength)),
    decode: ({ sequences }: { sequences: number[][] }) => sequences.map((ids) => tokenizer.decode(ids)),
  };
});
