/**
 * The prompts an audit attacks. Each is a chat; `secrets` names strings in it whose exact recovery
 * is reported (names, addresses). E-mail addresses and runs of digits are found on their own.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import type { ChatMessage } from '../sgt/index.js';
import defaultPrompts from './audit-prompts.json' with { type: 'json' };

export interface AuditPrompt {
  readonly id: string;
  readonly messages: readonly ChatMessage[];
  readonly secrets: readonly string[];
}

export class AuditInputError extends Error {}

const promptSchema = z.object({
  id: z.string().min(1),
  messages: z
    .array(z.object({ role: z.enum(['system', 'user', 'assistant', 'developer']), content: z.string().min(1) }))
    .min(1),
  secrets: z.array(z.string().min(1)).default([]),
});
const fileSchema = z.array(promptSchema).min(1, 'at least one prompt');

/** The 58 shipped prompts: code, fake PII, chit-chat, six scripts, emoji, multi-turn. */
export function defaultAuditPrompts(): AuditPrompt[] {
  return parsePrompts(defaultPrompts, 'the default prompt set');
}

/** A JSON file: `[{"id", "messages": [{"role", "content"}], "secrets"?: [string]}]`. */
export async function readAuditPrompts(path: string): Promise<AuditPrompt[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new AuditInputError(
      `cannot read the prompts file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new AuditInputError(`the prompts file ${path} is not JSON`);
  }
  return parsePrompts(json, `the prompts file ${path}`);
}

function parsePrompts(json: unknown, what: string): AuditPrompt[] {
  const parsed = fileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new AuditInputError(`${what}: ${issue?.path.join('.') || 'top level'}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

const AUTOMATIC_SECRETS = [
  /[\w.+-]+@[\w-]+(?:\.[\w-]+)+/g, // e-mail addresses
  /\d(?:[\d ./-]{1,}\d)?/g, // digit runs (dates, numbers, IDs), kept when 3+ digits long
];

/** The prompt's secrets: its own list plus every e-mail address and every run of 3+ digits. */
export function secretsOf(prompt: AuditPrompt): string[] {
  const found = new Set(prompt.secrets);
  for (const message of prompt.messages) {
    for (const pattern of AUTOMATIC_SECRETS) {
      for (const match of message.content.matchAll(pattern)) {
        if (match[0].includes('@') || match[0].replace(/\D/g, '').length >= 3) found.add(match[0].trim());
      }
    }
  }
  return [...found];
}
