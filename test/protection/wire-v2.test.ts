import { describe, expect, it } from 'vitest';
import {
  DecryptionError,
  OUTPUT_PROTECTION_INFO,
  UnprotectableOutputError,
  chunkOpener,
  chunkSealer,
  decryptBody,
  encryptBody,
  generateKeyPair,
  protectionVersion,
  sealField,
  setupBaseR,
  setupProtectedRecipient,
  setupProtectedSender,
  type HpkeRecipientContext,
  type HpkeSenderContext,
  type ProtectionVersion,
} from '../../src/protection/index.js';

function contexts(version: ProtectionVersion = 2): {
  sender: HpkeSenderContext;
  receiver: (v?: ProtectionVersion) => HpkeRecipientContext;
} {
  const keys = generateKeyPair();
  const { enc, context } = setupProtectedSender(keys.publicKey, version);
  return { sender: context, receiver: (v = version) => setupProtectedRecipient(enc, keys.privateKey, v) };
}

type Json = Record<string, unknown>;

/** A vLLM completions chunk with every v2 field: text, logprobs tokens and alternatives, stop_reason. */
const completionChunk = (index = 0): Json => ({
  id: 'cmpl-1',
  object: 'text_completion',
  created: 1,
  model: 'm',
  choices: [
    {
      index,
      text: ' wörld',
      logprobs: {
        text_offset: [3, 5],
        token_logprobs: [-0.5, -0.25],
        tokens: [' wö', 'rld'],
        top_logprobs: [
          { ' wö': -0.5, ' we': -1.5, '': -9 },
          { rld: -0.25, '1': -3, ['__proto__']: -4 },
        ],
      },
      finish_reason: 'stop',
      stop_reason: '</end>',
    },
  ],
});

/** A vLLM chat chunk with content, reasoning, a tool call and chat-shaped logprobs. */
const chatChunk = (): Json => ({
  id: 'chatcmpl-1',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'm',
  choices: [
    {
      index: 1,
      delta: {
        content: 'Hi 👋',
        reasoning_content: 'think',
        tool_calls: [
          { index: 0, id: 'call-1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"P' } },
          { index: 0, function: { arguments: 'aris"}' } },
        ],
      },
      logprobs: {
        content: [
          {
            token: 'Hi',
            logprob: -0.1,
            bytes: [72, 105],
            top_logprobs: [
              { token: 'Hi', logprob: -0.1, bytes: [72, 105] },
              { token: 'Hé', logprob: -2, bytes: [72, 195, 169] },
            ],
          },
          { token: ' 👋', logprob: -0.2, bytes: [32, 240, 159, 145, 139], top_logprobs: [] },
        ],
      },
      finish_reason: null,
      stop_reason: 7,
    },
  ],
});

/** Every string a v2 chunk must not carry in the clear. */
const GENERATED = [
  ' wörld',
  ' wö',
  'rld',
  ' we',
  '</end>',
  'Hi 👋',
  'think',
  'get_weather',
  'city',
  'aris',
  'Hé',
  '👋',
];

function expectNoPlaintext(sealed: unknown): void {
  const json = JSON.stringify(sealed);
  for (const text of GENERATED) expect(json).not.toContain(JSON.stringify(text).slice(1, -1));
}

