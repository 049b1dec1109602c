import { closeSync, openSync, readSync, statSync } from 'node:fs';

/**
 * The reference server's access log (JSON lines, its `SGP_LOGGING_CONFIG_FILE` destination): for
 * each streamed request, when it arrived (`received_at`, epoch ms) and how long its first token took
 * (`first_token_ms`). Joined with the client's own timestamps by `x-request-id`, a gateway's TTFT
 * splits into what happened before the upstream saw the request (for sgt-proxy: validation, chat
 * template, tokenizer, SGT, prompt_embeds encoding, the upstream call), the upstream's own time to
 * its first token, and the relay of that token back to the client.
 */
export interface UpstreamTiming {
  receivedAt: number;
  firstTokenMs: number;
}

export class UpstreamLog {
  readonly timings = new Map<string, UpstreamTiming>();
  private offset = 0;
  private partial = '';

  constructor(readonly file: string) {}

  /** Reads what was appended since the last call. */
  poll(): void {
    let size: number;
    try {
      size = statSync(this.file).size;
    } catch {
      return;
    }
    if (size <= this.offset) return;
    const buffer = Buffer.alloc(size - this.offset);
    const fd = openSync(this.file, 'r');
    try {
      readSync(fd, buffer, 0, buffer.length, this.offset);
    } finally {
      closeSync(fd);
    }
    this.offset = size;
    const lines = (this.partial + buffer.toString('utf8')).split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) this.parse(line);
  }

  private parse(line: string): void {
    if (!line.includes('"first_token_ms"')) return;
    try {
      const entry = JSON.parse(line) as { request_id?: unknown; received_at?: unknown; first_token_ms?: unknown };
      if (
        typeof entry.request_id === 'string' &&
        typeof entry.received_at === 'number' &&
        typeof entry.first_token_ms === 'number'
      ) {
        this.timings.set(entry.request_id, { receivedAt: entry.received_at, firstTokenMs: entry.first_token_ms });
      }
    } catch {
      // Not a JSON line (a start-up message); nothing to join.
    }
  }

  /** Waits (bounded) until every id has its line — the logger writes asynchronously. */
  async waitFor(ids: readonly string[], timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      this.poll();
      if (ids.every((id) => this.timings.has(id)) || performance.now() > deadline) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Drops timings already used, so a long run does not keep them all. */
  forget(ids: readonly string[]): void {
    for (const id of ids) this.timings.delete(id);
  }
}

export interface TtftSplit {
  /** Client sent the request → the upstream received it. */
  toUpstreamMs: number;
  /** Upstream received it → the upstream sent its first token. */
  upstreamMs: number;
  /** Upstream sent the first token → the client received it. */
  relayMs: number;
}

export function splitTtft(sentEpochMs: number, ttftMs: number, timing: UpstreamTiming): TtftSplit {
  const toUpstreamMs = timing.receivedAt - sentEpochMs;
  return { toUpstreamMs, upstreamMs: timing.firstTokenMs, relayMs: ttftMs - toUpstreamMs - timing.firstTokenMs };
}
