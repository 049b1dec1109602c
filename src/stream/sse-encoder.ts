/** Server-sent events as OpenAI and vLLM write them: `data: <json>\n\n`, ending with `data: [DONE]\n\n`. */

const encoder = new TextEncoder();

export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no',
} as const;

export const SSE_DONE_TEXT = 'data: [DONE]\n\n';
export const SSE_DONE = encoder.encode(SSE_DONE_TEXT);

export function sseDataText(payload: unknown): string {
  return `data: ${JSON.stringify(payload)}\n\n`;
}

/** A comment line: ignored by every SSE client, but it is traffic for idle-timeout proxies. */
export function sseCommentText(text: string): string {
  return `: ${text}\n\n`;
}

export function encodeSseData(payload: unknown): Uint8Array {
  return encoder.encode(sseDataText(payload));
}
