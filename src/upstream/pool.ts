import { UpstreamHttpError, UpstreamUnavailableError } from '../errors/index.js';
import type { Logger } from '../logging/index.js';
import { UpstreamClient, type JsonText, type UpstreamCall, type UpstreamResponse } from './client.js';

/** Runs `run` once after `ms`. Tests pass one they fire themselves, so no test waits on a clock. */
export type Schedule = (run: () => Promise<void>, ms: number) => { cancel(): void };

export interface UpstreamPoolOptions {
  /** Base URLs without a trailing slash (SGP_INFERENCE_SERVICE_HOST): at least one. */
  urls: readonly string[];
  /** Each upstream's header and body-idle deadline (SGP_UPSTREAM_TIMEOUT_SECONDS). */
  timeoutMs: number;
  fixedHeaders: Record<string, string>;
  /** How many other upstreams a request that failed before its first byte is tried on (SGP_UPSTREAM_RETRIES). */
  retries: number;
  /** Time between two rounds of health probes (SGP_UPSTREAM_HEALTH_INTERVAL_SECONDS). */
  healthIntervalMs: number;
  logger: Logger;
  schedule?: Schedule;
}

/** One upstream as /readyz and /metrics show it. */
export interface UpstreamState {
  /** Its base URL without credentials, query or fragment. */
  url: string;
  /** False while it is out: its last health probe failed, or it refused a connection since. */
  healthy: boolean;
  /** Requests sent to it whose answer is not done with yet, streams included. */
  inFlight: number;
  /** Requests sent to it since start-up, retries included. */
  requests: number;
  /** Of those, the ones that failed before their first byte (refused, reset, 502/503). */
  failures: number;
}

class Member {
  readonly state: UpstreamState;
  constructor(
    readonly client: UpstreamClient,
    /** Same upstream, with the probe's own (shorter) deadline. */
    readonly probe: UpstreamClient,
  ) {
    const url = new URL(client.baseUrl);
    this.state = {
      url: url.origin + url.pathname.replace(/\/+$/, ''),
      healthy: true,
      inFlight: 0,
      requests: 0,
      failures: 0,
    };
  }
}

type Attempt = (client: UpstreamClient, call: UpstreamCall) => Promise<UpstreamResponse>;

/**
 * vLLM answers /health at once while its engine runs; one that takes longer is not an upstream to
 * send requests to. It also keeps the first /readyz (which waits for the first round) inside a
 * Kubernetes probe's timeout.
 */
const PROBE_TIMEOUT_MS = 2_000;

const scheduleWithTimer: Schedule = (run, ms) => {
  const timer = setTimeout(() => void run(), ms);
  timer.unref(); // a forgotten pool must not keep the process alive
  return { cancel: () => clearTimeout(timer) };
};

/**
 * Several upstreams behind the calls the routes make (`postJson`, `get`). A request goes to the
 * healthy upstream with the fewest requests in flight; one that failed before its first byte (no
 * response headers: refused, reset; or a 502/503 answer, whose body is not relayed) is tried again
 * on another, at most `retries` times. Once a 2xx answer is handed back it is never retried: a
 * stream that breaks later ends with an error event, where the client can see it. An upstream that
 * refuses a connection or fails a health probe is out until a probe succeeds; while every
 * upstream is out, requests still go to them and fail fast.
 */
export class UpstreamPool {
  private readonly members: Member[];
  private readonly schedule: Schedule;
  private readonly stopped = new AbortController();
  private started = false;
  private nextRound: { cancel(): void } | undefined;
  private firstRound: Promise<void> | undefined;
  /** Where the search for the least busy upstream starts: ties go to each in turn. */
  private cursor = 0;

  constructor(private readonly options: UpstreamPoolOptions) {
    if (options.urls.length === 0) throw new Error('an upstream pool needs at least one URL');
    // A probe that outlasts the interval would overlap the next round.
    const probeTimeoutMs = Math.min(PROBE_TIMEOUT_MS, options.healthIntervalMs, options.timeoutMs);
    this.members = options.urls.map(
      (baseUrl) =>
        new Member(
          new UpstreamClient({ baseUrl, timeoutMs: options.timeoutMs, fixedHeaders: options.fixedHeaders }),
          new UpstreamClient({ baseUrl, timeoutMs: probeTimeoutMs, fixedHeaders: options.fixedHeaders }),
        ),
    );
    this.schedule = options.schedule ?? scheduleWithTimer;
  }

  postJson(path: string, body: JsonText, call: UpstreamCall): Promise<UpstreamResponse> {
    return this.send((client, attempt) => client.postJson(path, body, attempt), call);
  }

