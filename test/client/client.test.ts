import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CLIENT_PUBLIC_KEY_HEADER,
  DecryptionError,
  OUTPUT_PROTECTION_INFO,
  SERVER_PUBLIC_KEY_HEADER,
  clientKeyHeaders,
  createResponseDecryptor,
  decryptChatStream,
  generateKeyPair,
  publicKeyHeader,
  type ChatCompletionChunkLike,
} from '../../src/client/index.js';
import { listen, type RunningServer } from '../../src/http/index.js';
import {
  OutputProtectionRegistry,
  encodeBase64,
  encryptBody,
  sealText,
  setupBaseS,
  type HpkeSenderContext,
} from '../../src/protection/index.js';
import { PIECES, createProtectedGeneratorApp } from '../protection/fake-generator.js';

type Chunk = {
  id: string;
  choices: { index: number; delta: { role?: string; content?: string | null }; finish_reason: string | null }[];
};

function server(publicKey: Uint8Array): { header: string; context: HpkeSenderContext } {
  const { enc, context } = setupBaseS(publicKey, OUTPUT_PROTECTION_INFO);
  return { header: encodeBase64(enc), context };
}

const chunk = (index: number, content: string | null | undefined, role?: string): Chunk => ({
  id: 'c',
  choices: [{ index, delta: role ? { role, content } : { content }, finish_reason: null }],
});

const sealedChunk = (context: HpkeSenderContext, index: number, text: string): Chunk =>
  chunk(index, text === '' ? '' : sealText(context, index, text));

const fullText = Array.from(PIECES).join('');

describe('keys and headers', () => {
  it('generateKeyPair gives 32-byte keys; publicKeyHeader is their padded standard base64', () => {
    const keys = generateKeyPair();
    expect(keys.publicKey).toHaveLength(32);
    expect(keys.privateKey).toHaveLength(32);
    const header = publicKeyHeader(keys.publicKey);
    expect(header).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(header, 'base64')).toEqual(Buffer.from(keys.publicKey));
    expect(clientKeyHeaders(keys.publicKey)).toEqual({ 'x-client-public-key': header });
    expect(clientKeyHeaders(keys.publicKey, 'x-other')).toEqual({ 'x-other': header });
    expect([CLIENT_PUBLIC_KEY_HEADER, SERVER_PUBLIC_KEY_HEADER]).toEqual([
      'x-client-public-key',
      'x-server-public-key',
    ]);
    expect(() => publicKeyHeader(new Uint8Array(31))).toThrow(RangeError);
  });
});

describe('createResponseDecryptor', () => {
  it('decrypts chat chunks in place, in order, leaving empty and null content alone', () => {
    const keys = generateKeyPair();
    const { header, context } = server(keys.publicKey);
    const decryptor = createResponseDecryptor(header, keys.privateKey);
    const role = chunk(0, '', 'assistant');
    expect(decryptor.decryptChatChunk(role)).toBe(role);
    expect(role.choices[0]!.delta).toEqual({ role: 'assistant', content: '' });
    const texts = ['Hé', 'llo', ' 👋🏽'];
    for (const text of texts) {
      const sealed = sealedChunk(context, 0, text);
      expect(decryptor.decryptChatChunk(sealed)).toBe(sealed);
      expect(sealed.choices[0]!.delta.content).toBe(text);
    }
    const last = chunk(0, null);
    decryptor.decryptChatChunk(last);
    expect(last.choices[0]!.delta.content).toBeNull();
    expect(decryptor.decryptedFields).toBe(texts.length);
  });

  it('decrypts a chat.completion and a text_completion body', () => {
    const keys = generateKeyPair();
    const chat = server(keys.publicKey);
    const body = encryptBody(
      {
        choices: [
          { index: 0, message: { role: 'assistant', content: 'bonjour 😀' } },
          { index: 1, message: { role: 'assistant', content: 'salut' } },
        ],
      },
      chat.context,
    );
    createResponseDecryptor(chat.header, keys.privateKey).decryptChatCompletion(body);
    expect(body.choices.map((c) => c.message.content)).toEqual(['bonjour 😀', 'salut']);

    const completion = server(keys.publicKey);
    const completionBody = encryptBody({ choices: [{ index: 0, text: 'plain completion' }] }, completion.context);
    createResponseDecryptor(completion.header, keys.privateKey).decryptCompletion(completionBody);
    expect(completionBody.choices[0]!.text).toBe('plain completion');
  });

  it('a missing or malformed server key header is a DecryptionError up front', () => {
    const keys = generateKeyPair();
    expect(() => createResponseDecryptor(null, keys.privateKey)).toThrow(DecryptionError);
    expect(() => createResponseDecryptor(undefined, keys.privateKey)).toThrow(/x-server-public-key/);
    expect(() => createResponseDecryptor('abcd', keys.privateKey, { serverKeyHeader: 'x-srv' })).toThrow(/x-srv/);
  });

  it('the wrong private key fails on the first field, never yields text', () => {
    const keys = generateKeyPair();
    const { header, context } = server(keys.publicKey);
    const decryptor = createResponseDecryptor(header, generateKeyPair().privateKey);
    expect(() => decryptor.decryptChatChunk(sealedChunk(context, 0, 'secret'))).toThrow(DecryptionError);
  });

  it('after a failure (a dropped chunk) every later call fails, even for an authentic chunk', () => {
    const keys = generateKeyPair();
    const { header, context } = server(keys.publicKey);
    const decryptor = createResponseDecryptor(header, keys.privateKey);
    const [a, b, c] = ['a', 'b', 'c'].map((t) => sealedChunk(context, 0, t));
    decryptor.decryptChatChunk(a!);
    expect(() => decryptor.decryptChatChunk(c!)).toThrow(DecryptionError); // b was dropped
    expect(() => decryptor.decryptChatChunk(b!)).toThrow(/earlier field/);
  });

  it('n=2: a chunk moved to the other choice fails', () => {
    const keys = generateKeyPair();
    const { header, context } = server(keys.publicKey);
    const moved = sealedChunk(context, 1, 'for choice 1');
    moved.choices[0]!.index = 0;
    expect(() => createResponseDecryptor(header, keys.privateKey).decryptChatChunk(moved)).toThrow(DecryptionError);
  });
});

