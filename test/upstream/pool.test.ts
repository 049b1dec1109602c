import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ClientClosedError,
  UpstreamHttpError,
  UpstreamTimeoutError,
  UpstreamUnavailableError,
} from '../../src/errors/index.js';
import { UpstreamPool, type UpstreamPoolOptions } from '../../src/upstream/index.js';
import { ManualSchedule } from '../support/manual-schedule.js';
import {
  hang,
  jsonBody,
  startScriptedUpstream,
  streamThenStall,
  streamTokens,
  type Behaviour,
  type ScriptedUpstream,
} from '../support/scripted-upstream.js';
import { collectText } from '../support/streams.js';

/** Real loopback servers throughout; the probe timer is the one thing the test drives itself. */

let servers: ScriptedUpstream[] = [];
let pools: UpstreamPool[] = [];
let manual = new ManualSchedule();

afterEach(async () => {
  for (const pool of pools) pool.close();
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
  pools = [];
  manual = new ManualSchedule();
});

async function upstreamWith(behaviour: Behaviour): Promise<ScriptedUpstream> {
  const upstream = await startScriptedUpstream(behaviour);
  servers.push(upstream);
  return upstream;
}

/** A loopback port nothing listens on any more: connections to it are refused. */
async function refusingUrl(): Promise<string> {
  const gone = await startScriptedUpstream(hang);
  await gone.close();
  return gone.url;
}

function poolOf(urls: string[], options: Partial<UpstreamPoolOptions> = {}): UpstreamPool {
  const pool = new UpstreamPool({
    urls,
    timeoutMs: 5_000,
    fixedHeaders: {},
    retries: 1,
    healthIntervalMs: 5_000,
    logger: pino({ level: 'silent' }),
    schedule: manual.schedule,
    ...options,
  });
  pools.push(pool);
  return pool;
}

const call = (signal = new AbortController().signal) => ({ headers: {}, signal });
const complete = async (pool: UpstreamPool): Promise<string> =>
  collectText((await pool.postJson('/v1/completions', '{"prompt":"x"}', call())).body);
const completions = (upstream: ScriptedUpstream) => upstream.requests.filter((r) => r.path === '/v1/completions');
const inFlight = (pool: UpstreamPool) => pool.upstreamStates().map((s) => s.inFlight);
const healthy = (pool: UpstreamPool) => pool.upstreamStates().map((s) => s.healthy);

/** Answers /health with whatever `health()` says at the time, everything else with `rest`. */
function withHealth(health: () => Behaviour, rest: Behaviour): Behaviour {
  return (request, response) => (request.path === '/health' ? health() : rest)(request, response);
}

describe('balancing', () => {
  it('sends each request to the upstream with the fewest in flight, ties to each in turn', async () => {
    const a = await upstreamWith(streamThenStall('a'));
    const b = await upstreamWith(streamThenStall('b'));
    const pool = poolOf([a.url, b.url]);
    const held: Awaited<ReturnType<UpstreamPool['postJson']>>[] = [];
    const open = async (): Promise<void> => {
      held.push(await pool.postJson('/v1/completions', '{}', call()));
    };
    await open(); // tie: a
    await open(); // b
    await open(); // tie again: a, its turn
    expect(inFlight(pool)).toEqual([2, 1]);
    await open(); // b, the less busy
    expect(inFlight(pool)).toEqual([2, 2]);
    // Two of a's streams end: a is now the less busy, and gets the next two.
    await held[0]!.body.cancel();
    await held[2]!.body.cancel();
    expect(inFlight(pool)).toEqual([0, 2]);
    await open();
    await open();
    expect(inFlight(pool)).toEqual([2, 2]);
    expect([completions(a).length, completions(b).length]).toEqual([4, 2]);
    for (const response of held) await response.body.cancel();
    expect(inFlight(pool)).toEqual([0, 0]);
  });

  it('counts a request in flight until its body ended, failed or was cancelled, or the call failed', async () => {
    const upstream = await upstreamWith(streamTokens(['one', 'two']));
    const pool = poolOf([upstream.url]);
    const response = await pool.postJson('/v1/completions', '{}', call());
    expect(inFlight(pool)).toEqual([1]);
    await collectText(response.body);
    expect(inFlight(pool)).toEqual([0]);

    upstream.setBehaviour((_request, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: {}\n\n', () => res.destroy());
    });
    const broken = await pool.postJson('/v1/completions', '{}', call());
    await expect(collectText(broken.body)).rejects.toBeInstanceOf(UpstreamUnavailableError);
    expect(inFlight(pool)).toEqual([0]);

    upstream.setBehaviour(jsonBody(400, { error: { message: 'no' } }));
    await expect(pool.postJson('/v1/completions', '{}', call())).rejects.toBeInstanceOf(UpstreamHttpError);
    expect(pool.upstreamStates()).toEqual([
      { url: upstream.url, healthy: true, inFlight: 0, requests: 3, failures: 0 },
    ]);
  });
});

