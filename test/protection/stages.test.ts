import { describe, expect, it } from 'vitest';
import {
  DecryptionError,
  OUTPUT_PROTECTION_INFO,
  chunkOpener,
  decryptBody,
  encryptBody,
  encryptChunks,
  generateKeyPair,
  setupBaseR,
  setupBaseS,
  type HpkeRecipientContext,
  type HpkeSenderContext,
} from '../../src/protection/index.js';
import { chatStreamBody } from '../support/chat-stream.js';
import { type ChatCompletion, type ChatCompletionChunk, type CompletionChunk } from '../../src/stream/index.js';
import { collect, collectText, sseDataEvents, streamOf } from '../support/streams.js';

function contexts(): { sender: HpkeSenderContext; receiver: () => HpkeRecipientContext } {
  const keys = generateKeyPair();
  const { enc, context } = setupBaseS(keys.publicKey, OUTPUT_PROTECTION_INFO);
  return { sender: context, receiver: () => setupBaseR(enc, keys.privateKey, OUTPUT_PROTECTION_INFO) };
}

const completion = (text: string, index = 0, finish: string | null = null): CompletionChunk => ({
  id: 'cmpl-1',
  created: 1,
  model: 'm',
  choices: [{ index, text, finish_reason: finish }],
});

const chat = (choices: ChatCompletionChunk['choices']): ChatCompletionChunk => ({
  id: 'chatcmpl-1',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'm',
  choices,
});

const delta = (
  index: number,
  content: string | undefined,
  role?: 'assistant',
): ChatCompletionChunk['choices'][number] => ({
  index,
  delta: role ? { role, content: content ?? '' } : { content },
  logprobs: null,
  finish_reason: null,
});

const TEXTS = ['Hé', 'llo', '', ' 👋🏽', ' 世界', '', '!'];

/** The proxy's per-chunk decryption, as a stage so the tests read like the encrypting side's. */
function decryptChunks<T>(context: HpkeRecipientContext): TransformStream<T, T> {
  const open = chunkOpener(context);
  return new TransformStream({ transform: (chunk, controller) => controller.enqueue(open(chunk)) });
}

async function through<T>(items: T[], stage: TransformStream<T, T>): Promise<T[]> {
  return collect(streamOf(items).pipeThrough(stage));
}

