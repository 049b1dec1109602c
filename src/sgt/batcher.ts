/**
 * Micro-batching: concurrent requests are grouped into one call of a batch function (one ONNX
 * Runtime run) and the results handed back one per request.
 *
 * - A p-queue runs the batches, one in ONNX Runtime at a time (which already uses every intra-op
 *   thread). When a batch finishes, the next one is started *before* its results are handed out,
 *   so that the callers' continuations (encoding these results, tokenizing their next requests)
 *   run on the JS thread while ONNX Runtime computes, instead of in between two runs. The queue
 *   therefore allows two jobs: the one running and the previous one handing out its results.
 *   Requests that arrive while a batch runs wait in `pending`.
 * - A batch is formed when the runner is free: from the oldest waiting request (never starved),
 *   plus later ones that fit the size, token and padding rules. Under load that is all the
 *   batching there is: whatever queued while the previous batch ran. When the runner is idle and
 *   the batch could still grow (not full, nothing else waiting), dispatch waits for the next turn
 *   of the event loop (requests submitted together join) or, with `maxWaitMs` > 0, up to that
 *   long for the oldest request. Measured on 2 cores, a 2 ms wait tripled a lone request's
 *   latency at H 256 and bought nothing under load, hence the default 0.
 * - Abort: a request whose signal aborts is removed from `pending` (if its batch has not started)
 *   and its promise rejects with `signal.reason` at once; a result computed later is discarded.
 * - Back-pressure: at most `maxQueued` waiting requests; the next one is refused with
 *   SgtOverloadedError carrying an estimate of how long the queue takes to drain.
 */
import PQueue from 'p-queue';
import { SgtOverloadedError } from './errors.js';
import type { BatchPadding } from './types.js';

export interface BatcherOptions {
  readonly maxBatchSize: number;
  readonly maxBatchTokens: number;
  readonly maxWaitMs: number;
  readonly maxQueued: number;
  readonly padding: BatchPadding;
}

/** One request as the batch function sees it. */
export interface BatchItem<I> {
  readonly input: I;
  /** Length in tokens: what padding and the token budget count. */
  readonly tokens: number;
  /** `performance.now()` when the request was submitted. */
  readonly submittedAt: number;
}

/** Runs one batch; must return exactly one output per item, in order. */
export type BatchFunction<I, O> = (items: readonly BatchItem<I>[]) => Promise<O[]>;

interface Waiter<I, O> extends BatchItem<I> {
  readonly resolve: (output: O) => void;
  readonly reject: (reason: unknown) => void;
  readonly signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  started: boolean;
  settled: boolean;
}

/** Smallest bucket: sequences up to 16 tokens share one (their padding is cheap anyway). */
const MIN_BUCKET_TOKENS = 16;
/** Weight of the newest batch in the throughput estimate behind Retry-After. */
const THROUGHPUT_SMOOTHING = 0.2;
const MAX_RETRY_AFTER_SECONDS = 60;

export class MicroBatcher<I, O> {
  private readonly pending: Waiter<I, O>[] = [];
  private readonly queue = new PQueue({ concurrency: 2 });
  /** A batch is in `runBatch` (the one-at-a-time rule; the queue's second slot only hands out results). */
  private running = false;
  private timer: { cancel: () => void } | undefined;
  /** The current wait for company has run out: dispatch whatever can go. */
  private waitEnded = false;
  private closed = false;
  private runningTokens = 0;
  /** Tokens per second of recent batches (0 until one has completed). */
  private throughput = 0;

  constructor(
    private readonly runBatch: BatchFunction<I, O>,
    private readonly options: BatcherOptions,
  ) {}

  /** Requests waiting for a batch (not counting the one running). */
  get queued(): number {
    return this.pending.length;
  }

  submit(input: I, tokens: number, signal?: AbortSignal): Promise<O> {
    if (this.closed) return Promise.reject(new Error('this SGT has been closed'));
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.pending.length >= this.options.maxQueued) {
      return Promise.reject(
        new SgtOverloadedError(this.pending.length, this.options.maxQueued, this.retryAfterSeconds()),
      );
    }
    return new Promise<O>((resolve, reject) => {
      const waiter: Waiter<I, O> = {
        input,
        tokens,
        submittedAt: performance.now(),
        resolve,
        reject,
        signal,
        onAbort: undefined,
        started: false,
        settled: false,
      };
      if (signal !== undefined) {
        waiter.onAbort = () => this.abort(waiter);
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.pending.push(waiter);
      this.schedule();
    });
  }

  /** Refuses new requests, rejects the waiting ones, and waits for the running batch to finish. */
  async close(reason: Error = new Error('this SGT has been closed')): Promise<void> {
    this.closed = true;
    this.clearTimer();
    for (const waiter of this.pending.splice(0)) this.settle(waiter, () => waiter.reject(reason));
    await this.queue.onIdle();
  }

