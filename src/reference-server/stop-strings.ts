import { endWithoutLast, pythonLen } from './python-strings.js';
import type { TokenPlan } from './token-plan.js';

/**
 * `stop` as vLLM's detokenizer applies it (vllm/v1/engine/detokenizer.py, `check_stop_strings`):
 * after each token, the stop strings are looked for, in list order, where the new text could
 * complete one; the first found ends the output with `finish_reason: "stop"` and `stop_reason` the
 * string. The output is cut before it (after it with `include_stop_str_in_output`), and the token
 * that completed it still counts. While streaming, the last `max(len(stop)) - 1` characters are
 * held back (none with `include_stop_str_in_output`) until the output ends, so no chunk ever
 * carries text a later cut would take back. Lengths count code points, as Python's `len` does.
 */
export function applyStop(plan: TokenPlan, stops: readonly string[], includeInOutput: boolean): TokenPlan {
  if (stops.length === 0) return plan;
  const holdBack = includeInOutput ? 0 : Math.max(...stops.map(pythonLen)) - 1;
  const texts: string[] = [];
  let output = '';
  let sent = 0;
  for (let index = 0; index < plan.count; index += 1) {
    const piece = plan.token(index);
    output += piece;
    const match = findStop(output, piece.length, stops, includeInOutput);
    if (match) output = output.slice(0, match.end);
    const finished = match !== undefined || index === plan.count - 1;
    const sendable = finished ? output.length : endWithoutLast(output, holdBack);
    texts.push(sendable > sent ? output.slice(sent, sendable) : '');
    sent = Math.max(sent, sendable);
    if (match) return { ...stoppedPlan(plan, texts), count: index + 1, finishReason: 'stop', stopReason: match.stop };
  }
  return stoppedPlan(plan, texts);
}

function stoppedPlan(plan: TokenPlan, texts: readonly string[]): TokenPlan {
  return {
    count: plan.count,
    finishReason: plan.finishReason,
    stopReason: plan.stopReason,
    text: (index) => texts[index] ?? '',
    token: (index) => plan.token(index),
  };
}

/** The first stop string (in list order) that the last `added` characters complete, and where the output ends. */
function findStop(
  output: string,
  added: number,
  stops: readonly string[],
  includeInOutput: boolean,
): { stop: string; end: number } | undefined {
  if (added === 0) return undefined;
  for (const stop of stops) {
    const at = output.indexOf(stop, Math.max(0, output.length - added - stop.length + 1));
    if (at >= 0) return { stop, end: includeInOutput ? at + stop.length : at };
  }
  return undefined;
}