describe('encryptChunks / decryptChunks on completions chunks', () => {
  it('encrypts every non-empty text, keeps empty ones, and decrypts them back in order', async () => {
    const { sender, receiver } = contexts();
    const plain = TEXTS.map((t, i) => completion(t, 0, i === TEXTS.length - 1 ? 'stop' : null));
    const sealed = await through(plain, encryptChunks(sender));
    expect(sender.seq).toBe(TEXTS.filter((t) => t !== '').length);
    sealed.forEach((chunk, i) => {
      const text = chunk.choices[0]!.text;
      if (TEXTS[i] === '') expect(text).toBe('');
      else expect(Buffer.from(text, 'base64').length).toBe(Buffer.byteLength(TEXTS[i]!) + 16);
      expect(chunk.choices[0]!.finish_reason).toBe(plain[i]!.choices[0]!.finish_reason);
    });
    expect(plain.map((c) => c.choices[0]!.text)).toEqual(TEXTS); // the input objects are not mutated
    const opened = await through(sealed, decryptChunks(receiver()));
    expect(opened).toEqual(plain);
  });

  it('passes usage chunks (choices: []) and chunks without choices through', async () => {
    const { sender, receiver } = contexts();
    const usage = {
      id: 'c',
      created: 1,
      model: 'm',
      choices: [],
      usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
    };
    const items: object[] = [completion('a'), usage, { object: 'other' }];
    const sealed = await through(items, encryptChunks(sender));
    expect(sealed[1]).toBe(usage);
    expect(sealed[2]).toEqual({ object: 'other' });
    expect(await through(sealed, decryptChunks(receiver()))).toEqual(items);
  });

  it('n=2: one sequence across choices in emission order, the aad binds each ciphertext to its index', async () => {
    const { sender, receiver } = contexts();
    const plain = [
      completion('A0', 0),
      completion('B0', 1),
      completion('', 0),
      completion('B1', 1),
      completion('A1', 0),
    ];
    const sealed = await through(plain, encryptChunks(sender));
    expect(await through(sealed, decryptChunks(receiver()))).toEqual(plain);

    // The same ciphertext presented as the other choice's, at its own position, does not open.
    const swapped = sealed.map((c) => structuredClone(c));
    swapped[1]!.choices[0]!.index = 0;
    await expect(through(swapped, decryptChunks(receiver()))).rejects.toThrow(DecryptionError);
  });

  it('several choices in one chunk are sealed in array order', async () => {
    const { sender, receiver } = contexts();
    const chunk: CompletionChunk = {
      id: 'c',
      created: 1,
      model: 'm',
      choices: [
        { index: 1, text: 'second-index first', finish_reason: null },
        { index: 0, text: 'then index 0', finish_reason: null },
      ],
    };
    const [sealed] = await through([chunk], encryptChunks(sender));
    const [opened] = await through([sealed!], decryptChunks(receiver()));
    expect(opened).toEqual(chunk);
    const reversed = { ...sealed!, choices: [...sealed!.choices].reverse() };
    await expect(through([reversed], decryptChunks(receiver()))).rejects.toThrow(DecryptionError);
  });

  const tamper = (s: CompletionChunk[]): CompletionChunk[] => {
    const c = structuredClone(s);
    const bytes = Buffer.from(c[1]!.choices[0]!.text, 'base64');
    bytes[0]! ^= 1;
    c[1]!.choices[0]!.text = bytes.toString('base64');
    return c;
  };
  it.each([
    ['tampered', tamper, ['one']],
    ['reordered', (s: CompletionChunk[]) => [s[0]!, s[3]!, s[1]!, s[2]!], ['one']],
    ['dropped', (s: CompletionChunk[]) => [s[0]!, s[2]!, s[3]!], ['one']],
    ['replayed', (s: CompletionChunk[]) => [s[0]!, s[1]!, s[1]!, s[2]!], ['one', 'two']],
    ['replaced by plaintext', (s: CompletionChunk[]) => [s[0]!, completion('injected'), s[2]!], ['one']],
  ])('%s: the stream errors with DecryptionError after the last authentic chunk', async (_name, mangle, authentic) => {
    const { sender, receiver } = contexts();
    const sealed = await through(
      ['one', 'two', 'three', 'four'].map((t) => completion(t)),
      encryptChunks(sender),
    );
    const reader = streamOf(mangle(sealed)).pipeThrough(decryptChunks(receiver())).getReader();
    for (const text of authentic) expect((await reader.read()).value?.choices[0]?.text).toBe(text);
    await expect(reader.read()).rejects.toThrow(DecryptionError);
  });
});

describe('encryptChunks / decryptChunks on chat chunks', () => {
  it('encrypts delta.content, leaves the role chunk and finish chunk alone, round-trips', async () => {
    const { sender, receiver } = contexts();
    const plain = [
      chat([delta(0, '', 'assistant')]),
      chat([delta(0, 'Hi')]),
      chat([delta(0, ' 世界')]),
      chat([{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }]),
    ];
    const sealed = await through(plain, encryptChunks(sender));
    expect(sealed[0]).toEqual(plain[0]);
    expect(sealed[1]!.choices[0]!.delta.content).not.toBe('Hi');
    expect(sealed[3]).toEqual(plain[3]);
    expect(sender.seq).toBe(2);
    expect(await through(sealed, decryptChunks(receiver()))).toEqual(plain);
  });

  it('n=2 chat chunks', async () => {
    const { sender, receiver } = contexts();
    const plain = [
      chat([delta(0, '', 'assistant')]),
      chat([delta(1, '', 'assistant')]),
      chat([delta(0, 'zero')]),
      chat([delta(1, 'one')]),
    ];
    const sealed = await through(plain, encryptChunks(sender));
    expect(await through(sealed, decryptChunks(receiver()))).toEqual(plain);
  });
});

