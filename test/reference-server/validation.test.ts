import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodePromptEmbeds } from '../../src/embeds/index.js';
import {
  FAKE_HIDDEN,
  FAKE_MAX_MODEL_LEN,
  FAKE_MODEL,
  FAKE_VOCAB,
  TARGET_KINDS,
  oneHotEmbeds,
  postJson,
  startHarness,
  type Harness,
} from './helpers.js';

interface Envelope {
  error: { message: string; type: string; param: string | null; code: number };
}

interface Case {
  name: string;
  init: () => RequestInit;
  status: number;
  type: string;
  param: string | null;
  message: string | RegExp;
}

const embeds3 = (): string => oneHotEmbeds([0, 1, 2]);
const withEmbeds = (extra: Record<string, unknown>): RequestInit =>
  postJson({ model: FAKE_MODEL, prompt_embeds: embeds3(), ...extra });
const tensor = (shape: number[]): string =>
  encodePromptEmbeds(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape, 'float32');

const CASES: Case[] = [
  {
    name: 'invalid JSON',
    init: () => postJson('{"model": '),
    status: 400,
    type: 'Bad Request',
    param: null,
    message: /^JSON decode error/,
  },
  {
    name: 'a content type other than JSON',
    init: () => ({ method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}' }),
    status: 400,
    type: 'Bad Request',
    param: null,
    message: "Unsupported Media Type: Only 'application/json' is allowed",
  },
  {
    name: 'a body that is not an object',
    init: () => postJson([1, 2]),
    status: 400,
    type: 'Bad Request',
    param: null,
    message: /expected object/,
  },
  {
    name: 'a mistyped field',
    init: () => withEmbeds({ max_tokens: 'ten' }),
    status: 400,
    type: 'Bad Request',
    param: 'max_tokens',
    message: /^max_tokens: /,
  },
  {
    name: 'no prompt and no prompt_embeds',
    init: () => postJson({ model: FAKE_MODEL }),
    status: 400,
    type: 'Bad Request',
    param: 'prompt',
    message: 'Either prompt or prompt_embeds must be provided and non-empty. (parameter=prompt)',
  },
  {
    name: 'stream_options without stream',
    init: () => withEmbeds({ stream_options: { include_usage: true } }),
    status: 400,
    type: 'Bad Request',
    param: 'stream_options',
    message: 'Stream options can only be defined when `stream=True`. (parameter=stream_options)',
  },
  {
    name: 'an unknown model',
    init: () => withEmbeds({ model: 'nope/none' }),
    status: 404,
    type: 'NotFoundError',
    param: 'model',
    message: 'The model `nope/none` does not exist.',
  },
  {
    name: 'echo with a text prompt',
    init: () => postJson({ prompt: 'Hello', echo: true }),
    status: 400,
    type: 'BadRequestError',
    param: 'echo',
    message: /does not echo prompts/,
  },
  {
    name: 'prompt_logprobs with a text prompt',
    init: () => postJson({ prompt: 'Hello', prompt_logprobs: 1 }),
    status: 400,
    type: 'BadRequestError',
    param: 'prompt_logprobs',
    message: /does not compute prompt logprobs/,
  },
  {
    name: 'an empty list of prompts',
    init: () => postJson({ prompt: [] }),
    status: 400,
    type: 'BadRequestError',
    param: 'prompt',
    message: 'please provide at least one prompt',
  },
  {
    name: 'an empty token prompt in a list',
    init: () => postJson({ prompt: [[72], []] }),
    status: 400,
    type: 'BadRequestError',
    param: 'prompt',
    message: 'The decoder prompt cannot be empty',
  },
  {
    name: 'a token id beyond the vocabulary',
    init: () => postJson({ prompt: [72, FAKE_VOCAB] }),
    status: 400,
    type: 'BadRequestError',
    param: 'prompt',
    message: `Token id ${FAKE_VOCAB} is out of vocabulary`,
  },
  {
    name: 'a text prompt that does not fit beside max_tokens',
    init: () => withEmbeds({ prompt: 'x'.repeat(FAKE_MAX_MODEL_LEN - 9), max_tokens: 10 }),
    status: 400,
    type: 'BadRequestError',
    param: 'input_tokens',
    message: /^You passed 55 input tokens and requested 10 output tokens/,
  },
  {
    name: 'echo with prompt embeds',
    init: () => withEmbeds({ echo: true }),
    status: 400,
    type: 'BadRequestError',
    param: null,
    message: 'Echo is unsupported with prompt embeds.',
  },
  {
    name: 'prompt_logprobs with prompt embeds',
    init: () => withEmbeds({ prompt_logprobs: 1 }),
    status: 400,
    type: 'BadRequestError',
    param: null,
    message: 'prompt_logprobs is not compatible with prompt embeds.',
  },
  {
    name: 'suffix',
    init: () => withEmbeds({ suffix: 'x' }),
    status: 400,
    type: 'BadRequestError',
    param: null,
    message: 'suffix is not currently supported',
  },
  {
    name: 'more logprobs than --max-logprobs',
    init: () => withEmbeds({ logprobs: 21 }),
    status: 400,
    type: 'BadRequestError',
    param: 'logprobs',
    message: 'Requested sample logprobs of 21, which is greater than max allowed: 20 (parameter=logprobs, value=21)',
  },
  {
    name: 'logprobs -1 (the whole vocabulary)',
    init: () => withEmbeds({ logprobs: -1 }),
    status: 400,
    type: 'BadRequestError',
    param: 'logprobs',
    message: `Requested sample logprobs of ${FAKE_VOCAB}, which is greater than max allowed: 20 (parameter=logprobs, value=${FAKE_VOCAB})`,
  },
  {
    name: 'an empty stop string',
    init: () => withEmbeds({ stop: ['done', ''] }),
    status: 400,
    type: 'BadRequestError',
    param: 'stop',
    message: 'stop cannot contain an empty string.',
  },
  {
    name: 'a null include_stop_str_in_output',
    init: () => withEmbeds({ include_stop_str_in_output: null }),
    status: 400,
    type: 'Bad Request',
    param: 'include_stop_str_in_output',
    message: /^include_stop_str_in_output: /,
  },
  {
    name: 'a bad tensor among several',
    init: () => withEmbeds({ prompt_embeds: [embeds3(), 'not base64!'] }),
    status: 400,
    type: 'BadRequestError',
    param: 'prompt_embeds',
    message: /not valid base64/,
  },
  {
    name: 'bad base64',
    init: () => withEmbeds({ prompt_embeds: 'not base64!' }),
    status: 400,
    type: 'BadRequestError',
    param: 'prompt_embeds',
    message: /not valid base64/,
  },
  {
    name: 'base64 that is not a torch file',
    init: () => withEmbeds({ prompt_embeds: Buffer.from('hello, this is not a zip archive').toString('base64') }),
    status: 400,
    type: 'BadRequestError',
    param: 'prompt_embeds',
    message: /\S/,
  },
  {
    name: 'the wrong hidden size',
    init: () => withEmbeds({ prompt_embeds: tensor([3, FAKE_HIDDEN - 1]) }),
    status: 400,
    type: 'BadRequestError',
    param: 'prompt_embeds',
    message: `\`prompt_embeds\` hidden_size ${FAKE_HIDDEN - 1} does not match the model's hidden_size ${FAKE_HIDDEN}. (parameter=prompt_embeds)`,
  },
  {
    name: 'a rank-1 tensor',
    init: () => withEmbeds({ prompt_embeds: tensor([FAKE_HIDDEN]) }),
    status: 400,
    type: 'BadRequestError',
    param: 'prompt_embeds',
    message: `\`prompt_embeds\` must be a 2D tensor of shape (num_tokens, hidden_size); got shape (${FAKE_HIDDEN},). (parameter=prompt_embeds)`,
  },
  {
    name: 'a rank-3 tensor whose first dimension is not 1',
    init: () => withEmbeds({ prompt_embeds: tensor([2, 1, FAKE_HIDDEN]) }),
    status: 400,
    type: 'BadRequestError',
    param: 'prompt_embeds',
    message: /got shape \(2, 1, 4\)/,
  },
  {
    name: 'max_tokens 0',
    init: () => withEmbeds({ max_tokens: 0 }),
    status: 400,
    type: 'BadRequestError',
    param: 'max_tokens',
    message: 'max_tokens must be at least 1, got 0. (parameter=max_tokens, value=0)',
  },
  {
    name: 'max_tokens over max_model_len',
    init: () => withEmbeds({ max_tokens: FAKE_MAX_MODEL_LEN + 1 }),
    status: 400,
    type: 'BadRequestError',
    param: 'max_tokens',
    message: /^max_tokens=65 cannot be greater than max_model_len=64/,
  },
  {
    name: 'prompt plus max_tokens over max_model_len',
    init: () => withEmbeds({ max_tokens: FAKE_MAX_MODEL_LEN - 2 }),
    status: 400,
    type: 'BadRequestError',
    param: 'input_tokens',
    message:
      "You passed 3 input tokens and requested 62 output tokens. However, the model's context length is only 64 tokens, " +
      'resulting in a maximum input length of 2 tokens. Please reduce the length of the input prompt. (parameter=input_tokens, value=3)',
  },
  {
    name: 'a negative temperature',
    init: () => withEmbeds({ temperature: -1 }),
    status: 400,
    type: 'BadRequestError',
    param: 'temperature',
    message: 'temperature must be non-negative, got -1.0. (parameter=temperature, value=-1.0)',
  },
  {
    name: 'top_p 0',
    init: () => withEmbeds({ top_p: 0 }),
    status: 400,
    type: 'BadRequestError',
    param: 'top_p',
    message: /^top_p must be in \(0, 1\], got 0\.0\./,
  },
  {
    name: 'n 0',
    init: () => withEmbeds({ n: 0 }),
    status: 400,
    type: 'BadRequestError',
    param: 'n',
    message: /^n must be at least 1, got 0\./,
  },
  {
    name: 'a presence penalty out of range',
    init: () => withEmbeds({ presence_penalty: 2.5 }),
    status: 400,
    type: 'BadRequestError',
    param: 'presence_penalty',
    message: /^presence_penalty must be in \[-2, 2\], got 2\.5\./,
  },
  {
    name: 'a body over the limit',
    init: () => withEmbeds({ padding: 'x'.repeat(4096) }),
    status: 413,
    type: 'Request Entity Too Large',
    param: null,
    message: 'Request body is larger than the limit of 2048 bytes.',
  },
];

describe.each(TARGET_KINDS)('reference server validation (%s)', (kind) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(kind, { maxBodyBytes: 2048 });
  });
  afterAll(async () => h.target.close());

  it.each(CASES)('rejects $name', async ({ init, status, type, param, message }) => {
    const response = await h.target.send('/v1/completions', init());
    expect(response.status).toBe(status);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(response.headers.get('x-request-id')).toBeTruthy();
    const body = (await response.json()) as Envelope;
    expect(Object.keys(body)).toEqual(['error']);
    expect(body.error).toMatchObject({ type, param, code: status });
    if (typeof message === 'string') expect(body.error.message).toBe(message);
    else expect(body.error.message).toMatch(message);
    expect(h.ends.events).toEqual([]);
  });

  it('answers an unknown route with a vLLM 404 envelope', async () => {
    const response = await h.target.send('/v1/nothing-here');
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({
      error: { message: 'Not Found', type: 'Not Found', param: null, code: 404 },
    });
  });
});

describe('reference server body limit on a chunked body (in-process)', () => {
  it('stops reading a body without content-length once it passes the limit', async () => {
    const h = await startHarness('in-process', { maxBodyBytes: 2048 });
    let pulled = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled += 1;
        if (pulled > 100) controller.close();
        else controller.enqueue(new Uint8Array(1024).fill(0x20));
      },
    });
    // `duplex` is required by Node for a streamed request body but missing from the DOM typings.
    const init = {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      duplex: 'half',
    } as RequestInit;
    const response = await h.target.send('/v1/completions', init);
    expect(response.status).toBe(413);
    expect(pulled).toBeLessThan(10);
  });
});