describe('wire format v2: round trip of every field', () => {
  it('completions: text, every logprobs token and top_logprobs key, a string stop_reason; numbers unchanged', () => {
    const { sender, receiver } = contexts();
    const plain = completionChunk();
    const sealed = chunkSealer(sender)(plain);
    expect(plain).toEqual(completionChunk()); // the input is not changed
    expectNoPlaintext(sealed);
    const choice = (sealed.choices as Json[])[0] as { logprobs: Json; stop_reason: string };
    expect(choice.logprobs.text_offset).toEqual([3, 5]);
    expect(choice.logprobs.token_logprobs).toEqual([-0.5, -0.25]);
    const top = choice.logprobs.top_logprobs as Array<Record<string, number>>;
    expect(Object.values(top[0]!)).toEqual([-0.5, -1.5, -9]);
    expect(Object.keys(top[0]!)[2]).toBe(''); // an empty token stays empty
    // 1 text + 2 tokens + 2 non-empty keys + 3 keys + 1 stop_reason
    expect(sender.seq).toBe(9);
    const opened = chunkOpener(receiver())(JSON.parse(JSON.stringify(sealed)) as Json);
    expect(opened).toEqual(completionChunk());
  });

  it('chat: content, reasoning, tool-call name and arguments, logprobs tokens; bytes null on the wire, restored', () => {
    const { sender, receiver } = contexts();
    const sealed = chunkSealer(sender)(chatChunk());
    expectNoPlaintext(sealed);
    const logprobs = ((sealed.choices as Json[])[0] as { logprobs: { content: Json[] } }).logprobs;
    expect(logprobs.content[0]!.bytes).toBeNull();
    expect((logprobs.content[0]!.top_logprobs as Json[])[1]!.bytes).toBeNull();
    expect(((sealed.choices as Json[])[0] as Json).stop_reason).toBe(7); // an integer stays a number
    expect(chunkOpener(receiver())(JSON.parse(JSON.stringify(sealed)) as Json)).toEqual(chatChunk());
  });

  it('a whole body with n = 2 sharing one logprobs object: both choices sealed, the input untouched', () => {
    const { sender, receiver } = contexts();
    const shared = (completionChunk().choices as Json[])[0]!.logprobs;
    const body = { choices: [0, 1].map((index) => ({ index, text: 'ab', logprobs: shared, stop_reason: null })) };
    const before = JSON.stringify(body);
    const sealed = encryptBody(body, sender);
    expect(JSON.stringify(body)).toBe(before);
    expectNoPlaintext(sealed);
    expect(decryptBody(JSON.parse(JSON.stringify(sealed)) as typeof body, receiver())).toEqual(JSON.parse(before));
  });

  it('a sealed completions chunk re-shaped into a chat chunk (as the proxy does without the key) still opens', () => {
    const { sender, receiver } = contexts();
    const sealed = chunkSealer(sender)(completionChunk()) as { choices: Array<Json & { logprobs: Json }> };
    const c = sealed.choices[0]!;
    const tokens = c.logprobs.tokens as string[];
    const top = c.logprobs.top_logprobs as Array<Record<string, number>>;
    const chat = {
      choices: [
        {
          index: 0,
          delta: { content: c.text },
          logprobs: {
            content: tokens.map((token, p) => ({
              token,
              logprob: 0,
              bytes: Array.from(Buffer.from(token)), // what a converter without the key fills in
              top_logprobs: Object.entries(top[p]!).map(([t, logprob]) => ({ token: t, logprob, bytes: null })),
            })),
          },
          stop_reason: c.stop_reason,
        },
      ],
    };
    const opened = chunkOpener(receiver())(chat).choices[0]!;
    expect(opened.delta.content).toBe(' wörld');
    expect(opened.logprobs.content.map((e) => e.token)).toEqual([' wö', 'rld']);
    expect(opened.logprobs.content[0]!.bytes).toEqual(Array.from(Buffer.from(' wö')));
    expect(opened.logprobs.content[1]!.top_logprobs.map((e) => e.token)).toEqual(['1', 'rld', '__proto__']);
    expect(opened.stop_reason).toBe('</end>');
  });
});

/** Every sealed string of a chunk, with a setter, in wire order. */
function sealedStrings(value: unknown, out: Array<{ get: () => string; set: (s: string) => void }> = []) {
  if (Array.isArray(value)) value.forEach((v, i) => visit(value as unknown as Json, String(i), v, out));
  else if (value && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) visit(value as Json, k, v, out);
  return out;
}
function visit(parent: Json, key: string, v: unknown, out: Array<{ get: () => string; set: (s: string) => void }>) {
  if (typeof v === 'string' && v.length >= 24 && /^[A-Za-z0-9+/]+=*$/.test(v))
    out.push({ get: () => parent[key] as string, set: (s) => (parent[key] = s) });
  else sealedStrings(v, out);
}

