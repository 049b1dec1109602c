import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DecryptionError,
  clientKeyHeaders,
  createResponseDecryptor,
  generateKeyPair,
  type KeyPair,
} from '../../src/client/index.js';
import type { RunningServer } from '../../src/reference-server/index.js';
import { loadSgt, type Sgt } from '../../src/sgt/index.js';
import { IDENTITY_SGT_DIR } from '../support/artifacts.js';
import { startProtectedReference } from '../support/scripted-reference.js';
import { chatBody, postJson, startProxy, type ProxyUnderTest } from '../support/proxy-harness.js';
import { protectedStream, startScriptedUpstream, type ScriptedUpstream } from '../support/scripted-upstream.js';
import { sseDataEvents } from '../support/streams.js';

/**
 * Logprobs in pass-through mode (SGP_OUTPUT_DECRYPTION=false, the client's own key): the proxy maps
 * the sealed completions logprobs to the chat shape without opening them, in their sealed order;
 * the client library opens every token and fills in `bytes`.
 */

const REPLY = 'Hé wörld 👋 ok';

interface TokenLogprob {
  token: string;
  logprob: number;
  bytes: number[] | null;
  top_logprobs: { token: string; logprob: number; bytes: number[] | null }[];
}
interface Choice {
  index: number;
  delta?: { content?: string | null };
  message?: { content: string | null };
  logprobs: { content: TokenLogprob[] } | null;
  finish_reason: string | null;
  stop_reason?: string | number | null;
}

let sgt: Sgt;
let reference: RunningServer;
let proxy: ProxyUnderTest;
let v1Upstream: ScriptedUpstream;
let v1Proxy: ProxyUnderTest;
let keys: KeyPair;

beforeAll(async () => {
  sgt = await loadSgt(IDENTITY_SGT_DIR);
  reference = await startProtectedReference(sgt, { text: REPLY });
  proxy = await startProxy({ sgt, upstreamUrl: reference.url, protection: { decrypt: false } });
  // An upstream that predates v2: it ignores the version header and answers v1 (no version header).
  v1Upstream = await startScriptedUpstream(protectedStream(['Hi']));
  v1Proxy = await startProxy({ sgt, upstreamUrl: v1Upstream.url, protection: { decrypt: false } });
  keys = generateKeyPair();
});

afterAll(async () => {
  await v1Proxy?.close();
  await v1Upstream?.close();
  await proxy?.close();
  await reference?.close();
  await sgt?.close();
});

const ask = (overrides: Record<string, unknown> = {}) =>
  chatBody({ model: sgt.metadata.baseModel, logprobs: true, top_logprobs: 2, ...overrides });
const v2Headers = () => clientKeyHeaders(keys.publicKey, { version: 2 });

function expectOpened(content: TokenLogprob[]): void {
  for (const entry of content) {
    expect(entry.bytes).toEqual([...Buffer.from(entry.token, 'utf8')]);
    expect(entry.top_logprobs.length).toBeGreaterThan(0);
    for (const alternative of entry.top_logprobs)
      expect(alternative.bytes).toEqual([...Buffer.from(alternative.token, 'utf8')]);
  }
}

