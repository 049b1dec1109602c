/**
 * A worker thread that dies under a request: the request fails with the 500 envelope (never a
 * hang), the worker is replaced, and the next request is answered. The SGT, its worker threads and
 * the proxy are the product's; the fault is injected by a Worker subclass that, armed with a method,
 * ends its thread instead of posting the next call of that method — a crash with the call certainly
 * in flight: the tokenizer pool's (`encodeChat`) or the transform worker's (`run`).
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type * as WorkerThreads from 'node:worker_threads';
import { pino } from 'pino';
import type { Sgt } from '../../src/sgt/index.js';
import { IDENTITY_SGT_DIR } from '../support/artifacts.js';
import { chatBody, postJson, startProxy, type ProxyUnderTest } from '../support/proxy-harness.js';
import { startEchoReference } from '../support/reference-upstream.js';
import type { RunningServer } from '../../src/reference-server/index.js';

const fault = vi.hoisted(() => ({ method: undefined as string | undefined, killed: 0 }));

vi.mock('node:worker_threads', async (importOriginal) => {
  const real = await importOriginal<typeof WorkerThreads>();
  class FaultyWorker extends real.Worker {
    override postMessage(value: unknown, transfer?: readonly WorkerThreads.Transferable[]): void {
      const method = typeof value === 'object' && value !== null && 'method' in value ? value.method : undefined;
      if (fault.method !== undefined && method === fault.method) {
        fault.method = undefined;
        fault.killed += 1;
        void this.terminate();
        return;
      }
      super.postMessage(value, transfer);
    }
  }
  return { ...real, Worker: FaultyWorker };
});

// Imported after the mock is declared (vi.mock is hoisted): the SGT's pools are made of FaultyWorkers.
const { loadSgt } = await import('../../src/sgt/index.js');

let sgt: Sgt;
let reference: RunningServer;
let proxy: ProxyUnderTest;
const crashes: Error[] = [];

beforeAll(async () => {
  sgt = await loadSgt(IDENTITY_SGT_DIR, { workers: 1, onWorkerCrash: (error) => crashes.push(error) });
  reference = await startEchoReference(sgt);
  proxy = await startProxy({ sgt, upstreamUrl: reference.url, logger: pino({ level: 'silent' }) });
});

afterAll(async () => {
  await proxy?.close();
  await reference?.close();
  await sgt?.close();
});

describe('a worker thread that dies under a request', () => {
  it.each(['encodeChat', 'run'])(
    '%s: that request gets the 500 envelope, the worker is replaced, the next is answered',
    async (method) => {
      const chat = () => postJson(`${proxy.url}/v1/chat/completions`, chatBody({ model: undefined, max_tokens: 4 }));
      expect((await chat()).status).toBe(200);

      const killed = fault.killed;
      const crashed = crashes.length;
      fault.method = method;
      const failed = await chat();
      expect(fault.killed).toBe(killed + 1);
      expect(failed.status).toBe(500);
      const { error } = (await failed.json()) as { error: { type: string; message: string } };
      expect(error.type).toBe('server_error');
      expect(error.message).not.toMatch(/worker|thread/i); // the envelope reveals nothing of the fault
      await vi.waitFor(() => expect(crashes).toHaveLength(crashed + 1));

      const after = await chat();
      expect(after.status).toBe(200);
    },
  );
});
