/**
 * The micro-batcher on its own, with a batch function the test controls: every batch waits on a
 * deferred promise, so the tests decide when a batch finishes. No sleeps anywhere.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MicroBatcher, bucketOf, type BatchItem, type BatcherOptions } from '../../src/sgt/batcher.js';
import { SgtOverloadedError } from '../../src/sgt/index.js';

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (reason: unknown) => void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A batch function that records each batch and finishes it when the test says so. */
function controlledRunner() {
  const batches: { inputs: string[]; done: Deferred<void> }[] = [];
  const started = vi.fn();
  const run = async (items: readonly BatchItem<string>[]): Promise<string[]> => {
    const batch = { inputs: items.map((i) => i.input), done: deferred<void>() };
    batches.push(batch);
    started(batch.inputs);
    await batch.done.promise;
    return items.map((i) => `out:${i.input}`);
  };
  /** Resolves once `n` batches have started. */
  const waitForBatches = (n: number) => vi.waitFor(() => expect(batches.length).toBeGreaterThanOrEqual(n));
  return { batches, run, waitForBatches, started };
}

const OPTIONS: BatcherOptions = {
  maxBatchSize: 4,
  maxBatchTokens: 1000,
  maxWaitMs: 0,
  maxQueued: 8,
  padding: 'longest',
};

afterEach(() => {
  vi.useRealTimers();
});