describe('encryptBody / decryptBody', () => {
  it('completions body with n=2, empty text kept', () => {
    const { sender, receiver } = contexts();
    const body: CompletionChunk = {
      id: 'c',
      created: 1,
      model: 'm',
      choices: [
        { index: 0, text: 'first answer', finish_reason: 'length' },
        { index: 1, text: '', finish_reason: 'stop' },
        { index: 2, text: 'third', finish_reason: 'stop' },
      ],
      usage: { prompt_tokens: 1, completion_tokens: 3, total_tokens: 4 },
    };
    const sealed = encryptBody(body, sender);
    expect(sealed.choices[1]!.text).toBe('');
    expect(sealed.usage).toEqual(body.usage);
    expect(sender.seq).toBe(2);
    expect(decryptBody(sealed, receiver())).toEqual(body);
  });

  it('chat body (message.content), and a tampered one fails', () => {
    const { sender, receiver } = contexts();
    const body: ChatCompletion = {
      id: 'x',
      object: 'chat.completion',
      created: 1,
      model: 'm',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'réponse 😀', refusal: null },
          logprobs: null,
          finish_reason: 'stop',
        },
      ],
    };
    const sealed = encryptBody(body, sender);
    expect(sealed.choices[0]!.message.role).toBe('assistant');
    expect(decryptBody(sealed, receiver())).toEqual(body);
    const tampered = structuredClone(sealed);
    tampered.choices[0]!.message.content = Buffer.from('x'.repeat(20)).toString('base64');
    expect(() => decryptBody(tampered, receiver())).toThrow(DecryptionError);
  });
});

describe('in the proxy pipeline: upstream completion events → decrypt → completion→chat → SSE', () => {
  function sse(chunks: CompletionChunk[]): Uint8Array {
    return new TextEncoder().encode(
      [...chunks.map((c) => `data: ${JSON.stringify(c)}`), 'data: [DONE]', ''].join('\n\n'),
    );
  }

  /** The route's own chain, decryption included. */
  function pipeline(body: Uint8Array, receiver: HpkeRecipientContext): ReadableStream<Uint8Array> {
    return chatStreamBody(streamOf([body]), {
      id: 'chatcmpl-x',
      model: 'client-model',
      includeUsage: false,
      recipient: receiver,
      keepAliveIntervalMs: 60_000,
      maxUpstreamEventBytes: 1024 * 1024,
    }).stream;
  }

  it('delivers the plaintext to the chat client', async () => {
    const { sender, receiver } = contexts();
    const sealed = await through(
      [completion('He'), completion(''), completion('llo 👋🏽'), completion('', 0, 'stop')],
      encryptChunks(sender),
    );
    const events = sseDataEvents(await collectText(pipeline(sse(sealed), receiver())));
    const text = events
      .filter((e) => e !== '[DONE]')
      .map((e) => (JSON.parse(e) as ChatCompletionChunk).choices[0]?.delta.content ?? '')
      .join('');
    expect(text).toBe('Hello 👋🏽');
    expect(events.at(-1)).toBe('[DONE]');
  });

  it('a dropped upstream event ends the chat stream with one error event, then [DONE]', async () => {
    const { sender, receiver } = contexts();
    const sealed = await through(
      ['a', 'b', 'c'].map((t) => completion(t)),
      encryptChunks(sender),
    );
    const events = sseDataEvents(await collectText(pipeline(sse([sealed[0]!, sealed[2]!]), receiver())));
    const error = JSON.parse(events.at(-2)!) as { error: { code: string; type: string; message: string } };
    expect(error.error).toMatchObject({ code: 'output_decryption_failed', type: 'upstream_error' });
    expect(events.at(-1)).toBe('[DONE]');
    expect(events.some((e) => e.includes('"c"'))).toBe(false);
  });
});
