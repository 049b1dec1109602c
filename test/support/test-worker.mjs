// A worker for the worker-pool tests, served by the compiled pool code (the global setup builds dist/).
import { setTimeout as sleep } from 'node:timers/promises';
import process from 'node:process';
import { workerData } from 'node:worker_threads';
import { serveWorkerCalls } from '../../dist/internal/worker-pool.js';

await serveWorkerCalls(async () => {
  if (workerData?.failToLoad) throw new Error('cannot load');
  return {
    echo: (value) => value,
    later: async ({ ms, value }) => {
      await sleep(ms);
      return value;
    },
    fail: () => {
      throw Object.assign(new RangeError('bad input'), { data: { field: 'x' } });
    },
    crash: () => process.exit(3),
  };
});