  get(path: string, call: UpstreamCall): Promise<UpstreamResponse> {
    return this.send((client, attempt) => client.get(path, attempt), call);
  }

  /** Probes every upstream now, then every `healthIntervalMs` until `close()`. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.firstRound = this.probeRound();
  }

  close(): void {
    this.started = false;
    this.nextRound?.cancel();
    this.stopped.abort();
  }

  /** A snapshot of every upstream, in configuration order. */
  upstreamStates(): UpstreamState[] {
    return this.members.map((m) => ({ ...m.state }));
  }

  /** The states once a first round of probes has answered (run now if none has), so that a fresh start is not reported ready blindly. */
  async readiness(): Promise<UpstreamState[]> {
    await (this.firstRound ??= this.probeRound());
    return this.upstreamStates();
  }

  private async send(attempt: Attempt, call: UpstreamCall): Promise<UpstreamResponse> {
    const tried = new Set<Member>();
    // There is always a first: the pool is never empty and nothing is excluded yet.
    let member = this.pick(tried)!;
    for (;;) {
      tried.add(member);
      const { state } = member;
      state.requests += 1;
      state.inFlight += 1;
      let settled = false;
      const onSettled = (): void => {
        if (settled) return;
        settled = true;
        state.inFlight -= 1;
      };
      try {
        return await attempt(member.client, { ...call, onSettled });
      } catch (err) {
        onSettled();
        if (!failedBeforeFirstByte(err)) throw err;
        state.failures += 1;
        if (err instanceof UpstreamUnavailableError) this.takeOut(member, err.message);
        const next = tried.size <= this.options.retries ? this.pick(tried) : undefined;
        if (next === undefined) throw err;
        this.options.logger.warn(
          { upstream: state.url, next_upstream: next.state.url, status: err.status, code: err.code },
          'an upstream request failed before its first byte: trying another upstream',
        );
        member = next;
      }
    }
  }

  /** The healthy upstream with the fewest requests in flight, else the least busy of the others. */
  private pick(exclude: ReadonlySet<Member>): Member | undefined {
    const count = this.members.length;
    let best: Member | undefined;
    let bestIndex = 0;
    for (let i = 0; i < count; i++) {
      const index = (this.cursor + i) % count;
      const candidate = this.members[index]!;
      if (exclude.has(candidate) || (best !== undefined && !isLessBusy(candidate.state, best.state))) continue;
      best = candidate;
      bestIndex = index;
    }
    if (best !== undefined) this.cursor = (bestIndex + 1) % count;
    return best;
  }

  private async probeRound(): Promise<void> {
    await Promise.all(this.members.map((member) => this.probe(member)));
    if (!this.started) return;
    // A round run for readiness() before start() may end after start()'s own: one schedule only.
    this.nextRound?.cancel();
    this.nextRound = this.schedule(() => this.probeRound(), this.options.healthIntervalMs);
  }

  /** GET /health, which vLLM answers 200 while its engine runs (503 once it died), as the reference server does. */
  private async probe(member: Member): Promise<void> {
    try {
      const answer = await member.probe.get('/health', { headers: {}, signal: this.stopped.signal });
      await answer.body.cancel();
      this.putBack(member);
    } catch (err) {
      if (this.stopped.signal.aborted) return;
      this.takeOut(member, `its health probe failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private takeOut(member: Member, reason: string): void {
    if (!member.state.healthy) return;
    member.state.healthy = false;
    this.options.logger.warn(
      { upstream: member.state.url, reason },
      'upstream taken out until a health probe succeeds',
    );
  }

  private putBack(member: Member): void {
    if (member.state.healthy) return;
    member.state.healthy = true;
    this.options.logger.info({ upstream: member.state.url }, 'upstream back in: its health probe succeeded');
  }
}

function isLessBusy(a: UpstreamState, b: UpstreamState): boolean {
  return a.healthy !== b.healthy ? a.healthy : a.inFlight < b.inFlight;
}

/**
 * What the client throws from `postJson`/`get` before it hands an answer back: an
 * UpstreamUnavailableError there means no response headers came (a broken body fails later, in the
 * caller's reads); a 502/503 answer is a gateway or an upstream saying it cannot serve right now.
 * A timeout is not retried: that upstream may well be working on the request.
 */
function failedBeforeFirstByte(err: unknown): err is UpstreamUnavailableError | UpstreamHttpError {
  if (err instanceof UpstreamUnavailableError) return true;
  return err instanceof UpstreamHttpError && (err.upstreamStatus === 502 || err.upstreamStatus === 503);
}
