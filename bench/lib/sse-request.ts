import http from 'node:http';
import { createParser } from 'eventsource-parser';
import { TokenTally, isExact, type TokenVerdict } from './token-check.js';

/** Every load this harness makes goes to this machine only. */
export const LOOPBACK_HOST = '127.0.0.1';

export interface ChatTarget {
  port: number;
  path: string;
  /** Extra request headers (a gateway's routing headers). */
  headers: Readonly<Record<string, string>>;
}

export interface RequestSpec {
  target: ChatTarget;
  /** The JSON body, serialised once per step. */
  body: string;
  maxTokens: number;
  /** Sent as `x-request-id`: joins this record with the upstream's log line. */
  requestId: string;
  timeoutMs: number;
  agent: http.Agent;
}

export interface RequestRecord {
  requestId: string;
  /** `performance.now()` when the request was issued. */
  startMs: number;
  /** The same instant as epoch milliseconds (sub-ms), comparable across processes on this machine. */
  sentEpochMs: number;
  /** Request issued → first non-empty content delta received; null when none came. */
  ttftMs: number | null;
  /** Gaps between consecutive non-empty content deltas (inter-token latency), in order. */
  gaps: number[];
  maxGapMs: number;
  /** Request issued → stream ended (or failed). */
  e2eMs: number;
  status: number;
  tokens: TokenVerdict;
  finishReason: string | null;
  /** Null when the request succeeded with every token exactly once; else why it did not. */
  error: string | null;
}

interface ChatChunk {
  choices?: Array<{ delta?: { content?: unknown }; finish_reason?: unknown }>;
  error?: { message?: unknown };
}

const MAX_ERROR_BODY = 2048;

/**
 * One streamed chat completion over HTTP/1.1 keep-alive (node:http, cheaper per event than fetch's
 * web streams — the generator shares two cores with the processes it measures). The SSE body is
 * parsed incrementally; every failure is recorded on the record, never thrown.
 */
export function streamChat(spec: RequestSpec): Promise<RequestRecord> {
  return new Promise((resolve) => {
    const startMs = performance.now();
    const tally = new TokenTally(spec.maxTokens);
    const record: RequestRecord = {
      requestId: spec.requestId,
      startMs,
      sentEpochMs: performance.timeOrigin + startMs,
      ttftMs: null,
      gaps: [],
      maxGapMs: 0,
      e2eMs: 0,
      status: 0,
      tokens: tally.verdict(),
      finishReason: null,
      error: null,
    };
    let lastTokenAt = 0;
    let done = false;
    let settled = false;
    const fail = (message: string): void => {
      record.error ??= message;
    };
    const finish = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      record.e2eMs = performance.now() - startMs;
      record.tokens = tally.verdict();
      if (record.error === null) {
        if (!done) fail('stream ended without [DONE]');
        else if (!isExact(record.tokens)) fail(`tokens: ${describe(record.tokens)}`);
        else if (record.finishReason === null) fail('no finish_reason');
      }
      resolve(record);
    };

    const onData = (data: string): void => {
      if (data === '[DONE]') {
        if (done) fail('second [DONE]');
        done = true;
        return;
      }
      if (done) return fail('data after [DONE]');
      let chunk: ChatChunk;
      try {
        chunk = JSON.parse(data) as ChatChunk;
      } catch {
        return fail(`event is not JSON: ${data.slice(0, 120)}`);
      }
      if (chunk.error !== undefined)
        return fail(`error event: ${String(chunk.error.message ?? JSON.stringify(chunk.error)).slice(0, 200)}`);
      const choice = chunk.choices?.[0];
      if (choice === undefined) return;
      const content = choice.delta?.content;
      if (typeof content === 'string' && content.length > 0) {
        const now = performance.now();
        if (record.ttftMs === null) {
          record.ttftMs = now - startMs;
        } else {
          const gap = now - lastTokenAt;
          record.gaps.push(gap);
          if (gap > record.maxGapMs) record.maxGapMs = gap;
        }
        lastTokenAt = now;
        tally.add(content);
      }
      if (typeof choice.finish_reason === 'string') record.finishReason = choice.finish_reason;
    };

    const request = http.request({
      host: LOOPBACK_HOST,
      port: spec.target.port,
      path: spec.target.path,
      method: 'POST',
      agent: spec.agent,
      headers: {
        ...spec.target.headers,
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(spec.body),
        accept: 'text/event-stream',
        'x-request-id': spec.requestId,
      },
    });
    const timer = setTimeout(() => {
      fail(`timeout after ${spec.timeoutMs} ms`);
      request.destroy();
      finish();
    }, spec.timeoutMs);
    request.on('error', (err) => {
      fail(`transport: ${err.message}`);
      finish();
    });
    request.on('response', (response) => {
      record.status = response.statusCode ?? 0;
      response.setEncoding('utf8');
      if (record.status !== 200) {
        let text = '';
        response.on('data', (piece: string) => {
          if (text.length < MAX_ERROR_BODY) text += piece;
        });
        response.on('end', () => {
          fail(`HTTP ${record.status}: ${text.slice(0, 300)}`);
          finish();
        });
        response.on('error', () => finish());
        return;
      }
      const parser = createParser({
        onEvent: (event) => onData(event.data),
        onError: (err) => fail(`SSE: ${err.message}`),
      });
      response.on('data', (piece: string) => parser.feed(piece));
      response.on('end', finish);
      response.on('error', (err) => {
        fail(`response: ${err.message}`);
        finish();
      });
      response.on('aborted', () => fail('response aborted'));
      // A connection closed mid-stream may end with 'close' alone; finish() is idempotent.
      response.on('close', finish);
    });
    request.end(spec.body);
  });
}

function describe(v: TokenVerdict): string {
  return `${v.deltas}/${v.expected} deltas, lost ${v.lost}, duplicated ${v.duplicated}, out of order ${v.outOfOrder}, merged ${v.merged}, unexpected ${v.unexpected}`;
}
