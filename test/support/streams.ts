/** Test helpers for Web Streams with chunk boundaries the test controls. */
import { sourceOf, type ByteSource } from '../../src/internal/byte-source.js';

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

/** A Web Stream's or an upstream answer's (ByteSource) text, read to its end. */
export async function collectText(body: ReadableStream<Uint8Array> | ByteSource): Promise<string> {
  const source = sourceOf(body);
  const decoder = new TextDecoder();
  let text = '';
  for (let chunk = await source.read(); chunk !== undefined; chunk = await source.read())
    text += decoder.decode(chunk, { stream: true });
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