describe('logprobs in pass-through mode', () => {
  it('stream: relayed sealed (bytes null), opened by decryptChatChunk with bytes filled in', async () => {
    const response = await postJson(`${proxy.url}/v1/chat/completions`, ask({ stream: true }), v2Headers());
    expect(response.status).toBe(200);
    expect(response.headers.get('x-output-protection-version')).toBe('2');
    const events = sseDataEvents(await response.text()).filter((e) => e !== '[DONE]');
    const chunks = events.map((e) => JSON.parse(e) as { choices: Choice[] });
    const sealed = chunks.flatMap((chunk) => chunk.choices.flatMap((c) => c.logprobs?.content ?? []));
    expect(sealed.length).toBeGreaterThan(1);
    expect(sealed.every((entry) => entry.bytes === null)).toBe(true);
    expect(JSON.stringify(sealed)).not.toMatch(/wörld|👋/);

    const decryptor = createResponseDecryptor(response.headers, keys.privateKey);
    let text = '';
    const tokens: TokenLogprob[] = [];
    for (const chunk of chunks) {
      decryptor.decryptChatChunk(chunk);
      for (const choice of chunk.choices) {
        text += choice.delta?.content ?? '';
        tokens.push(...(choice.logprobs?.content ?? []));
      }
    }
    expect(text).toBe(REPLY);
    expect(tokens.map((t) => t.token).join('')).toBe(REPLY);
    expectOpened(tokens);
  });

  it.each([{}, { stop: ['ok'] }])(
    'n: 2, streamed (%o): the choices share one sequence, and both open',
    async (extra) => {
      const response = await postJson(
        `${proxy.url}/v1/chat/completions`,
        ask({ stream: true, n: 2, ...extra }),
        v2Headers(),
      );
      const decryptor = createResponseDecryptor(response.headers, keys.privateKey);
      const tokens = new Map<number, string>();
      const stopReasons: (string | number)[] = [];
      for (const event of sseDataEvents(await response.text()).filter((e) => e !== '[DONE]')) {
        const chunk = decryptor.decryptChatChunk(JSON.parse(event) as { choices: Choice[] });
        for (const choice of chunk.choices) {
          if (choice.stop_reason != null) stopReasons.push(choice.stop_reason);
          tokens.set(
            choice.index,
            (tokens.get(choice.index) ?? '') + (choice.logprobs?.content ?? []).map((t) => t.token).join(''),
          );
        }
      }
      expect(tokens.size).toBe(2);
      expect(tokens.get(0)).toBe(tokens.get(1));
      expect(tokens.get(0)).toContain('Hé wörld');
      // A stop string: each choice's sealed stop_reason is relayed, in its place, and opens.
      expect(stopReasons).toEqual('stop' in extra ? ['ok', 'ok'] : []);
    },
  );

  it('non-stream: the whole body opens, message then logprobs', async () => {
    const response = await postJson(`${proxy.url}/v1/chat/completions`, ask(), v2Headers());
    expect(response.status).toBe(200);
    const body = (await response.json()) as { choices: Choice[] };
    expect(body.choices[0]!.logprobs!.content.every((entry) => entry.bytes === null)).toBe(true);
    createResponseDecryptor(response.headers, keys.privateKey).decryptChatCompletion(body);
    expect(body.choices[0]!.message!.content).toBe(REPLY);
    const content = body.choices[0]!.logprobs!.content;
    expect(content.map((t) => t.token).join('')).toBe(REPLY);
    expectOpened(content);
  });

  it('a tampered logprobs token is a DecryptionError, not a wrong token', async () => {
    const response = await postJson(`${proxy.url}/v1/chat/completions`, ask(), v2Headers());
    const body = (await response.json()) as { choices: Choice[] };
    const entry = body.choices[0]!.logprobs!.content[1]!;
    const bytes = Buffer.from(entry.top_logprobs[0]!.token, 'base64');
    bytes[0]! ^= 1;
    entry.top_logprobs[0]!.token = bytes.toString('base64');
    const decryptor = createResponseDecryptor(response.headers, keys.privateKey);
    expect(() => decryptor.decryptChatCompletion(body)).toThrow(DecryptionError);
  });

  it('without wire format v2 asked for: a 400 naming logprobs and the version header', async () => {
    const response = await postJson(`${proxy.url}/v1/chat/completions`, ask(), clientKeyHeaders(keys.publicKey));
    expect(response.status).toBe(400);
    const { error } = (await response.json()) as { error: { param: string; message: string } };
    expect(error.param).toBe('logprobs');
    expect(error.message).toContain('x-output-protection-version: 2');
  });

  it('a v1-only upstream (it answers v1 to a request for v2): a 400, no tokens relayed', async () => {
    v1Upstream.requests.length = 0;
    const response = await postJson(`${v1Proxy.url}/v1/chat/completions`, ask({ stream: true }), v2Headers());
    expect(response.status).toBe(400);
    const { error } = (await response.json()) as { error: { param: string; message: string } };
    expect(error).toMatchObject({ param: 'logprobs' });
    expect(error.message).toContain('answered in v1');
    expect(v1Upstream.requests[0]!.headers['x-output-protection-version']).toBe('2');
  });
});
