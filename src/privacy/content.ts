/**
 * Which tokens of a templated prompt are the user's content, and which are the template's own
 * (`<|im_start|>`, role names, newlines): attacks are scored on content only, since every server
 * knows the template. A token that straddles content and template counts as content.
 */
import type { Sgt } from '../sgt/index.js';
import { AuditInputError, secretsOf, type AuditPrompt } from './prompts.js';

export interface LabelledPrompt {
  readonly prompt: AuditPrompt;
  readonly ids: number[];
  /** content[t]: token t carries message content. */
  readonly content: boolean[];
  /** Number of template tokens before the first content token: plaintext every server knows. */
  readonly knownPrefix: number;
  /** Each secret's token positions; a secret is recovered when all of them are. */
  readonly secrets: { readonly text: string; readonly positions: number[] }[];
}

interface Span {
  readonly start: number;
  readonly end: number;
}

export function labelPrompt(sgt: Sgt, prompt: AuditPrompt): LabelledPrompt {
  const text = sgt.renderPrompt(prompt.messages);
  const ids = sgt.tokenize(text);
  const tokenSpans = spansOfTokens(sgt, ids, text, prompt.id);
  const contentSpans = locate(
    text,
    prompt.messages.map((m) => m.content),
    0,
    prompt.id,
  );
  const content = tokenSpans.map((span) => contentSpans.some((c) => overlaps(span, c)));
  const knownPrefix = Math.max(0, content.indexOf(true));
  const secrets = secretsOf(prompt).flatMap((secret) => {
    const at = contentSpans.map((c) => text.slice(c.start, c.end).indexOf(secret)).findIndex((i) => i >= 0);
    if (at < 0) return []; // not in any message (a typo in the prompts file): nothing to score
    const span = contentSpans[at] as Span;
    const start = span.start + text.slice(span.start, span.end).indexOf(secret);
    const where = { start, end: start + secret.length };
    return [{ text: secret, positions: tokenSpans.flatMap((s, t) => (overlaps(s, where) ? [t] : [])) }];
  });
  return { prompt, ids, content, knownPrefix, secrets };
}

/** Each message's content, in order, in the rendered text. */
function locate(text: string, contents: readonly string[], from: number, id: string): Span[] {
  const spans: Span[] = [];
  let cursor = from;
  for (const content of contents) {
    const start = text.indexOf(content, cursor);
    if (start < 0)
      throw new AuditInputError(`prompt ${id}: the chat template does not render a message's content verbatim`);
    spans.push({ start, end: start + content.length });
    cursor = start + content.length;
  }
  return spans;
}

/**
 * Character span of each token, from the streaming decoder: a token that ends inside a multi-byte
 * character emits nothing and is given the character that the next token completes.
 */
function spansOfTokens(sgt: Sgt, ids: readonly number[], text: string, id: string): Span[] {
  const decode = sgt.createStreamingDecoder();
  const ends: number[] = [];
  let length = 0;
  for (const token of ids) {
    length += decode(token).length;
    ends.push(length);
  }
  if (length !== text.length)
    throw new AuditInputError(`prompt ${id}: the tokenizer does not decode the rendered prompt back to itself`);
  return ends.map((end, t) => {
    const start = t === 0 ? 0 : (ends[t - 1] as number);
    return end > start ? { start, end } : { start, end: start + 1 };
  });
}

function overlaps(a: Span, b: Span): boolean {
  return a.start < b.end && b.start < a.end;
}
