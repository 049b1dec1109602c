import { pino } from 'pino';
import { startReferenceServer, type RunningServer } from '../../src/reference-server/index.js';
import type { Sgt } from '../../src/sgt/index.js';

/** The reference server (the vLLM stand-in) in echo mode, as fast as the client reads, on loopback. */
export function startEchoReference(sgt: Sgt): Promise<RunningServer> {
  return startReferenceServer({
    sgt,
    mode: 'echo',
    tokenIntervalMs: 0,
    logger: pino({ level: 'silent' }),
    host: '127.0.0.1',
    port: 0,
  });
}