describe('retries before the first byte', () => {
  it('a refused connection is retried on another upstream and takes the refusing one out', async () => {
    const dead = await refusingUrl();
    const live = await upstreamWith(streamTokens(['fine']));
    const pool = poolOf([dead, live.url]);
    expect(await complete(pool)).toContain('fine');
    expect(pool.upstreamStates()).toEqual([
      { url: dead, healthy: false, inFlight: 0, requests: 1, failures: 1 },
      { url: live.url, healthy: true, inFlight: 0, requests: 1, failures: 0 },
    ]);
    // Out: ties or not, the next requests go to the live one only (GET included).
    expect(await complete(pool)).toContain('fine');
    await (await pool.get('/v1/models', call())).body.cancel();
    expect(pool.upstreamStates().map((s) => s.requests)).toEqual([1, 3]);
  });

  it.each([502, 503])(
    'an HTTP %i answer is retried on another, its body not relayed, the upstream kept in',
    async (status) => {
      const failing = await upstreamWith(jsonBody(status, { error: { message: 'not from here' } }));
      const live = await upstreamWith(streamTokens(['fine']));
      const pool = poolOf([failing.url, live.url]);
      const text = await complete(pool);
      expect(text).toContain('fine');
      expect(text).not.toContain('not from here');
      expect(pool.upstreamStates()).toMatchObject([
        { healthy: true, requests: 1, failures: 1 },
        { healthy: true, requests: 1, failures: 0 },
      ]);
    },
  );

  it("when every try fails, the last upstream's error is the answer (503 and its Retry-After kept)", async () => {
    const busy: Behaviour = (_request, response) => {
      response.writeHead(503, { 'content-type': 'application/json', 'retry-after': '7' });
      response.end(JSON.stringify({ error: { message: 'overloaded' } }));
    };
    const a = await upstreamWith(busy);
    const b = await upstreamWith(busy);
    const pool = poolOf([a.url, b.url]);
    const failure = await pool.postJson('/v1/completions', '{}', call()).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(UpstreamHttpError);
    expect(failure).toMatchObject({ status: 503, retryAfter: '7', message: 'overloaded' });
    expect([completions(a).length, completions(b).length]).toEqual([1, 1]);
  });

  it.each([
    ['500 (a failure of this request, not of the upstream)', jsonBody(500, { error: { message: 'boom' } }), 502],
    ['400', jsonBody(400, { error: { message: 'bad prompt' } }), 400],
    ['429', jsonBody(429, { error: { message: 'slow down' } }), 429],
  ])('an HTTP %s is not retried', async (_name, behaviour, status) => {
    const first = await upstreamWith(behaviour);
    const other = await upstreamWith(streamTokens(['never']));
    const pool = poolOf([first.url, other.url]);
    await expect(pool.postJson('/v1/completions', '{}', call())).rejects.toMatchObject({ status });
    expect(completions(other)).toHaveLength(0);
    expect(pool.upstreamStates()[0]).toMatchObject({ healthy: true, failures: 0 });
  });

  it('a header timeout is not retried: that upstream may still be working on the request', async () => {
    const slow = await upstreamWith(hang);
    const other = await upstreamWith(streamTokens(['never']));
    const pool = poolOf([slow.url, other.url], { timeoutMs: 150 });
    await expect(pool.postJson('/v1/completions', '{}', call())).rejects.toBeInstanceOf(UpstreamTimeoutError);
    expect(completions(other)).toHaveLength(0);
  });

  it('a client that goes away is not retried for', async () => {
    const slow = await upstreamWith(hang);
    const other = await upstreamWith(streamTokens(['never']));
    const pool = poolOf([slow.url, other.url]);
    const client = new AbortController();
    const pending = pool.postJson('/v1/completions', '{}', call(client.signal));
    await vi.waitFor(() => expect(completions(slow)).toHaveLength(1));
    client.abort();
    await expect(pending).rejects.toBeInstanceOf(ClientClosedError);
    expect(completions(other)).toHaveLength(0);
    expect(inFlight(pool)).toEqual([0, 0]);
  });

  it('tries at most SGP_UPSTREAM_RETRIES other upstreams, each once', async () => {
    const [dead1, dead2] = [await refusingUrl(), await refusingUrl()];
    const live = await upstreamWith(streamTokens(['fine']));

    const none = poolOf([dead1, live.url], { retries: 0 });
    await expect(none.postJson('/v1/completions', '{}', call())).rejects.toMatchObject({
      status: 502,
      code: 'upstream_unavailable',
    });
    expect(completions(live)).toHaveLength(0);

    const one = poolOf([dead1, dead2, live.url], { retries: 1 });
    await expect(one.postJson('/v1/completions', '{}', call())).rejects.toBeInstanceOf(UpstreamUnavailableError);
    expect(one.upstreamStates().map((s) => s.requests)).toEqual([1, 1, 0]);

    const two = poolOf([dead1, dead2, live.url], { retries: 2 });
    expect(await complete(two)).toContain('fine');
    expect(two.upstreamStates().map((s) => s.requests)).toEqual([1, 1, 1]);

    // More retries than other upstreams: each is still tried once, the same one never twice.
    const many = poolOf([dead1, dead2], { retries: 5 });
    await expect(many.postJson('/v1/completions', '{}', call())).rejects.toBeInstanceOf(UpstreamUnavailableError);
    expect(many.upstreamStates().map((s) => s.requests)).toEqual([1, 1]);
  });

  it('with every upstream out, requests still try them and fail fast with 502 upstream_unavailable', async () => {
    const pool = poolOf([await refusingUrl(), await refusingUrl()]);
    pool.start();
    await pool.readiness();
    expect(healthy(pool)).toEqual([false, false]);
    await expect(pool.postJson('/v1/completions', '{}', call())).rejects.toMatchObject({
      status: 502,
      code: 'upstream_unavailable',
    });
    expect(pool.upstreamStates().map((s) => s.requests)).toEqual([1, 1]);
  });
});

