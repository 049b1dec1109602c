/**
 * A fixed pool of worker threads answering request messages, for CPU-heavy work that must not run
 * on the event loop that relays streams. Each call goes to the worker with the fewest calls in
 * flight. A worker that dies is replaced; the calls it held reject with WorkerCrashedError, never
 * hang. `close()` lets the calls in flight finish, then ends the workers.
 *
 * Protocol: the pool posts `{ id, method, args }`; the worker answers `{ id, result }` or
 * `{ id, error: { name, message, data } }` (see `serveWorkerCalls`).
 */
import { Worker, parentPort, type Transferable } from 'node:worker_threads';

export class WorkerCrashedError extends Error {
  override readonly name = 'WorkerCrashedError';
}

/** An error thrown inside a worker, as the caller sees it: the name and message survive, and `data`. */
export class WorkerCallError extends Error {
  constructor(
    readonly errorName: string,
    message: string,
    readonly data: unknown,
  ) {
    super(message);
    this.name = errorName;
  }
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
  /** The calls in flight, for close() to wait on. */
  inflight: Set<Promise<unknown>>;
  /** The worker has answered its start-up message: it is loaded. */
  ready: Promise<void>;
  loaded: boolean;
}

interface Reply {
  id: number;
  result?: unknown;
  error?: { name: string; message: string; data?: unknown };
}

export interface WorkerPoolOptions {
  size: number;
  script: URL;
  workerData: unknown;
  /** Called when a worker died and was replaced (for the log). */
  onCrash?: (error: Error) => void;
}

export class WorkerPool {
  private readonly slots: Slot[] = [];
  private nextId = 0;
  private closing = false;

  constructor(private readonly options: WorkerPoolOptions) {
    if (!Number.isSafeInteger(options.size) || options.size < 1)
      throw new RangeError(`a worker pool needs at least one worker, got ${options.size}`);
    for (let i = 0; i < options.size; i++) this.slots.push(this.spawn());
  }

  /** Resolves once every worker has loaded (or rejects with the first start-up failure). */
  async ready(): Promise<void> {
    await Promise.all(this.slots.map((slot) => slot.ready));
  }

  get size(): number {
    return this.slots.length;
  }

  call<T>(method: string, args: unknown, transfer: readonly Transferable[] = []): Promise<T> {
    if (this.closing) return Promise.reject(new WorkerCrashedError('the worker pool is closed'));
    const slot = this.slots.reduce((best, s) => (s.pending.size < best.pending.size ? s : best));
    const id = this.nextId++;
    const result = new Promise<T>((resolve, reject) => {
      slot.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      try {
        slot.worker.postMessage({ id, method, args }, transfer);
      } catch (error) {
        slot.pending.delete(id);
        throw error;
      }
    });
    slot.inflight.add(result);
    const forget = (): void => void slot.inflight.delete(result);
    result.then(forget, forget);
    return result;
  }

  /** Stops taking calls, waits for those in flight, then ends every worker. */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(
      this.slots.map(async (slot) => {
        await Promise.allSettled([...slot.inflight]);
        await slot.worker.terminate();
      }),
    );
  }

  private spawn(): Slot {
    const worker = new Worker(this.options.script, { workerData: this.options.workerData });
    const pending = new Map<number, Pending>();
    let started!: () => void;
    let failed!: (error: unknown) => void;
    const ready = new Promise<void>((resolve, reject) => {
      started = resolve;
      failed = reject;
    });
    ready.catch(() => undefined); // observed by ready(); a crash later must not be unhandled here
    const slot: Slot = { worker, pending, inflight: new Set(), ready, loaded: false };
    worker.on('message', (reply: Reply | 'ready') => {
      if (reply === 'ready') {
        slot.loaded = true;
        return started();
      }
      const call = pending.get(reply.id);
      if (call === undefined) return;
      pending.delete(reply.id);
      if (reply.error === undefined) call.resolve(reply.result);
      else call.reject(new WorkerCallError(reply.error.name, reply.error.message, reply.error.data));
    });
    worker.on('error', (error) => failed(error));
    worker.on('exit', (code) => {
      const error = new WorkerCrashedError(
        `a worker thread exited (code ${code}) with ${pending.size} calls in flight`,
      );
      failed(error);
      for (const call of pending.values()) call.reject(error);
      pending.clear();
      // One that never loaded would fail the same way again: replacing it would loop.
      if (this.closing || !slot.loaded) return;
      const index = this.slots.indexOf(slot);
      if (index >= 0) this.slots[index] = this.spawn();
      this.options.onCrash?.(error);
    });
    return slot;
  }
}

/** What a worker exports: one function per method; a result's `transfer` list is moved, not copied. */
export type WorkerMethods = Record<string, (args: never) => unknown>;

export interface Transferring<T> {
  value: T;
  transfer: Transferable[];
}

export function transferring<T>(value: T, transfer: Transferable[]): Transferring<T> {
  return { value, transfer };
}

/** The worker side: answers the pool's calls with `methods`, after `load` (once) has finished. */
export async function serveWorkerCalls(load: () => Promise<WorkerMethods> | WorkerMethods): Promise<void> {
  const port = parentPort;
  if (port === null) throw new Error('serveWorkerCalls runs in a worker thread');
  const methods = await load();
  port.on('message', async ({ id, method, args }: { id: number; method: string; args: never }) => {
    try {
      const fn = methods[method];
      if (fn === undefined) throw new Error(`unknown worker method ${method}`);
      const out = await fn(args);
      if (isTransferring(out)) port.postMessage({ id, result: out.value }, out.transfer);
      else port.postMessage({ id, result: out });
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      const data = (error as Error & { data?: unknown }).data;
      port.postMessage({ id, error: { name: error.name, message: error.message, data } });
    }
  });
  port.postMessage('ready');
}

function isTransferring(value: unknown): value is Transferring<unknown> {
  return typeof value === 'object' && value !== null && 'transfer' in value && 'value' in value;
}