describe('wire format v2: what does not open', () => {
  it('tampering with any one sealed field (values and top_logprobs keys) is a DecryptionError', () => {
    const { sender, receiver } = contexts();
    const template = JSON.stringify(chunkSealer(sender)(completionChunk()));
    const fields = sealedStrings(JSON.parse(template)).length;
    expect(fields).toBe(4); // text, 2 tokens, stop_reason; the top_logprobs keys are checked below
    for (let f = 0; f < fields; f++) {
      const copy = JSON.parse(template) as Json;
      const field = sealedStrings(copy)[f]!;
      const bytes = Buffer.from(field.get(), 'base64');
      bytes[0]! ^= 1;
      field.set(bytes.toString('base64'));
      expect(() => chunkOpener(receiver())(copy)).toThrow(DecryptionError);
    }
    const copy = JSON.parse(template) as {
      choices: Array<{ logprobs: { top_logprobs: Array<Record<string, number>> } }>;
    };
    const top = copy.choices[0]!.logprobs.top_logprobs;
    const [first, ...rest] = Object.entries(top[1]!);
    const tampered = Buffer.from(first![0], 'base64');
    tampered[3]! ^= 4;
    top[1] = Object.fromEntries([[tampered.toString('base64'), first![1]], ...rest]);
    expect(() => chunkOpener(receiver())(copy)).toThrow(DecryptionError);
  });

  it('reordering the alternatives of one position is a DecryptionError', () => {
    const { sender, receiver } = contexts();
    const sealed = chunkSealer(sender)(completionChunk()) as {
      choices: Array<{ logprobs: { top_logprobs: Array<Record<string, number>> } }>;
    };
    const top = sealed.choices[0]!.logprobs.top_logprobs;
    top[1] = Object.fromEntries(Object.entries(top[1]!).reverse());
    expect(() => chunkOpener(receiver())(sealed)).toThrow(DecryptionError);
  });

  it('a ciphertext moved into a field of another kind does not open, even at the right sequence number', () => {
    for (const [tag, into] of [
      ['token', 'text'],
      ['text', 'stop_reason'],
      ['top_token', 'token'],
      ['tool_arguments', 'reasoning'],
    ] as const) {
      const { sender, receiver } = contexts();
      const ciphertext = sealField(sender, 0, tag, 'moved'); // seq 0, like the first field below
      const chunk =
        into === 'text'
          ? { choices: [{ index: 0, text: ciphertext }] }
          : into === 'stop_reason'
            ? { choices: [{ index: 0, text: '', stop_reason: ciphertext }] }
            : into === 'token'
              ? { choices: [{ index: 0, text: '', logprobs: { tokens: [ciphertext], top_logprobs: [] } }] }
              : { choices: [{ index: 0, delta: { reasoning_content: ciphertext } }] };
      expect(() => chunkOpener(receiver())(chunk), `${tag} → ${into}`).toThrow(/tampered|moved/);
    }
  });

  it('a ciphertext moved to another choice does not open', () => {
    const { sender, receiver } = contexts();
    const sealed = chunkSealer(sender)(completionChunk(0)) as { choices: Json[] };
    sealed.choices[0]!.index = 1;
    expect(() => chunkOpener(receiver())(sealed)).toThrow(DecryptionError);
  });

  it('a v2 answer opened as v1 (or the other way round) fails on the first field', () => {
    const { sender, receiver } = contexts(2);
    const sealed = chunkSealer(sender)({ choices: [{ index: 0, text: 'hello' }] });
    expect(() => chunkOpener(receiver(1))(sealed)).toThrow(DecryptionError);
    const v1 = contexts(1);
    const sealedV1 = chunkSealer(v1.sender)({ choices: [{ index: 0, text: 'hello' }] });
    expect(() => chunkOpener(v1.receiver(2))(sealedV1)).toThrow(DecryptionError);
  });
});

describe('v1 stays v1', () => {
  it('a plain v1 context (OUTPUT_PROTECTION_INFO) seals text-only answers exactly as before, and opens them', () => {
    const keys = generateKeyPair();
    const { enc, context } = setupProtectedSender(keys.publicKey, 1);
    expect(protectionVersion(context)).toBe(1);
    const sealed = chunkSealer(context)({ choices: [{ index: 0, text: 'Hé', stop_reason: '</end>' }] });
    expect(sealed.choices[0]!.stop_reason).toBe('</end>'); // v1 never had a field for it
    // A v1 peer: setupBaseR with v1's info, no knowledge of v2.
    const v1Client = setupBaseR(enc, keys.privateKey, OUTPUT_PROTECTION_INFO);
    expect(chunkOpener(v1Client)(sealed).choices[0]!.text).toBe('Hé');
  });

  it('a v1 sealer refuses an answer with logprobs, tool calls or reasoning rather than send them in the clear', () => {
    const { sender } = contexts(1);
    const seal = chunkSealer(sender);
    expect(() => seal(completionChunk())).toThrow(UnprotectableOutputError);
    expect(() => seal(chatChunk())).toThrow(/logprobs/);
    expect(() => seal({ choices: [{ index: 0, delta: { reasoning_content: 'x' } }] })).toThrow(/reasoning_content/);
    expect(() => seal({ choices: [{ index: 0, message: { tool_calls: [{}] } }] })).toThrow(/tool_calls/);
    expect(sender.seq).toBe(0); // refused before anything was sealed
    expect(seal({ choices: [{ index: 0, text: 'ok', logprobs: null }] }).choices[0]!.text).not.toBe('ok');
  });
});
