import type { ChatTarget } from './sse-request.js';
import { LOOPBACK_HOST } from './sse-request.js';

/**
 * Prompts of a chosen length for the prompt-length sweep. The length that matters is the one the
 * gateway's tokenizer counts (chat template included), so each prompt is sized against the gateway
 * itself: a non-streamed request of one token returns `usage.prompt_tokens`, and the word count is
 * corrected until the count is on target (within 1 %, or as close as whole words allow).
 */

/** Plain prose, cycled: the transform's cost depends on the token count, not on what the words say. */
const CORPUS = (
  'A privacy proxy sits between an application and the inference server it calls. Every prompt it ' +
  'receives is turned into embeddings before it leaves the machine, so the server computes on numbers ' +
  'that do not spell out the words; the answer streams back token by token and the proxy passes each ' +
  'one on as soon as it arrives. Users notice two things when such a layer is slow: the first word ' +
  'takes longer to appear, and the words that follow come in uneven bursts instead of at a steady ' +
  'pace. Long documents make the first of these worse, because every token of the prompt must be ' +
  'transformed before the request can be sent, while the second depends on how quickly the proxy ' +
  'relays what the server writes.'
).split(/\s+/);

export function promptText(words: number): string {
  const out: string[] = [];
  for (let i = 0; i < words; i++) out.push(CORPUS[i % CORPUS.length]!);
  return out.join(' ');
}

export interface SizedPrompt {
  /** The length aimed at. */
  target: number;
  text: string;
  /** What the gateway counted for it. */
  tokens: number;
}

/**
 * Finds a word count whose prompt the counter puts at `target` tokens: start at ~1.3 tokens a word,
 * then scale the word count by target / counted (the template's fixed overhead makes each step
 * overshoot less than the last). Keeps the closest seen; at most `maxTries` counts.
 */
export async function sizePrompt(
  target: number,
  count: (text: string) => Promise<number>,
  maxTries = 8,
): Promise<SizedPrompt> {
  if (!(maxTries >= 1)) throw new RangeError(`maxTries must be at least 1, got ${maxTries}`);
  const tolerance = Math.max(1, Math.round(target * 0.01));
  let words = Math.max(1, Math.round(target / 1.3));
  let best: SizedPrompt | null = null;
  const tried = new Set<number>();
  for (let i = 0; i < maxTries && !tried.has(words); i++) {
    tried.add(words);
    const text = promptText(words);
    const tokens = await count(text);
    if (best === null || Math.abs(tokens - target) < Math.abs(best.tokens - target)) best = { target, text, tokens };
    if (Math.abs(tokens - target) <= tolerance) break;
    const next = Math.max(1, Math.round((words * target) / Math.max(1, tokens)));
    // A step that rounds back onto a tried count: move by one word towards the target instead.
    words = tried.has(next) ? words + Math.sign(target - tokens) : next;
  }
  return best!; // the loop runs at least once: maxTries ≥ 1 and `tried` starts empty
}

/**
 * `usage.prompt_tokens` of a one-token, non-streamed chat completion through `target`. A 502 is
 * retried (twice): sizing is set-up, not a measurement, and a gateway busy transforming a long prompt
 * can find its idle upstream connection closed under it (the measured steps count such errors).
 */
export async function countPromptTokens(
  target: ChatTarget,
  model: string,
  text: string,
  attempts = 3,
): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    const response = await fetch(`http://${LOOPBACK_HOST}:${target.port}${target.path}`, {
      method: 'POST',
      headers: { ...target.headers, 'content-type': 'application/json' },
      body: JSON.stringify({ model, messages: [{ role: 'user', content: text }], max_tokens: 1, stream: false }),
      signal: AbortSignal.timeout(120_000),
    });
    const body = (await response.json().catch(() => ({}))) as { usage?: { prompt_tokens?: unknown } };
    const tokens = body.usage?.prompt_tokens;
    if (response.ok && typeof tokens === 'number') return tokens;
    if (response.status !== 502 || attempt >= attempts)
      throw new Error(`sizing a prompt: HTTP ${response.status} without usage.prompt_tokens`);
  }
}
