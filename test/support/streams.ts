/** Test helpers for Web Streams with chunk boundaries the test controls. */

export function streamOf<T>(items: readonly T[]): ReadableStream<T> {
  let i = 0;
  return new ReadableStream<T>({
    pull(controller) {
      if (i < items.length) controller.enqueue(items[i++]!);
      else controller.close();
    },
  });
}

/** Splits `text`'s UTF-8 bytes at the given byte offsets, so multi-byte characters can be cut. */
export function bytesSplitAt(text: string, offsets: readonly number[]): Uint8Array[] {
  const bytes = new TextEncoder().encode(text);
  const cuts = [0, ...offsets, bytes.length];
  return cuts.slice(1).map((end, i) => bytes.slice(cuts[i], end));
}

/** Every single-byte split: the harshest fixture for a streaming decoder. */
export function bytesOneByOne(text: string): Uint8Array[] {
  return [...new TextEncoder().encode(text)].map((b) => Uint8Array.of(b));
}

export async function collect<T>(stream: ReadableStream<T>): Promise<T[]> {
  const out: T[] = [];
  const reader = stream.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return out;
    out.push(value);
  }
}

export async function collectText(stream: ReadableStream<Uint8Array>): Promise<string> {
  const decoder = new TextDecoder();
  let text = '';
  for (const chunk of await collect(stream)) text += decoder.decode(chunk, { stream: true });
  return text + decoder.decode();
}

/** Parses `data: ...` events out of an SSE body (comments dropped). */
export function sseDataEvents(body: string): string[] {
  return body
    .split(/\r?\n\r?\n/)
    .map((block) =>
      block
        .split(/\r?\n/)
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).trimStart())
        .join('\n'),
    )
    .filter((data) => data !== '');
}