describe('decryptChatStream', () => {
  it('yields decrypted chunks as the source yields them', async () => {
    const keys = generateKeyPair();
    const { header, context } = server(keys.publicKey);
    async function* source(): AsyncGenerator<Chunk> {
      yield chunk(0, '', 'assistant');
      for (const text of ['one ', '', 'two']) yield sealedChunk(context, 0, text);
    }
    let text = '';
    for await (const c of decryptChatStream(source(), createResponseDecryptor(header, keys.privateKey)))
      text += c.choices[0]?.delta.content ?? '';
    expect(text).toBe('one two');
  });

  it('a chunk that does not decrypt ends the iteration with DecryptionError and closes the source', async () => {
    const keys = generateKeyPair();
    const { header, context } = server(keys.publicKey);
    let closed = false;
    async function* source(): AsyncGenerator<Chunk> {
      try {
        yield sealedChunk(context, 0, 'one');
        sealText(context, 0, 'dropped');
        yield sealedChunk(context, 0, 'three');
        yield sealedChunk(context, 0, 'never read');
      } finally {
        closed = true;
      }
    }
    const seen: string[] = [];
    const iterate = async (): Promise<void> => {
      for await (const c of decryptChatStream(source(), createResponseDecryptor(header, keys.privateKey)))
        seen.push(c.choices[0]!.delta.content!);
    };
    await expect(iterate()).rejects.toThrow(DecryptionError);
    expect(seen).toEqual(['one']);
    expect(closed).toBe(true);
  });

  it('accepts any AsyncIterable of chunk-like objects (typing)', () => {
    const typed: (s: AsyncIterable<ChatCompletionChunkLike>) => unknown = (s) =>
      decryptChatStream(
        s,
        createResponseDecryptor(encodeBase64(generateKeyPair().publicKey), generateKeyPair().privateKey),
      );
    expect(typed).toBeTypeOf('function');
  });
});

describe('with the OpenAI SDK against a protected server', () => {
  let running: RunningServer;
  const registry = new OutputProtectionRegistry();
  const keys = generateKeyPair();
  let openai: OpenAI;

  beforeAll(async () => {
    running = await listen(createProtectedGeneratorApp({ mode: 'required', registry }).fetch, '127.0.0.1', 0);
    openai = new OpenAI({
      baseURL: `${running.url}/v1`,
      apiKey: 'unused',
      defaultHeaders: clientKeyHeaders(keys.publicKey),
      maxRetries: 0,
    });
  });
  afterAll(() => running.close());

  it('stream: the header comes with withResponse(), the text decrypts chunk by chunk', async () => {
    const { data, response } = await openai.chat.completions
      .create({ model: 'fake', messages: [{ role: 'user', content: 'hi' }], stream: true, n: 2 })
      .withResponse();
    const decryptor = createResponseDecryptor(response.headers.get(SERVER_PUBLIC_KEY_HEADER), keys.privateKey);
    const texts: string[] = [];
    for await (const c of decryptChatStream(data, decryptor)) {
      for (const choice of c.choices) texts[choice.index] = (texts[choice.index] ?? '') + (choice.delta.content ?? '');
    }
    expect(texts[0]).toBe(fullText);
    expect(texts[1]).toBe(PIECES.map((p) => (p === '' ? '' : `${p}#1`)).join(''));
  });

  it('non-stream: decryptChatCompletion', async () => {
    const { data, response } = await openai.chat.completions
      .create({ model: 'fake', messages: [{ role: 'user', content: 'hi' }] })
      .withResponse();
    expect(data.choices[0]!.message.content).not.toBe(fullText);
    createResponseDecryptor(response.headers.get(SERVER_PUBLIC_KEY_HEADER), keys.privateKey).decryptChatCompletion(
      data,
    );
    expect(data.choices[0]!.message.content).toBe(fullText);
  });

  it('without the key header the SDK gets the 400 naming it', async () => {
    const bare = new OpenAI({ baseURL: `${running.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    await expect(
      bare.chat.completions.create({ model: 'fake', messages: [{ role: 'user', content: 'hi' }] }),
    ).rejects.toMatchObject({
      status: 400,
      param: 'x-client-public-key',
    });
  });
});
