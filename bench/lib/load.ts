import http from 'node:http';
import { streamChat, type ChatTarget, type RequestRecord } from './sse-request.js';

/**
 * Load shapes. Both are bounded twice: no request starts after `durationMs` or past `maxRequests`,
 * and every request has its own timeout, so a run ends by itself.
 */
export type LoadShape =
  | {
      kind: 'closed';
      /** Fixed number of clients, each sending its next request when the previous one ends. */
      concurrency: number;
      durationMs: number;
      maxRequests: number;
      /** Clients start spread over this many ms, so they do not all hit the first token at once. */
      rampMs: number;
      /**
       * Keep issuing past `durationMs` until this many requests were sent (slow requests: a step of a
       * few long prompts still gets a distribution), but never past `hardDurationMs`.
       */
      minRequests?: number;
      hardDurationMs?: number;
    }
  | {
      kind: 'open';
      /** Poisson arrivals at this mean rate, whatever the responses do. */
      ratePerSecond: number;
      durationMs: number;
      maxRequests: number;
      /** An arrival finding this many requests in flight is recorded as an error (dropped). */
      maxInFlight: number;
      seed: number;
    };

export interface LoadRequest {
  target: ChatTarget;
  body: string;
  maxTokens: number;
  timeoutMs: number;
  /** `x-request-id` of the n-th request (0-based). */
  requestId(n: number): string;
  /** When given, each record goes here instead of into the result (long runs: soak). */
  onRecord?: (record: RequestRecord) => void;
}

export interface LoadResult {
  records: RequestRecord[];
  /** First request issued → last one finished. */
  wallMs: number;
  /** Open loop: arrivals not sent because `maxInFlight` requests were in flight (also in records). */
  dropped: number;
}

export async function runLoad(shape: LoadShape, request: LoadRequest): Promise<LoadResult> {
  const sockets = shape.kind === 'closed' ? shape.concurrency : shape.maxInFlight;
  const agent = new http.Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets });
  const records: RequestRecord[] = [];
  const keep = request.onRecord ?? ((record: RequestRecord) => void records.push(record));
  let issued = 0;
  const one = async (): Promise<void> => {
    const n = issued;
    issued += 1;
    keep(
      await streamChat({
        target: request.target,
        body: request.body,
        maxTokens: request.maxTokens,
        requestId: request.requestId(n),
        timeoutMs: request.timeoutMs,
        agent,
      }),
    );
  };
  const started = performance.now();
  const deadline = started + shape.durationMs;
  let dropped = 0;
  try {
    if (shape.kind === 'closed') {
      const hardDeadline = started + Math.max(shape.durationMs, shape.hardDurationMs ?? 0);
      const more = (): boolean => {
        const now = performance.now();
        if (issued >= shape.maxRequests || now >= hardDeadline) return false;
        return now < deadline || issued < (shape.minRequests ?? 0);
      };
      const client = async (index: number): Promise<void> => {
        await sleep((index * shape.rampMs) / shape.concurrency);
        while (more()) await one();
      };
      await Promise.all(Array.from({ length: shape.concurrency }, (_, i) => client(i)));
    } else {
      const random = mulberry32(shape.seed);
      const inFlight = new Set<Promise<void>>();
      let next = performance.now();
      while (issued + dropped < shape.maxRequests) {
        next += (-Math.log(1 - random()) / shape.ratePerSecond) * 1000;
        if (next >= deadline) break;
        await sleep(next - performance.now());
        if (inFlight.size >= shape.maxInFlight) {
          dropped += 1;
          keep(droppedRecord(`${request.requestId(issued)}-dropped-${dropped}`, shape.maxInFlight));
          continue;
        }
        const p: Promise<void> = one().finally(() => inFlight.delete(p));
        inFlight.add(p);
      }
      await Promise.all(inFlight);
    }
  } finally {
    agent.destroy();
  }
  return { records, wallMs: performance.now() - started, dropped };
}

function droppedRecord(requestId: string, cap: number): RequestRecord {
  const now = performance.now();
  return {
    requestId,
    startMs: now,
    sentEpochMs: performance.timeOrigin + now,
    ttftMs: null,
    gaps: [],
    maxGapMs: 0,
    e2eMs: 0,
    status: 0,
    tokens: { deltas: 0, expected: 0, lost: 0, duplicated: 0, outOfOrder: 0, unexpected: 0, merged: 0 },
    finishReason: null,
    error: `dropped: ${cap} requests already in flight`,
  };
}

export function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}

/** A small seeded PRNG, so an open-loop arrival schedule can be replayed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