describe('MicroBatcher', () => {
  it('groups requests submitted together into one batch and hands each its own result', async () => {
    const runner = controlledRunner();
    const batcher = new MicroBatcher(runner.run, OPTIONS);
    const results = ['a', 'b', 'c'].map((x) => batcher.submit(x, 10));
    await runner.waitForBatches(1);
    expect(runner.batches[0]?.inputs).toEqual(['a', 'b', 'c']);
    runner.batches[0]?.done.resolve();
    expect(await Promise.all(results)).toEqual(['out:a', 'out:b', 'out:c']);
  });

  it('batches what queued while the previous batch ran, at most maxBatchSize, oldest first', async () => {
    const runner = controlledRunner();
    const batcher = new MicroBatcher(runner.run, OPTIONS);
    const first = batcher.submit('r0', 10);
    await runner.waitForBatches(1);
    const rest = Array.from({ length: 6 }, (_, i) => batcher.submit(`r${i + 1}`, 10));
    expect(batcher.queued).toBe(6);
    runner.batches[0]?.done.resolve();
    await runner.waitForBatches(2);
    expect(runner.batches[1]?.inputs).toEqual(['r1', 'r2', 'r3', 'r4']);
    runner.batches[1]?.done.resolve();
    await runner.waitForBatches(3);
    expect(runner.batches[2]?.inputs).toEqual(['r5', 'r6']);
    runner.batches[2]?.done.resolve();
    expect(await Promise.all([first, ...rest])).toEqual(
      ['r0', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6'].map((x) => `out:${x}`),
    );
  });

  it('starts the next batch before handing out the previous batch’s results (callers’ work overlaps the run)', async () => {
    const runner = controlledRunner();
    const batcher = new MicroBatcher(runner.run, OPTIONS);
    const first = batcher.submit('a', 10);
    await runner.waitForBatches(1);
    const second = batcher.submit('b', 10);
    const batchesWhenFirstResolved = first.then(() => runner.batches.length);
    runner.batches[0]?.done.resolve();
    expect(await batchesWhenFirstResolved).toBe(2);
    runner.batches[1]?.done.resolve();
    expect(await second).toBe('out:b');
  });

  it('keeps a batch within maxBatchTokens (B × longest), but runs an oversized request alone', async () => {
    const runner = controlledRunner();
    const batcher = new MicroBatcher(runner.run, { ...OPTIONS, maxBatchTokens: 100 });
    const all = [batcher.submit('big', 500), batcher.submit('a', 30), batcher.submit('b', 50), batcher.submit('c', 40)];
    await runner.waitForBatches(1);
    expect(runner.batches[0]?.inputs).toEqual(['big']);
    runner.batches[0]?.done.resolve();
    await runner.waitForBatches(2);
    // a+b: 2 × 50 = 100 fits; adding c would make 3 × 50 = 150.
    expect(runner.batches[1]?.inputs).toEqual(['a', 'b']);
    runner.batches[1]?.done.resolve();
    await runner.waitForBatches(3);
    expect(runner.batches[2]?.inputs).toEqual(['c']);
    runner.batches[2]?.done.resolve();
    await Promise.all(all);
  });

  it('with buckets, batches only requests of the oldest one’s power-of-two length class', async () => {
    expect([1, 16, 17, 32, 33, 64, 65, 4096].map(bucketOf)).toEqual([4, 4, 5, 5, 6, 6, 7, 12]);
    const runner = controlledRunner();
    const batcher = new MicroBatcher(runner.run, { ...OPTIONS, padding: 'buckets' });
    const blocker = batcher.submit('blocker', 10);
    await runner.waitForBatches(1);
    const all = [
      batcher.submit('s1', 20),
      batcher.submit('long', 400),
      batcher.submit('s2', 30),
      batcher.submit('s3', 10),
    ];
    runner.batches[0]?.done.resolve();
    await runner.waitForBatches(2);
    expect(runner.batches[1]?.inputs).toEqual(['s1', 's2']); // 17-32; s3 (≤16) and long are other buckets
    runner.batches[1]?.done.resolve();
    await runner.waitForBatches(3);
    expect(runner.batches[2]?.inputs).toEqual(['long']); // now the oldest: never starved by shorter ones
    runner.batches[2]?.done.resolve();
    await runner.waitForBatches(4);
    expect(runner.batches[3]?.inputs).toEqual(['s3']);
    runner.batches[3]?.done.resolve();
    await Promise.all([blocker, ...all]);
  });

  it('an idle batcher waits up to maxWaitMs for company, and not at all once the batch is full', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const runner = controlledRunner();
    const batcher = new MicroBatcher(runner.run, { ...OPTIONS, maxWaitMs: 50 });
    const a = batcher.submit('a', 10);
    await vi.advanceTimersByTimeAsync(30);
    expect(runner.started).not.toHaveBeenCalled();
    const b = batcher.submit('b', 10);
    await vi.advanceTimersByTimeAsync(20); // 50 ms after a
    expect(runner.started).toHaveBeenCalledWith(['a', 'b']);
    runner.batches[0]?.done.resolve();
    await Promise.all([a, b]);
    const full = ['w', 'x', 'y', 'z'].map((x) => batcher.submit(x, 10));
    await vi.advanceTimersByTimeAsync(0);
    expect(runner.started).toHaveBeenLastCalledWith(['w', 'x', 'y', 'z']);
    runner.batches[1]?.done.resolve();
    await Promise.all(full);
  });

  it('drops a request whose signal aborts before its batch runs; it rejects with the reason, the others complete', async () => {
    const runner = controlledRunner();
    const batcher = new MicroBatcher(runner.run, OPTIONS);
    const blocker = batcher.submit('blocker', 10);
    await runner.waitForBatches(1);
    const controller = new AbortController();
    const keep1 = batcher.submit('keep1', 10);
    const gone = batcher.submit('gone', 10, controller.signal);
    const keep2 = batcher.submit('keep2', 10);
    const reason = new Error('client disconnected');
    controller.abort(reason);
    await expect(gone).rejects.toBe(reason);
    expect(batcher.queued).toBe(2);
    runner.batches[0]?.done.resolve();
    await runner.waitForBatches(2);
    expect(runner.batches[1]?.inputs).toEqual(['keep1', 'keep2']);
    runner.batches[1]?.done.resolve();
    expect(await Promise.all([blocker, keep1, keep2])).toEqual(['out:blocker', 'out:keep1', 'out:keep2']);
  });

  it('rejects an already-aborted signal at once, and an abort during the run discards that result only', async () => {
    const runner = controlledRunner();
    const batcher = new MicroBatcher(runner.run, OPTIONS);
    await expect(batcher.submit('x', 10, AbortSignal.abort('gone already'))).rejects.toBe('gone already');
    const controller = new AbortController();
    const aborted = batcher.submit('a', 10, controller.signal);
    const other = batcher.submit('b', 10);
    await runner.waitForBatches(1);
    controller.abort('late');
    await expect(aborted).rejects.toBe('late');
    runner.batches[0]?.done.resolve();
    expect(await other).toBe('out:b');
    expect(runner.batches).toHaveLength(1);
  });

  it('refuses requests beyond maxQueued with SgtOverloadedError, and accepts again once the queue drains', async () => {
    const runner = controlledRunner();
    const batcher = new MicroBatcher(runner.run, { ...OPTIONS, maxQueued: 3 });
    const running = batcher.submit('running', 10);
    await runner.waitForBatches(1);
    const queued = [batcher.submit('q1', 10), batcher.submit('q2', 10), batcher.submit('q3', 10)];
    const error = await batcher.submit('q4', 10).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SgtOverloadedError);
    expect(error).toMatchObject({ name: 'SgtOverloadedError', queued: 3, limit: 3, retryAfterSeconds: 1 });
    expect((error as Error).message).toMatch(/3 requests are already waiting \(limit 3\); retry in 1 s/);
    runner.batches[0]?.done.resolve();
    await runner.waitForBatches(2);
    const accepted = batcher.submit('q5', 10);
    runner.batches[1]?.done.resolve();
    await runner.waitForBatches(3);
    runner.batches[2]?.done.resolve();
    expect(await Promise.all([running, ...queued, accepted])).toHaveLength(5);
  });

  it('estimates Retry-After from the measured throughput and the backlog', async () => {
    let now = 0;
    vi.spyOn(performance, 'now').mockImplementation(() => now);
    try {
      const runner = controlledRunner();
      const batcher = new MicroBatcher(runner.run, { ...OPTIONS, maxBatchSize: 1, maxQueued: 2 });
      const first = batcher.submit('first', 1000);
      await runner.waitForBatches(1);
      now = 1000; // 1000 tokens in 1 s
      runner.batches[0]?.done.resolve();
      await first;
      const running = batcher.submit('r', 3000);
      await runner.waitForBatches(2);
      const queued = [batcher.submit('a', 2000), batcher.submit('b', 2000)];
      const error = await batcher.submit('c', 10).catch((e: unknown) => e);
      expect(error).toMatchObject({ retryAfterSeconds: 7 }); // (3000 + 2 × 2000) / 1000 tokens/s
      runner.batches[1]?.done.resolve();
      await runner.waitForBatches(3);
      runner.batches[2]?.done.resolve();
      await runner.waitForBatches(4);
      runner.batches[3]?.done.resolve();
      await Promise.all([running, ...queued]);
    } finally {
      vi.restoreAllMocks();
    }
  });

  it('rejects every request of a failed batch, and the next batch runs normally', async () => {
    const batches: string[][] = [];
    let fail = true;
    const batcher = new MicroBatcher<string, string>(async (items) => {
      batches.push(items.map((i) => i.input));
      if (fail) {
        fail = false;
        throw new Error('ORT exploded');
      }
      return items.map((i) => i.input.toUpperCase());
    }, OPTIONS);
    const failed = [batcher.submit('a', 1), batcher.submit('b', 1)];
    for (const p of failed) await expect(p).rejects.toThrow('ORT exploded');
    expect(await batcher.submit('c', 1)).toBe('C');
    expect(batches).toEqual([['a', 'b'], ['c']]);
  });

  it('close() rejects waiting requests, lets the running batch finish, and refuses new ones', async () => {
    const runner = controlledRunner();
    const batcher = new MicroBatcher(runner.run, OPTIONS);
    const running = batcher.submit('running', 10);
    await runner.waitForBatches(1);
    const waiting = batcher.submit('waiting', 10);
    const closed = batcher.close();
    await expect(waiting).rejects.toThrow(/closed/);
    let closeDone = false;
    void closed.then(() => {
      closeDone = true;
    });
    await Promise.resolve();
    expect(closeDone).toBe(false); // still waiting for the running batch
    runner.batches[0]?.done.resolve();
    expect(await running).toBe('out:running');
    await closed;
    await expect(batcher.submit('late', 10)).rejects.toThrow(/closed/);
  });
});
