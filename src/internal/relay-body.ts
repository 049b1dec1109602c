/**
 * A body passed through unchanged, one chunk per pull (no buffering ahead of the reader), with the
 * hooks its relays need: the upstream client's idle deadline and error mapping, the output
 * protection middleware's release of its registry entry, the gateway's error mapping.
 */
export interface RelayBodyHooks {
  /** Called once, when the body ended, failed or was cancelled. */
  onSettled?: () => void;
  /** The error the relayed body fails with, given the source's (default: the same). */
  mapError?: (err: unknown) => unknown;
  /** Wraps each read, e.g. in a deadline. */
  aroundRead?: <T>(read: () => Promise<T>) => Promise<T>;
  /** Called on cancel, before the source is cancelled with the same reason. */
  onCancel?: (reason: unknown) => void;
}

type ReadResult = Awaited<ReturnType<ReadableStreamDefaultReader<Uint8Array>['read']>>;

export function relayBody(body: ReadableStream<Uint8Array>, hooks: RelayBodyHooks = {}): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let settled = false;
  const settle = (): void => {
    if (settled) return;
    settled = true;
    hooks.onSettled?.();
  };
  const read = (): Promise<ReadResult> => reader.read();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let result: ReadResult;
        try {
          result = await (hooks.aroundRead ? hooks.aroundRead(read) : read());
        } catch (err) {
          settle();
          throw hooks.mapError ? hooks.mapError(err) : err;
        }
        if (result.done) {
          settle();
          controller.close();
        } else {
          controller.enqueue(result.value);
        }
      },
      async cancel(reason) {
        settle();
        hooks.onCancel?.(reason);
        await reader.cancel(reason).catch(() => undefined);
      },
    },
    { highWaterMark: 0 },
  );
}
