import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createResponseDecryptor,
  decryptChatStream,
  generateKeyPair,
  publicKeyHeader,
} from '../../src/client/index.js';
import {
  OUTPUT_PROTECTION_INFO,
  RotatingKeyPair,
  encodeBase64,
  sealText,
  setupBaseS,
} from '../../src/protection/index.js';
import { loadSgt, type Sgt } from '../../src/sgt/index.js';
import { IDENTITY_SGT_DIR } from '../support/artifacts.js';
import { chatBody, postJson, startProxy, type ProxyUnderTest } from '../support/proxy-harness.js';
import {
  completionChunk,
  protectedStream,
  startScriptedUpstream,
  streamTokens,
  type ScriptedUpstream,
} from '../support/scripted-upstream.js';
import { sseDataEvents } from '../support/streams.js';

const TOKENS = ['Hé', 'llo', ' 👋', ' wörld'];

let sgt: Sgt;
let upstream: ScriptedUpstream;
let decrypting: ProxyUnderTest;
let passing: ProxyUnderTest;

beforeAll(async () => {
  sgt = await loadSgt(IDENTITY_SGT_DIR);
  upstream = await startScriptedUpstream(protectedStream(TOKENS));
  decrypting = await startProxy({ sgt, upstreamUrl: upstream.url, protection: { decrypt: true } });
  passing = await startProxy({ sgt, upstreamUrl: upstream.url, protection: { decrypt: false } });
});

afterAll(async () => {
  await decrypting?.close();
  await passing?.close();
  await upstream?.close();
  await sgt?.close();
});

beforeEach(() => {
  upstream.requests.length = 0;
  upstream.setBehaviour(protectedStream(TOKENS));
});

function contentOf(events: string[]): string {
  return events
    .filter((e) => e !== '[DONE]')
    .map((e) => (JSON.parse(e) as { choices: { delta?: { content?: string } }[] }).choices[0]?.delta?.content ?? '')
    .join('');
}

describe('SGP_OUTPUT_DECRYPTION=true: the proxy decrypts', () => {
  it('sends its own public key upstream and streams plaintext to an unmodified OpenAI SDK', async () => {
    const client = new OpenAI({ baseURL: `${decrypting.url}/v1`, apiKey: 'x', maxRetries: 0 });
    const stream = await client.chat.completions.create({
      model: 'up-model',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
    });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe(TOKENS.join(''));
    const key = upstream.requests[0]!.headers['x-client-public-key'] as string;
    expect(Buffer.from(key, 'base64')).toHaveLength(32);
  });

  it('never forwards a client key of its own, nor relays the server key', async () => {
    const response = await postJson(`${decrypting.url}/v1/chat/completions`, chatBody({ stream: true }), {
      'x-client-public-key': publicKeyHeader(generateKeyPair().publicKey),
    });
    expect(response.headers.get('x-server-public-key')).toBeNull();
    expect(contentOf(sseDataEvents(await response.text()))).toBe(TOKENS.join(''));
  });

  it('decrypts a non-stream body', async () => {
    upstream.setBehaviour((request, response) => {
      const key = Buffer.from(request.headers['x-client-public-key'] as string, 'base64');
      const { enc, context } = setupBaseS(new Uint8Array(key), OUTPUT_PROTECTION_INFO);
      response.writeHead(200, { 'content-type': 'application/json', 'x-server-public-key': encodeBase64(enc) });
      response.end(
        JSON.stringify({ ...completionChunk(sealText(context, 0, 'secret answer ✓'), 'stop'), usage: null }),
      );
    });
    const body = (await (await postJson(`${decrypting.url}/v1/chat/completions`, chatBody())).json()) as {
      choices: { message: { content: string } }[];
    };
    expect(body.choices[0]!.message.content).toBe('secret answer ✓');
  });

  it('an upstream that is not output-protected → 500 saying so', async () => {
    upstream.setBehaviour(streamTokens(['plain']));
    const response = await postJson(`${decrypting.url}/v1/chat/completions`, chatBody({ stream: true }));
    expect(response.status).toBe(500);
    const { error } = (await response.json()) as { error: { message: string; code: string } };
    expect(error.message).toMatch(/not output-protected/);
    expect(error.message).toMatch(/x-server-public-key/);
    expect(error.code).toBe('upstream_not_output_protected');
  });

  it.each([
    ['tampered', { tamperAt: 1 }],
    ['reordered', { swap: [1, 2] as [number, number] }],
    ['dropped', { dropAt: 1 }],
  ])('%s ciphertext → one error event after the good tokens, never garbage', async (_name, fault) => {
    upstream.setBehaviour(protectedStream(TOKENS, fault));
    const events = sseDataEvents(
      await (await postJson(`${decrypting.url}/v1/chat/completions`, chatBody({ stream: true }))).text(),
    );
    const error = JSON.parse(events.at(-2)!) as { error: { code: string } };
    expect(error.error.code).toBe('output_decryption_failed');
    expect(events.at(-1)).toBe('[DONE]');
    expect(contentOf(events.slice(0, -2))).toBe(TOKENS[0]);
  });

  it('a tampered non-stream body → 502', async () => {
    upstream.setBehaviour((request, response) => {
      const { enc } = setupBaseS(
        new Uint8Array(Buffer.from(request.headers['x-client-public-key'] as string, 'base64')),
        OUTPUT_PROTECTION_INFO,
      );
      response.writeHead(200, { 'content-type': 'application/json', 'x-server-public-key': encodeBase64(enc) });
      response.end(JSON.stringify(completionChunk(Buffer.alloc(24).toString('base64'), 'stop')));
    });
    expect((await postJson(`${decrypting.url}/v1/chat/completions`, chatBody())).status).toBe(502);
  });

  it('honours header names changed by configuration', async () => {
    const renamed = await startScriptedUpstream(
      protectedStream(TOKENS, { clientKeyHeader: 'x-my-key', serverKeyHeader: 'x-their-key' }),
    );
    const proxy = await startProxy({
      sgt,
      upstreamUrl: renamed.url,
      protection: { decrypt: true, clientKeyHeader: 'x-my-key', serverKeyHeader: 'x-their-key' },
    });
    try {
      const events = sseDataEvents(
        await (await postJson(`${proxy.url}/v1/chat/completions`, chatBody({ stream: true }))).text(),
      );
      expect(contentOf(events)).toBe(TOKENS.join(''));
      expect(renamed.requests[0]!.headers['x-client-public-key']).toBeUndefined();
    } finally {
      await proxy.close();
      await renamed.close();
    }
  });
});

