import { pino } from 'pino';
import { startReferenceServer, type RunningServer } from '../../src/reference-server/index.js';
import { loadSgt, type Sgt } from '../../src/sgt/index.js';
import { forwardTo, startScriptedUpstream, type ScriptedUpstream } from './scripted-upstream.js';

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

/** What the model "generates" when it calls the weather tool the tool suites declare: one hermes block. */
export const WEATHER_CALL_TEXT = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>';

export interface ScriptedSetup {
  sgt: Sgt;
  /** The recording tap the proxies under test send to. */
  tap: ScriptedUpstream;
  reference: ReturnType<typeof scriptedReference>;
  close(): Promise<void>;
}

/** The set-up of the tool and Responses suites: an SGT, a recording tap, the scripted reference server behind it. */
export async function startScriptedReference(dir: string): Promise<ScriptedSetup> {
  const sgt = await loadSgt(dir);
  const tap = await startScriptedUpstream(() => undefined);
  const reference = scriptedReference(sgt, tap);
  return {
    sgt,
    tap,
    reference,
    close: async () => {
      await tap.close();
      await reference.close();
      await sgt.close();
    },
  };
}
