import { describe, expect, it } from 'vitest';
import { WorkerCallError, WorkerCrashedError, WorkerPool } from '../../src/internal/worker-pool.js';

const SCRIPT = new URL('../support/test-worker.mjs', import.meta.url);

describe('WorkerPool', () => {
  it('answers calls, and a thrown error keeps its name, message and data', async () => {
    const pool = new WorkerPool({ size: 2, script: SCRIPT, workerData: {} });
    await pool.ready();
    expect(await Promise.all([1, 2, 3].map((n) => pool.call('echo', n)))).toEqual([1, 2, 3]);
    const error = await pool.call('fail', null).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkerCallError);
    expect(error).toMatchObject({ errorName: 'RangeError', message: 'bad input', data: { field: 'x' } });
    await pool.close();
  });

  it('a worker that dies fails the calls it held, is replaced, and the pool goes on', async () => {
    const crashes: Error[] = [];
    const pool = new WorkerPool({ size: 1, script: SCRIPT, workerData: {}, onCrash: (e) => crashes.push(e) });
    await pool.ready();
    const held = pool.call('later', { ms: 60_000, value: 'never' });
    const crashed = pool.call('crash', null);
    await expect(held).rejects.toBeInstanceOf(WorkerCrashedError);
    await expect(crashed).rejects.toBeInstanceOf(WorkerCrashedError);
    expect(crashes).toHaveLength(1);
    await pool.ready();
    expect(await pool.call('echo', 'after')).toBe('after');
    await pool.close();
  });

  it('close lets the calls in flight finish, then refuses new ones', async () => {
    const pool = new WorkerPool({ size: 1, script: SCRIPT, workerData: {} });
    await pool.ready();
    const inFlight = pool.call('later', { ms: 50, value: 'done' });
    const closed = pool.close();
    await expect(pool.call('echo', 1)).rejects.toBeInstanceOf(WorkerCrashedError);
    expect(await inFlight).toBe('done');
    await closed;
  });

  it('a worker that cannot load fails ready() and is not restarted in a loop', async () => {
    const crashes: Error[] = [];
    const pool = new WorkerPool({
      size: 1,
      script: SCRIPT,
      workerData: { failToLoad: true },
      onCrash: (e) => crashes.push(e),
    });
    await expect(pool.ready()).rejects.toThrow(/cannot load/);
    await pool.close();
    expect(crashes).toHaveLength(0);
  });
});