describe('SGP_OUTPUT_DECRYPTION=false: keys and ciphertext pass through', () => {
  it("forwards the client's key; the client decrypts with the client library", async () => {
    const keys = generateKeyPair();
    const client = new OpenAI({
      baseURL: `${passing.url}/v1`,
      apiKey: 'x',
      maxRetries: 0,
      defaultHeaders: { 'x-client-public-key': publicKeyHeader(keys.publicKey) },
    });
    const { data, response } = await client.chat.completions
      .create({ model: 'up-model', messages: [{ role: 'user', content: 'hi' }], stream: true })
      .withResponse();
    expect(upstream.requests[0]!.headers['x-client-public-key']).toBe(publicKeyHeader(keys.publicKey));
    const decryptor = createResponseDecryptor(response.headers.get('x-server-public-key'), keys.privateKey);
    let ciphertext = '';
    let text = '';
    for await (const chunk of decryptChatStream(
      (async function* () {
        for await (const c of data) {
          ciphertext += c.choices[0]?.delta.content ?? '';
          yield c;
        }
      })(),
      decryptor,
    )) {
      text += chunk.choices[0]?.delta.content ?? '';
    }
    expect(text).toBe(TOKENS.join(''));
    expect(ciphertext).not.toContain('llo');
  });

  it('without a client key, an unprotected upstream answers in plaintext as before', async () => {
    upstream.setBehaviour(streamTokens(['plain', ' text']));
    const response = await postJson(`${passing.url}/v1/chat/completions`, chatBody({ stream: true }));
    expect(contentOf(sseDataEvents(await response.text()))).toBe('plain text');
    expect(upstream.requests[0]!.headers['x-client-public-key']).toBeUndefined();
  });

  it('a malformed client key is a 400 naming the header with its own code, before anything goes upstream', async () => {
    upstream.requests.length = 0;
    const response = await postJson(`${passing.url}/v1/chat/completions`, chatBody(), {
      'x-client-public-key': 'nope',
    });
    expect(response.status).toBe(400);
    const { error } = (await response.json()) as { error: { message: string; code: string; param: string } };
    expect(error).toMatchObject({ code: 'invalid_client_public_key', param: 'x-client-public-key' });
    expect(error.message).toMatch(/x-client-public-key/);
    expect(upstream.requests).toHaveLength(0);
  });
});

describe('key rotation', () => {
  it('rotates after the refresh period, and a request keeps the pair it started with', () => {
    let now = 0;
    const keys = new RotatingKeyPair(1000, () => now);
    const first = keys.current();
    now = 999;
    expect(keys.current()).toBe(first);
    now = 1000;
    const second = keys.current();
    expect(second).not.toBe(first);
    expect(encodeBase64(second.publicKey)).not.toBe(encodeBase64(first.publicKey));
    expect(first.privateKey).toHaveLength(32); // the old pair is still whole for requests holding it
  });
});
