/**
 * Reads a body until it ends or passes `limit` bytes, whichever comes first, and releases it: the
 * one size-capped reader behind the proxy's request bodies, the reference server's, and upstream
 * error bodies. `complete` is false when there was more than `limit`; `bytes` is then cut at it.
 * A read that fails rejects with the stream's own error, for the caller to name.
 */
export async function readAtMost(
  body: ReadableStream<Uint8Array> | null,
  limit: number,
): Promise<{ bytes: Uint8Array; complete: boolean }> {
  if (!body) return { bytes: new Uint8Array(0), complete: true };
  const reader = body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  let complete = false;
  try {
    while (size <= limit) {
      const { value, done } = await reader.read();
      if (done) {
        complete = true;
        break;
      }
      parts.push(value);
      size += value.byteLength;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  const bytes = Buffer.concat(parts);
  return complete && size <= limit ? { bytes, complete: true } : { bytes: bytes.subarray(0, limit), complete: false };
}
