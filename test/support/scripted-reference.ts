import { pino } from 'pino';
import { startReferenceServer, type RunningServer } from '../../src/reference-server/index.js';
import type { Sgt } from '../../src/sgt/index.js';
import { forwardTo, type ScriptedUpstream } from './scripted-upstream.js';

/** One scripted reply: text split by the artifact's tokenizer, or the exact chunks. */
export type Reply = { text: string } | { tokens: string[] };

/**
 * The reference server in scripted mode behind a recording tap: `replyWith` restarts it with the
 * replies it answers every prompt with, in turn, and clears the tap's record.
 */
export function scriptedReference(sgt: Sgt, tap: ScriptedUpstream) {
  let reference: RunningServer | undefined;
  return {
    async replyWith(...replies: Reply[]): Promise<void> {
      await reference?.close();
      reference = await startReferenceServer({
        sgt,
        mode: 'scripted',
        replies: { replies },
        tokenIntervalMs: 0,
        logger: pino({ level: 'silent' }),
        host: '127.0.0.1',
        port: 0,
      });
      tap.setBehaviour(forwardTo(reference.url));
      tap.requests.length = 0;
    },
    close: async (): Promise<void> => reference?.close(),
  };
}

/** The reference server in scripted mode, encrypting every answer (`--output-protection required`). */
export function startProtectedReference(sgt: Sgt, ...replies: Reply[]): Promise<RunningServer> {
  return startReferenceServer({
    sgt,
    mode: 'scripted',
    replies: { replies },
    outputProtection: 'required',
    logger: pino({ level: 'silent' }),
    host: '127.0.0.1',
    port: 0,
    tokenIntervalMs: 0,
  });
}
