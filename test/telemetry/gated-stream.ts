import { completionChunk, sse, type Behaviour } from '../support/scripted-upstream.js';

/** Sends the first token, then the rest once `release` is called: a stream caught in the middle. */
export function gatedStream(rest: readonly string[]): { behaviour: Behaviour; release: () => void } {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  return {
    release,
    behaviour: async (_request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.write(sse(completionChunk('first')));
      await released;
      rest.forEach((token, i) => response.write(sse(completionChunk(token, i === rest.length - 1 ? 'stop' : null))));
      const usage = { prompt_tokens: 9, completion_tokens: 1 + rest.length, total_tokens: 10 + rest.length };
      response.write(
        sse({ id: 'cmpl-up', object: 'text_completion', created: 1, model: 'up-model', choices: [], usage }),
      );
      response.end(sse('[DONE]'));
    },
  };
}

/** Reads the stream until an event with content text has arrived. */
export async function readUntilContent(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<string> {
  const decoder = new TextDecoder();
  let text = '';
  while (!/"content":"[^"]/.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the stream ended before any content: ${text}`);
    text += decoder.decode(value, { stream: true });
  }
  return text;
}

export async function readRest(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<string> {
  const decoder = new TextDecoder();
  let text = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return text + decoder.decode();
    text += decoder.decode(value, { stream: true });
  }
}
