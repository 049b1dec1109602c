import { sourceOf, type ByteSource } from './byte-source.js';

/**
 * Reads a body until it ends or passes `limit` bytes, whichever comes first, and releases it: the
 * one size-capped reader behind the proxy's request bodies, the reference server's, and upstream
 * answers and error bodies. `complete` is false when there was more than `limit`; `bytes` is then
 * cut at it. A read that fails rejects with the body's own error, for the caller to name.
 */
export async function readAtMost(
  body: ByteSource | ReadableStream<Uint8Array> | null,
  limit: number,
): Promise<{ bytes: Uint8Array; complete: boolean }> {
  if (!body) return { bytes: new Uint8Array(0), complete: true };
  const source = sourceOf(body);
  const parts: Uint8Array[] = [];
  let size = 0;
  let complete = false;
  try {
    while (size <= limit) {
      const chunk = await source.read();
      if (chunk === undefined) {
        complete = true;
        break;
      }
      parts.push(chunk);
      size += chunk.byteLength;
    }
  } finally {
    await source.cancel().catch(() => undefined);
  }
  const bytes = Buffer.concat(parts);
  return complete && size <= limit ? { bytes, complete: true } : { bytes: bytes.subarray(0, limit), complete: false };
}
