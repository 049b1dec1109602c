/**
 * Waits `ms`, or less if `signal` aborts first. Resolves `true` when the time passed and `false`
 * when aborted — never rejects, so a cancelled stream leaves no unhandled rejection behind — and
 * clears its timer either way, so an abandoned generation holds no timer.
 */
export function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  if (ms <= 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
