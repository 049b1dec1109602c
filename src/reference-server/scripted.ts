import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import type { FinishReason, ReferenceSgt } from './token-plan.js';

/**
 * Scripted mode (docs/reference-server.md): answers come from a file of replies, so that tests can
 * make the server emit tool-call blocks, reasoning and JSON through the same streaming, pacing and
 * output-protection paths as echo mode.
 *
 * A reply with `match` answers any prompt whose reading contains it (the first such reply in file
 * order); the others are used in turn, one per prompt, starting over after the last.
 */
const replySchema = z
  .strictObject({
    match: z.string().min(1).optional(),
    text: z.string().optional(),
    tokens: z.array(z.string()).optional(),
    finish_reason: z.enum(['stop', 'length']).optional(),
  })
  .refine((reply) => (reply.text === undefined) !== (reply.tokens === undefined), {
    message: 'a reply has exactly one of "text" (tokenized with the artifact\'s tokenizer) and "tokens"',
  });

const repliesFileSchema = z.strictObject({ replies: z.array(replySchema).min(1) });

export type ScriptedRepliesFile = z.infer<typeof repliesFileSchema>;

/** The replies file is missing, not JSON, or not a replies file: a start-up error the user can fix. */
export class ScriptedRepliesError extends Error {
  override readonly name = 'ScriptedRepliesError';
}

/** Reads and checks a replies file (`--replies FILE`). */
export async function readScriptedReplies(path: string): Promise<ScriptedRepliesFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ScriptedRepliesError(`cannot read the replies file ${path}: ${messageOf(err)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ScriptedRepliesError(`the replies file ${path} is not JSON: ${messageOf(err)}`);
  }
  return checkScriptedReplies(json, path);
}

/** A replies file's content, checked; `source` names it in the error. */
export function checkScriptedReplies(json: unknown, source = 'replies'): ScriptedRepliesFile {
  const result = repliesFileSchema.safeParse(json);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => `${issue.path.join('.') || '(top level)'}: ${issue.message}`);
  throw new ScriptedRepliesError(`${source} is not a replies file (docs/reference-server.md): ${issues.join('; ')}`);
}

export interface ScriptedReply {
  /** The tokens as they stream: the artifact tokenizer's pieces of `text`, or `tokens` as given. */
  pieces: readonly string[];
  /** `stop`: an EOS token follows the pieces; `length`: the reply ends as if cut by `max_tokens`. */
  finishReason: FinishReason;
}

/** The replies of one server, with the position of the next unconditional one. */
export class ScriptedReplies {
  private readonly matched: Array<{ match: string; reply: ScriptedReply }> = [];
  private readonly inTurn: ScriptedReply[] = [];
  private next = 0;

  constructor(file: ScriptedRepliesFile, sgt: ReferenceSgt) {
    for (const entry of file.replies) {
      const reply = { pieces: piecesOf(entry, sgt), finishReason: entry.finish_reason ?? 'stop' };
      if (entry.match === undefined) this.inTurn.push(reply);
      else this.matched.push({ match: entry.match, reply });
    }
  }

  /** Whether a prompt's reading is needed to pick its reply (some reply has `match`). */
  get matches(): boolean {
    return this.matched.length > 0;
  }

  /** The reply for a prompt whose reading is `reading`; undefined when none applies. */
  pick(reading: string): ScriptedReply | undefined {
    const matched = this.matched.find((entry) => reading.includes(entry.match));
    if (matched) return matched.reply;
    const reply = this.inTurn[this.next % this.inTurn.length];
    if (reply) this.next += 1;
    return reply;
  }
}

function piecesOf(entry: ScriptedRepliesFile['replies'][number], sgt: ReferenceSgt): string[] {
  if (entry.tokens !== undefined) return entry.tokens;
  const decode = sgt.createStreamingDecoder();
  try {
    return sgt.tokenize(entry.text ?? '').map((id) => decode(id));
  } catch (err) {
    throw new ScriptedRepliesError(`a reply's text cannot be tokenized: ${messageOf(err)}`);
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
