import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { createDecryptingFetch, generateKeyPair } from '../../src/client/index.js';
import { chunkSealer, encodeBase64, parseClientPublicKey, setupProtectedSender } from '../../src/protection/index.js';

/**
 * createDecryptingFetch against a fake pass-through proxy that seals chat chunks for whatever key
 * the request carries: what the SDK sees when everything opens, and when something does not.
 */

type Tamper = (sealed: Record<string, unknown>[]) => void;

interface FakeOptions {
  chunks: Record<string, unknown>[];
  tamper?: Tamper;
  /** Leave out the server key header (an upstream that did not encrypt). */
  unprotected?: boolean;
  /** End the stream without [DONE]. */
  truncate?: boolean;
  /** Keep the body open after the chunks (for abort). */
  hang?: boolean;
  seen?: Request[];
}

const chatChunk = (content: string, finish: string | null = null) => ({
  id: 'c',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'm',
  choices: [{ index: 0, delta: { content }, logprobs: null, finish_reason: finish }],
});

function fakeProxy(options: FakeOptions): typeof globalThis.fetch {
  return async (input, init) => {
    const request = new Request(input, init);
    options.seen?.push(request);
    const key = parseClientPublicKey(request.headers.get('x-client-public-key'), 'x-client-public-key');
    const { enc, context } = setupProtectedSender(key, 2);
    const seal = chunkSealer(context);
    const sealed = options.chunks.map((chunk) => seal(structuredClone(chunk)));
    options.tamper?.(sealed);
    const text = sealed.map((chunk) => `data: ${JSON.stringify(chunk)}\n\n`).join('');
    const headers: Record<string, string> = { 'content-type': 'text/event-stream' };
    if (!options.unprotected) {
      headers['x-server-public-key'] = encodeBase64(enc);
      headers['x-output-protection-version'] = '2';
    }
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(
          new TextEncoder().encode(text + (options.truncate || options.hang ? '' : 'data: [DONE]\n\n')),
        );
        if (!options.hang) controller.close();
      },
    });
    return new Response(body, { status: 200, headers });
  };
}

const sdk = (fake: typeof globalThis.fetch) =>
  new OpenAI({
    baseURL: 'http://proxy.invalid/v1',
    apiKey: 'x',
    maxRetries: 0,
    fetch: createDecryptingFetch({ fetch: fake, keyPair: generateKeyPair() }),
  });

const ask = { model: 'm', messages: [{ role: 'user' as const, content: 'hi' }], stream: true as const };

async function streamedText(client: OpenAI, signal?: AbortSignal): Promise<string> {
  let text = '';
  for await (const chunk of await client.chat.completions.create(ask, { signal }))
    text += chunk.choices[0]?.delta.content ?? '';
  return text;
}

const flip = (value: string): string => {
  const bytes = Buffer.from(value, 'base64');
  bytes[0]! ^= 1;
  return bytes.toString('base64');
};

describe('createDecryptingFetch', () => {
  it('adds the key and asks for v2; the SDK reads plaintext', async () => {
    const seen: Request[] = [];
    const fake = fakeProxy({ chunks: [chatChunk('Hé'), chatChunk(' wörld', 'stop')], seen });
    expect(await streamedText(sdk(fake))).toBe('Hé wörld');
    expect(seen[0]!.headers.get('x-output-protection-version')).toBe('2');
    expect(seen[0]!.headers.get('x-client-public-key')).toMatch(/^[A-Za-z0-9+/]{43}=$/);
  });

  it('a tampered chunk: the SDK raises an API error (output_decryption_failed), no text after it', async () => {
    const tamper: Tamper = (sealed) => {
      const choice = (sealed[1]!.choices as { delta: { content: string } }[])[0]!;
      choice.delta.content = flip(choice.delta.content);
    };
    const fake = fakeProxy({ chunks: [chatChunk('a'), chatChunk('b'), chatChunk('c', 'stop')], tamper });
    let text = '';
    const read = async () => {
      for await (const chunk of await sdk(fake).chat.completions.create(ask))
        text += chunk.choices[0]?.delta.content ?? '';
    };
    await expect(read()).rejects.toMatchObject({ code: 'output_decryption_failed' });
    expect(text).toBe('a');
  });

  it('a tampered whole body: a 502 the SDK raises, not a wrong answer', async () => {
    const fake: typeof globalThis.fetch = async (input, init) => {
      const request = new Request(input, init);
      const key = parseClientPublicKey(request.headers.get('x-client-public-key'), 'x-client-public-key');
      const { enc, context } = setupProtectedSender(key, 2);
      const body = chunkSealer(context)({
        id: 'c',
        object: 'chat.completion',
        created: 1,
        model: 'm',
        choices: [
          { index: 0, message: { role: 'assistant', content: 'secret' }, logprobs: null, finish_reason: 'stop' },
        ],
      });
      body.choices[0]!.message.content = flip(body.choices[0]!.message.content);
      return Response.json(body, {
        headers: { 'x-server-public-key': encodeBase64(enc), 'x-output-protection-version': '2' },
      });
    };
    const create = sdk(fake).chat.completions.create({ ...ask, stream: false });
    await expect(create).rejects.toMatchObject({ status: 502, code: 'output_decryption_failed' });
  });

  it('an answer without the server key header is refused (missing_server_public_key)', async () => {
    const fake = fakeProxy({ chunks: [chatChunk('plain', 'stop')], unprotected: true });
    await expect(streamedText(sdk(fake))).rejects.toMatchObject({ status: 502, code: 'missing_server_public_key' });
  });

  it('a stream cut before [DONE] is an error, not a finished answer', async () => {
    const fake = fakeProxy({ chunks: [chatChunk('part')], truncate: true });
    await expect(streamedText(sdk(fake))).rejects.toMatchObject({ code: 'upstream_truncated' });
  });

  it('abort propagates: the signal reaches the inner fetch, and cancelling the body cancels the answer', async () => {
    let innerSignal: AbortSignal | undefined;
    let cancelled!: () => void;
    const bodyCancelled = new Promise<void>((resolve) => (cancelled = resolve));
    const fake: typeof globalThis.fetch = async (input, init) => {
      innerSignal = init?.signal ?? undefined;
      const response = await fakeProxy({ chunks: [chatChunk('first')], hang: true })(input, init);
      const reader = response.body!.getReader();
      const body = new ReadableStream<Uint8Array>({
        pull: async (c) => {
          const { value, done } = await reader.read();
          if (done) c.close();
          else c.enqueue(value);
        },
        cancel: () => cancelled(),
      });
      return new Response(body, { status: 200, headers: response.headers });
    };
    const controller = new AbortController();
    const response = await createDecryptingFetch({ fetch: fake })('http://proxy.invalid/v1/chat/completions', {
      method: 'POST',
      body: JSON.stringify(ask),
      signal: controller.signal,
    });
    const reader = response.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(first).toContain('"content":"first"');
    controller.abort();
    expect(innerSignal?.aborted).toBe(true);
    await reader.cancel();
    await bodyCancelled;
  });

  it('other routes pass through untouched, without the key', async () => {
    const seen: Request[] = [];
    const fake: typeof globalThis.fetch = async (input, init) => {
      seen.push(new Request(input, init));
      return Response.json({ object: 'list', data: [] });
    };
    await sdk(fake).models.list();
    expect(seen[0]!.headers.get('x-client-public-key')).toBeNull();
  });
});
