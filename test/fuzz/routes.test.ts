/**
 * Property-based fuzzing of the JSON routes (fast-check), in-process through the app, against a
 * real scripted upstream: whatever the body, the answer is a 200 or a 4xx OpenAI envelope — never
 * a 5xx for the client's input — nothing is left open upstream, and the event loop never stalls
 * (the SGT runs on worker threads, as `serve` runs it).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSgt, type Sgt } from '../../src/sgt/index.js';
import { IDENTITY_SGT_DIR } from '../support/artifacts.js';
import { startProxy, type ProxyUnderTest } from '../support/proxy-harness.js';
import { jsonBody, startScriptedUpstream, streamTokens, type ScriptedUpstream } from '../support/scripted-upstream.js';

let sgt: Sgt;
let upstream: ScriptedUpstream;
let proxy: ProxyUnderTest;
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
// Far above scheduling noise on a loaded 2-core CI machine, far below a prompt tokenized on the loop (seconds).
const MAX_LOOP_STALL_MS = 1000;

beforeAll(async () => {
  sgt = await loadSgt(IDENTITY_SGT_DIR, { workers: 1 });
  loopDelay.enable();
  upstream = await startScriptedUpstream((req, res) => {
    const body = req.raw.length > 0 ? (req.json() as { stream?: boolean }) : {};
    if (body.stream === true) return streamTokens(['a', 'b'], { usage: true })(req, res);
    return jsonBody(200, {
      id: 'c',
      object: 'text_completion',
      created: 1,
      model: 'm',
      choices: [{ index: 0, text: 'ab', finish_reason: 'stop' }],
      usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 },
    })(req, res);
  });
  proxy = await startProxy({
    sgt,
    upstreamUrl: upstream.url,
    settings: { maxRequestBytes: 64 * 1024, maxNewTokens: 4 },
  });
});
afterAll(async () => {
  await proxy?.close();
  await upstream?.close();
  await sgt?.close();
});

/** Any JSON value, shallow enough to stay cheap. */
const anyJson = fc.jsonValue({ maxDepth: 3 });

/** Mostly `plausible`, sometimes anything at all. */
const mostly = <T>(plausible: fc.Arbitrary<T>): fc.Arbitrary<unknown> =>
  fc.oneof({ arbitrary: plausible, weight: 6 }, { arbitrary: anyJson, weight: 1 });

/** A chat body where each field is usually plausible and sometimes anything; fields come and go. */
const chatLike = fc.record(
  {
    model: mostly(fc.constant('up-model')),
    messages: mostly(
      fc.array(
        fc.record({
          role: mostly(fc.constantFrom('system', 'user', 'assistant', 'developer')),
          content: mostly(
            fc.oneof(
              fc.string({ minLength: 1, maxLength: 40 }),
              fc.array(fc.record({ type: fc.constant('text'), text: fc.string({ maxLength: 20 }) }), {
                minLength: 1,
                maxLength: 3,
              }),
            ),
          ),
        }),
        { minLength: 1, maxLength: 4 },
      ),
    ),
    stream: mostly(fc.boolean()),
    stream_options: mostly(fc.record({ include_usage: mostly(fc.boolean()) })),
    max_tokens: mostly(fc.integer({ min: 1, max: 8 })),
    temperature: mostly(fc.double({ min: 0, max: 2, noNaN: true })),
    seed: mostly(fc.integer()),
    stop: mostly(fc.oneof(fc.string({ maxLength: 5 }), fc.array(fc.string({ maxLength: 5 }), { maxLength: 4 }))),
    n: mostly(fc.integer({ min: 1, max: 2 })),
    return_obfuscation_score: mostly(fc.boolean()),
  },
  { requiredKeys: ['messages'] },
);

const outcomes = new Map<string, number>();

async function post(path: string, body: string): Promise<Response> {
  return proxy.app.request(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
}

/** 200, or a 4xx whose body is the OpenAI envelope. */
async function expectClientOutcome(path: string, response: Response): Promise<void> {
  const key = `${path} ${response.status}`;
  outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
  const text = await response.text();
  expect(response.status, text.slice(0, 300)).toBeLessThan(500);
  if (response.status >= 400) {
    const { error } = JSON.parse(text) as { error: { message: unknown; type: unknown } };
    expect(typeof error.message).toBe('string');
    expect(typeof error.type).toBe('string');
  }
}

describe('fuzzing the JSON routes', () => {
  for (const path of ['/v1/chat/completions', '/v1/stainedglass']) {
    it(`${path}: mutated bodies → 200 or a 4xx envelope, never a 5xx`, async () => {
      await fc.assert(
        fc.asyncProperty(chatLike, async (body) => expectClientOutcome(path, await post(path, JSON.stringify(body)))),
        { numRuns: 400 },
      );
    });

    it(`${path}: arbitrary bytes and broken JSON → a 4xx envelope`, async () => {
      const raw = fc.oneof(
        fc.string({ maxLength: 200 }),
        fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('latin1')),
        fc.jsonValue().map((v) => JSON.stringify(v).slice(0, -1)),
      );
      await fc.assert(
        fc.asyncProperty(raw, async (body) => expectClientOutcome(path, await post(path, body))),
        { numRuns: 300 },
      );
    });
  }

  it('never stalled the event loop past the bound', () => {
    expect(loopDelay.max / 1e6).toBeLessThan(MAX_LOOP_STALL_MS);
  });

  it('exercised both outcomes, and every request that reached the upstream came back whole', () => {
    const ok = outcomes.get('/v1/chat/completions 200') ?? 0;
    expect(ok).toBeGreaterThan(40); // the generator reaches the upstream often enough to mean something
    expect(outcomes.get('/v1/stainedglass 200') ?? 0).toBeGreaterThan(40);
    // One upstream request per chat 200, none for a 4xx: nothing was sent and then abandoned.
    expect(upstream.requests.filter((r) => r.path === '/v1/completions')).toHaveLength(ok);
  });
});