  private abort(waiter: Waiter<I, O>): void {
    if (!waiter.started) {
      const index = this.pending.indexOf(waiter);
      if (index >= 0) this.pending.splice(index, 1);
    }
    this.settle(waiter, () => waiter.reject(waiter.signal?.reason));
    this.schedule();
  }

  private settle(waiter: Waiter<I, O>, action: () => void): void {
    if (waiter.settled) return;
    waiter.settled = true;
    if (waiter.onAbort !== undefined) waiter.signal?.removeEventListener('abort', waiter.onAbort);
    action();
  }

  private schedule(): void {
    if (this.closed || this.running) return; // the running batch reschedules when done
    const oldest = this.pending[0];
    if (oldest === undefined) {
      this.clearTimer();
      return;
    }
    const { items, full } = this.select();
    // Waiting only helps a batch that could still grow; with others left out (another length
    // bucket, over the token budget) it would only idle the runner.
    const canGrow = !full && items.length === this.pending.length;
    const waited = performance.now() - oldest.submittedAt;
    const waitOver = this.waitEnded || (this.options.maxWaitMs > 0 && waited >= this.options.maxWaitMs);
    if (!canGrow || waitOver) {
      this.clearTimer();
      this.dispatch(items);
    } else if (this.timer === undefined) {
      const fire = (): void => {
        this.timer = undefined;
        this.waitEnded = true;
        this.schedule();
      };
      if (this.options.maxWaitMs === 0) {
        const handle = setImmediate(fire);
        this.timer = { cancel: () => clearImmediate(handle) };
      } else {
        const handle = setTimeout(fire, this.options.maxWaitMs - waited);
        this.timer = { cancel: () => clearTimeout(handle) };
      }
    }
  }

  /**
   * The next batch: the oldest request, then (in arrival order) every later one that fits the
   * size and token limits and, with `buckets`, has the oldest one's length bucket. `full` says a
   * limit was reached, so waiting longer cannot make the batch bigger.
   */
  private select(): { items: Waiter<I, O>[]; full: boolean } {
    const { maxBatchSize, maxBatchTokens, padding } = this.options;
    const items: Waiter<I, O>[] = [];
    let longest = 0;
    const bucket = padding === 'buckets' ? bucketOf(this.pending[0]?.tokens ?? 0) : 0;
    for (const waiter of this.pending) {
      if (items.length === maxBatchSize) return { items, full: true };
      if (padding === 'buckets' && bucketOf(waiter.tokens) !== bucket) continue;
      const padded = Math.max(longest, waiter.tokens) * (items.length + 1);
      if (items.length > 0 && padded > maxBatchTokens) return { items, full: true };
      items.push(waiter);
      longest = Math.max(longest, waiter.tokens);
    }
    return { items, full: items.length === maxBatchSize };
  }

  private dispatch(items: Waiter<I, O>[]): void {
    const chosen = new Set(items);
    const rest = this.pending.filter((w) => !chosen.has(w));
    this.pending.splice(0, this.pending.length, ...rest);
    for (const waiter of items) waiter.started = true;
    const tokens = items.reduce((n, w) => n + w.tokens, 0);
    this.running = true;
    this.runningTokens = tokens;
    void this.queue.add(async () => {
      const started = performance.now();
      let outputs: O[] | undefined;
      let failure: unknown;
      try {
        outputs = await this.runBatch(items);
        if (outputs.length !== items.length)
          throw new Error(`batch function returned ${outputs.length} results for ${items.length} requests`);
        this.observe(tokens, performance.now() - started);
      } catch (error) {
        outputs = undefined;
        failure = error;
      }
      this.running = false;
      this.runningTokens = 0;
      // What queued during the run has waited long enough: the next batch starts now, before these
      // results are handed out.
      this.waitEnded = true;
      this.schedule();
      items.forEach((waiter, index) =>
        this.settle(waiter, () =>
          outputs === undefined ? waiter.reject(failure) : waiter.resolve(outputs[index] as O),
        ),
      );
    });
  }

  private observe(tokens: number, ms: number): void {
    const rate = tokens / Math.max(ms / 1000, 1e-6);
    this.throughput = this.throughput === 0 ? rate : this.throughput + THROUGHPUT_SMOOTHING * (rate - this.throughput);
  }

  private retryAfterSeconds(): number {
    if (this.throughput === 0) return 1;
    const backlog = this.runningTokens + this.pending.reduce((n, w) => n + w.tokens, 0);
    return Math.min(MAX_RETRY_AFTER_SECONDS, Math.max(1, Math.ceil(backlog / this.throughput)));
  }

  private clearTimer(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.waitEnded = false;
  }
}

/** Power-of-two length class: 1-16 → 4, 17-32 → 5, 33-64 → 6, … */
export function bucketOf(tokens: number): number {
  return Math.ceil(Math.log2(Math.max(tokens, MIN_BUCKET_TOKENS)));
}