describe('health probes', () => {
  it('probe GET /health every interval: a failing upstream is out until a probe succeeds', async () => {
    const up: Behaviour = (_request, response) => void response.writeHead(200).end();
    let health = up;
    const a = await upstreamWith(withHealth(() => health, streamTokens(['from-a'])));
    const b = await upstreamWith(streamTokens(['from-b']));
    const pool = poolOf([a.url, b.url], { healthIntervalMs: 2_500, fixedHeaders: { authorization: 'Basic dTpw' } });
    pool.start();
    expect(await pool.readiness()).toMatchObject([{ healthy: true }, { healthy: true }]);
    expect(manual.pendingMs).toBe(2_500);
    const probe = a.requests.find((r) => r.path === '/health');
    expect(probe?.method).toBe('GET');
    expect(probe?.headers.authorization).toBe('Basic dTpw');

    health = jsonBody(503, {}); // what vLLM answers once its engine died
    await manual.fire();
    expect(healthy(pool)).toEqual([false, true]);
    for (let i = 0; i < 3; i++) expect(await complete(pool)).toContain('from-b');
    expect(completions(a)).toHaveLength(0);

    health = up;
    await manual.fire();
    expect(healthy(pool)).toEqual([true, true]);
    const answers = [await complete(pool), await complete(pool)];
    expect(answers.some((text) => text.includes('from-a'))).toBe(true);
    expect(manual.pendingMs).toBe(2_500);
  });

  it('a probe that does not answer within the interval (or the upstream timeout) takes the upstream out', async () => {
    const a = await upstreamWith(withHealth(() => hang, streamTokens(['a'])));
    const pool = poolOf([a.url], { healthIntervalMs: 100 });
    pool.start();
    await pool.readiness();
    expect(healthy(pool)).toEqual([false]);
    // Out, yet the only one: a request still goes, and is answered.
    expect(await complete(pool)).toContain('a');
  });

  it('readiness() before start() probes once; close() stops the rounds', async () => {
    const live = await upstreamWith(streamTokens(['x']));
    const pool = poolOf([live.url, await refusingUrl()]);
    expect(healthy(pool)).toEqual([true, true]); // nothing known yet: assumed healthy
    expect((await pool.readiness()).map((s) => s.healthy)).toEqual([true, false]);
    expect(manual.pendingMs).toBeUndefined(); // not started: no rounds after that one

    pool.start();
    await pool.readiness();
    expect(manual.pendingMs).toBe(5_000);
    pool.close();
    expect(manual.pendingMs).toBeUndefined();
  });
});
